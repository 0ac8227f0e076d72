/**
 * A set of backup locations: what each is (a store URL, a role, its retention, class and lock)
 * and the rules a set must follow (known scheme, unique names, exactly one primary, retention
 * no shorter than a lock). The same rules hold in `lifeboat.locations` (its trigger); this
 * module checks a set however it was given (the table, a JSON file for the CLI).
 * @module
 */
import { z } from "zod";

/** What a location is for. */
export const ROLES = ["primary", "secondary", "archive"] as const;
export type Role = (typeof ROLES)[number];

/** The kinds of storage the 3-2-1 rule counts, by URL scheme. */
export type StorageKind = "file" | "s3" | "azure";

/** GFS counts: a whole number or "all"; an absent tier keeps nothing. */
export const RetentionPolicy = z.object({
  daily: z.union([z.number().int().nonnegative(), z.literal("all")]).optional(),
  weekly: z.union([z.number().int().nonnegative(), z.literal("all")]).optional(),
  monthly: z.union([z.number().int().nonnegative(), z.literal("all")]).optional(),
  yearly: z.union([z.number().int().nonnegative(), z.literal("all")]).optional(),
}).strict();
export type RetentionPolicy = z.infer<typeof RetentionPolicy>;

/** Object lock of a location's copies. */
export const LockPolicy = z.object({
  mode: z.enum(["compliance", "governance"]),
  days: z.number().int().min(1),
}).strict();
export type LockPolicy = z.infer<typeof LockPolicy>;

/** One location, as `lifeboat.locations` holds it. */
export const Location = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, "must be lowercase letters, digits, '-' or '_', starting with a letter"),
  url: z.string().trim().min(1, "is empty"),
  role: z.enum(ROLES),
  retention: RetentionPolicy.nullable().default(null),
  storage_class: z.string().nullable().default(null),
  lock: LockPolicy.nullable().default(null),
  credentials: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, "must name a secret: letters, digits and '_'").nullable().default(null),
  offsite: z.boolean().default(false),
  enabled: z.boolean().default(true),
});
export type Location = z.infer<typeof Location>;

/** A location set that cannot be used; the message says what to change. */
export class LocationError extends Error {
  /** True when the set is fine but no location could serve the request (not the user's input). */
  readonly unavailable: boolean;
  constructor(message: string, options: { unavailable?: boolean } = {}) {
    super(message);
    this.name = "LocationError";
    this.unavailable = options.unavailable ?? false;
  }
}

/** The storage kind of a store URL, or null for a scheme Lifeboat does not know. */
export function storageKind(url: string): StorageKind | null {
  if (url.startsWith("/") || /^file:\/\//i.test(url) || /^\.{0,2}\//.test(url)) return "file";
  if (/^s3:\/\/[a-z0-9]/i.test(url)) return "s3";
  if (/^az:\/\/[a-z0-9]/i.test(url) || /^https:\/\/[a-z0-9]+\.blob\.core\.windows\.net\//i.test(url)) return "azure";
  return null;
}

/** The fewest days `policy` keeps any backup (its shortest non-empty tier), or null if it keeps all. */
export function minRetentionDays(policy: RetentionPolicy): number | null {
  const days = { daily: 1, weekly: 7, monthly: 28, yearly: 365 } as const;
  let min: number | null = null;
  for (const tier of ["daily", "weekly", "monthly", "yearly"] as const) {
    const n = policy[tier];
    if (n === undefined || n === "all" || n === 0) continue;
    min = Math.min(min ?? Infinity, n * days[tier]);
  }
  return min;
}

/**
 * Parses and checks a set of locations (rows of `lifeboat.locations`, or a JSON array).
 * `defaultRetention` is what a location without its own policy uses (the retention.gfs.*
 * settings). Throws {@link LocationError} naming the location and what to change.
 */
export function parseLocations(input: unknown, defaultRetention: RetentionPolicy = {}): Location[] {
  if (!Array.isArray(input)) throw new LocationError("locations must be a JSON array of {name, url, role, …} objects");
  const out: Location[] = [];
  const seen = new Set<string>();
  input.forEach((raw, i) => {
    const r = Location.safeParse(raw);
    const label = typeof (raw as { name?: unknown })?.name === "string" ? `location "${(raw as { name: string }).name}"` : `location #${i + 1}`;
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new LocationError(`${label}: ${issue.path.join(".") || "(entry)"} ${issue.message}`);
    }
    const loc = r.data;
    if (seen.has(loc.name)) throw new LocationError(`location "${loc.name}" is named twice: give every location its own name`);
    seen.add(loc.name);
    if (storageKind(loc.url) === null) {
      const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(loc.url)?.[1] ?? loc.url;
      throw new LocationError(
        `location "${loc.name}": unknown store scheme '${scheme}': use a directory (/path or file:///path), s3://bucket/prefix, az://account/container/prefix or https://<account>.blob.core.windows.net/container`,
      );
    }
    if (/:\/\/[^/]*@/.test(loc.url) || /[?&](sig|sv|x-amz-signature|x-amz-credential)=/i.test(loc.url)) {
      throw new LocationError(`location "${loc.name}": the URL carries credentials: keep them in a secret and name it in 'credentials'`);
    }
    if (loc.lock) {
      const keep = minRetentionDays(loc.retention ?? defaultRetention);
      if (keep !== null && keep < loc.lock.days) {
        throw new LocationError(
          `location "${loc.name}": retention keeps some backups ${keep} days, shorter than the ${loc.lock.days} day lock: ` +
            "keep every retained tier at least as long as the lock, or shorten the lock",
        );
      }
    }
    out.push(loc);
  });
  const enabled = out.filter((l) => l.enabled);
  const primaries = enabled.filter((l) => l.role === "primary");
  if (enabled.length > 0 && primaries.length === 0) {
    throw new LocationError("no primary location: mark the location backups are written to with role 'primary'");
  }
  if (primaries.length > 1) {
    throw new LocationError(`${primaries.length} primary locations (${primaries.map((l) => l.name).join(", ")}): exactly one may be primary`);
  }
  return out;
}

/** The enabled primary of a checked set. */
export function primaryOf(locations: Location[]): Location {
  const p = locations.find((l) => l.enabled && l.role === "primary");
  if (!p) throw new LocationError("no primary location: mark the location backups are written to with role 'primary'");
  return p;
}

/** Locations in the order a restore tries them: primary, then secondaries, then archives. */
export function restoreOrder(locations: Location[]): Location[] {
  const rank = { primary: 0, secondary: 1, archive: 2 } as const;
  return locations.filter((l) => l.enabled).sort((a, b) => rank[a.role] - rank[b.role] || a.name.localeCompare(b.name));
}

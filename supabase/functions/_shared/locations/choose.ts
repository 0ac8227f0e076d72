/**
 * Which location a restore, verify or drill reads from: the one the user names (`--from`), or
 * the first of primary, secondaries, archives whose backup is there and passes verification
 * (signature, then every object's size and sha256 against the manifest), with why the others
 * were passed over.
 * @module
 */
import type { Store } from "../store/mod.ts";
import { latestBackupId, type ManifestTrust, verifyBackup } from "../verify/mod.ts";
import { type Location, LocationError, restoreOrder } from "./config.ts";

/** A location that was tried and not taken, and why. */
export interface SkippedLocation {
  name: string;
  reason: string;
}

/** The location chosen and how. */
export interface SourceChoice {
  location: Location;
  store: Store;
  /** The backup id there (the one asked for, or its newest complete backup). */
  backupId: string | null;
  /** "named" when the user passed --from, "automatic" otherwise. */
  how: "named" | "automatic";
  skipped: SkippedLocation[];
}

/** Options for {@link chooseSource}. */
export interface ChooseOptions {
  locations: Location[];
  open: (loc: Location) => Promise<Store>;
  /** The backup id wanted; null = the newest complete backup of each location. */
  id: string | null;
  /** The location the user named, if any. */
  from?: string;
  trust: ManifestTrust;
  concurrency?: number;
}

/** One line saying which location was chosen and why, for the CLI's output. */
export function describeChoice(c: SourceChoice): string {
  const head = `reading from location "${c.location.name}" (${c.location.role}, ${c.store.describe()})`;
  if (c.how === "named") return `${head}: named with --from`;
  if (c.skipped.length === 0) return `${head}: the primary holds the backup and it passed verification`;
  return `${head}: chosen automatically; ${c.skipped.map((s) => `"${s.name}" ${s.reason}`).join("; ")}`;
}

/**
 * Chooses the location to read from. With `from`, that location (an unknown name is a
 * {@link LocationError} listing the names). Otherwise each location in restore order is
 * verified and the first that passes is taken; throws {@link LocationError} when none does.
 */
export async function chooseSource(opts: ChooseOptions): Promise<SourceChoice> {
  if (opts.from !== undefined) {
    const loc = opts.locations.find((l) => l.name === opts.from);
    if (!loc) {
      const names = opts.locations.map((l) => l.name).join(", ") || "(none configured)";
      throw new LocationError(`no location named "${opts.from}": the locations are ${names}`);
    }
    return { location: loc, store: await opts.open(loc), backupId: opts.id, how: "named", skipped: [] };
  }
  const skipped: SkippedLocation[] = [];
  for (const loc of restoreOrder(opts.locations)) {
    let store: Store;
    let id = opts.id;
    try {
      store = await opts.open(loc);
      id ??= await latestBackupId(store);
    } catch (err) {
      skipped.push({ name: loc.name, reason: `could not be read (${err instanceof Error ? err.message : String(err)})` });
      continue;
    }
    const report = await verifyBackup({ store, id, trust: opts.trust, identities: null, concurrency: opts.concurrency });
    if (report.passed) return { location: loc, store, backupId: id, how: "automatic", skipped };
    const first = report.checks.find((c) => c.level === "error");
    skipped.push({ name: loc.name, reason: `failed verification of backup ${id} (${first ? `${first.check}: ${first.detail}` : "errors"})` });
  }
  throw new LocationError(
    `no location holds a backup${opts.id ? ` ${opts.id}` : ""} that passes verification: ${skipped.map((s) => `"${s.name}" ${s.reason}`).join("; ") || "no locations are configured"}`,
    { unavailable: skipped.length > 0 },
  );
}

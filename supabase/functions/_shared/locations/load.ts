/**
 * Where a location set comes from: the `lifeboat.locations` table (functions, and the CLI with a
 * database), or a JSON file / `$LIFEBOAT_LOCATIONS` (the CLI without one, e.g. restoring a
 * project that is gone).
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { type Location, LocationError, parseLocations, type RetentionPolicy } from "./config.ts";

/** The retention.gfs.* settings, as the policy of a location without its own. */
export async function defaultRetention(sql: Sql): Promise<RetentionPolicy> {
  const rows = await sql`
    select s.key, lifeboat.setting(s.key) #>> '{}' as v from lifeboat.settings s where s.key like 'retention.gfs.%'`;
  const out: Record<string, number | "all"> = {};
  for (const r of rows) {
    const tier = String(r.key).slice("retention.gfs.".length);
    out[tier] = r.v === "all" ? "all" : Number(r.v);
  }
  return out as RetentionPolicy;
}

/** The locations of the project's database, checked. */
export async function loadLocations(sql: Sql): Promise<Location[]> {
  const rows = await sql`
    select l.name, l.url, l.role, l.retention, l.storage_class, l.lock, l.credentials, l.offsite, l.enabled
    from lifeboat.locations l order by l.name`;
  return parseLocations(rows.map((r) => ({ ...r })), await defaultRetention(sql));
}

/**
 * Locations from JSON text: an array, or a path to a file holding one (`$LIFEBOAT_LOCATIONS`).
 * Throws {@link LocationError} saying what to fix.
 */
export async function readLocationsSpec(spec: string): Promise<Location[]> {
  let text = spec.trim();
  if (!text.startsWith("[")) {
    try {
      text = await Deno.readTextFile(spec);
    } catch {
      throw new LocationError(`cannot read the locations file '${spec}': pass a JSON array or the path of a file holding one`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LocationError("the locations are not valid JSON: expected an array of {name, url, role, …} objects");
  }
  return parseLocations(json);
}

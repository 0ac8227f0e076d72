/**
 * Retention per location: `lifeboat.location_retention()` decides from the location's own GFS
 * counts (never its newest copy, never the last verified copy of the newest backup anywhere,
 * never a backup another location still waits to copy); this deletes the rest there (manifest
 * first), records each deletion, and sweeps the file blobs no kept backup names.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { deletePrefix, sweepUnreferencedBlobs } from "../retention/mod.ts";
import type { Store } from "../store/mod.ts";

/** One backup pruned at a location. */
export interface LocationPrune {
  backupId: string;
  objects: number;
  bytes: number;
}

/** Applies a location's retention to its store as of `now`. */
export async function applyLocationRetention(sql: Sql, location: string, store: Store, now: Date): Promise<LocationPrune[]> {
  const rows = await sql`select backup_id, keep, reasons from lifeboat.location_retention(${location}, ${now.toISOString()}::timestamptz)`;
  const pruned: LocationPrune[] = [];
  const kept: string[] = [];
  for (const r of rows) {
    const id = String(r.backup_id);
    if (r.keep) {
      kept.push(id);
      continue;
    }
    const { objects, bytes } = await deletePrefix(store, id);
    await sql`select lifeboat.copy_record_prune(${location}, ${id}, 'outside the location''s retention')`;
    pruned.push({ backupId: id, objects, bytes });
  }
  if (pruned.length > 0) await sweepUnreferencedBlobs(store, kept, now);
  return pruned;
}

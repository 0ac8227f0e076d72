/**
 * Retention per location: `lifeboat.location_retention()` decides from the location's own GFS
 * counts (never its newest copy, never the last verified copy anywhere of the newest backup or
 * of a backup another location's retention keeps, never a backup another location still waits
 * to copy); this deletes the rest there (manifest first) unless the store's lock still holds
 * them, records each deletion, reports each copy a guard kept, and sweeps the file blobs no
 * kept backup names.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { deleteUnlessLocked, sweepUnreferencedBlobs } from "../retention/mod.ts";
import type { Store } from "../store/mod.ts";

/**
 * One backup pruned at a location, held there by the store's lock (`held` says why), or kept
 * although the location's own retention lets it go (`kept` says why: the last verified copy
 * anywhere, or a copy another location still waits for).
 */
export interface LocationPrune {
  backupId: string;
  objects: number;
  bytes: number;
  held?: string;
  kept?: string;
}

/** Why lifeboat.location_retention keeps a copy its own policy would not (its guards' reasons). */
const GUARDS: Record<string, string> = {
  last_verified_copy: "the last verified copy anywhere of a backup that is the newest or that another location's retention keeps",
  awaiting_copy: "another location still waits to copy it from here",
};

/** Applies a location's retention to its store as of `now`. */
export async function applyLocationRetention(sql: Sql, location: string, store: Store, now: Date): Promise<LocationPrune[]> {
  const rows = await sql`select backup_id, keep, reasons from lifeboat.location_retention(${location}, ${now.toISOString()}::timestamptz)`;
  const pruned: LocationPrune[] = [];
  const kept: string[] = [];
  for (const r of rows) {
    const id = String(r.backup_id);
    if (r.keep) {
      kept.push(id);
      const reasons = (r.reasons as string[]) ?? [];
      // Kept by the guards alone: the location's own policy (GFS, newest, future) gave no reason.
      if (reasons.every((x) => x in GUARDS)) {
        pruned.push({ backupId: id, objects: 0, bytes: 0, kept: reasons.map((x) => GUARDS[x] ?? x).join("; ") });
      }
      continue;
    }
    // A locked copy is held until its lock expires; the next run prunes it then.
    const deleted = await deleteUnlessLocked(store, id);
    if ("held" in deleted) {
      pruned.push({ backupId: id, objects: 0, bytes: 0, held: deleted.held });
      continue;
    }
    await sql`select lifeboat.copy_record_prune(${location}, ${id}, 'outside the location''s retention')`;
    pruned.push({ backupId: id, ...deleted });
  }
  if (pruned.some((p) => !p.held && !p.kept)) await sweepUnreferencedBlobs(store, kept.concat(pruned.filter((p) => p.held).map((p) => p.backupId)), now);
  return pruned;
}

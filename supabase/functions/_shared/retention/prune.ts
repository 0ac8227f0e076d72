/**
 * Retention applied to a store: `lifeboat.backup_retention()` decides (GFS for database
 * backups, never the newest or the newest verified one; files backups by their buckets'
 * rules, never the newest of a bucket), this module
 * deletes what falls outside the policy and records every deletion
 * (`lifeboat.export_record_prune`, maintenance_log). Also deletes the objects of failed
 * jobs once their grace period is over. The clock is injectable, for tests.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { backupPrefix, BLOBS_PREFIX, isBackupId, MANIFEST_KEY } from "../format/mod.ts";
import { type Store, StoreError } from "../store/mod.ts";
import { type BlobReferences, type BlobSweepReport, sweepBlobs } from "../source/storage/mod.ts";
import { pruneSegments, type PrunedSegments } from "./segments.ts";

/** One pruned backup. */
export interface PrunedBackup {
  runId: number;
  backupId: string;
  objects: number;
  bytes: number;
}

/** What a retention pass did. */
export interface RetentionReport {
  kept: number;
  pruned: PrunedBackup[];
  orphansCleaned: PrunedBackup[];
  /** Backups outside the policy that the store's write-once lock still protects: kept until
   * the lock expires (the retention policy is shorter than the lock). Nothing of them was
   * deleted (the manifest, deleted first, is the last object a backup writes). */
  held: { runId: number; backupId: string; reason: string }[];
  /** The mark and sweep of Storage file blobs (source/storage/sweep.ts) after the prune. */
  blobs?: BlobSweepReport;
  /** Change-stream segments older than every kept full backup's hand-off (segments.ts). */
  segments?: PrunedSegments[];
}

/** Deletes every object of a backup prefix, the manifest first. */
export async function deletePrefix(store: Store, backupId: string): Promise<{ objects: number; bytes: number }> {
  if (!isBackupId(backupId)) throw new Error(`refusing to delete '${backupId}': not a backup id`);
  const prefix = backupPrefix(backupId);
  let objects = 0, bytes = 0;
  // The manifest goes first: a half-deleted backup must already read as incomplete.
  const m = await store.head(prefix + MANIFEST_KEY);
  if (m) {
    await store.delete(prefix + MANIFEST_KEY);
    objects++;
    bytes += m.size;
  }
  const rest: { key: string; size: number }[] = [];
  for await (const o of store.list(prefix)) rest.push(o);
  for (const o of rest) {
    await store.delete(o.key);
    objects++;
    bytes += o.size;
  }
  return { objects, bytes };
}

/** {@link deletePrefix}, or why not when the store's object lock refuses the delete. */
export async function deleteUnlessLocked(store: Store, backupId: string): Promise<{ objects: number; bytes: number } | { held: string }> {
  try {
    return await deletePrefix(store, backupId);
  } catch (err) {
    if (err instanceof StoreError && err.code === "locked") {
      return { held: `locked: ${err.message} The retention policy is shorter than the lock; the backup is pruned once the lock expires.` };
    }
    throw err;
  }
}

/**
 * Applies retention to the completed backups of `target` as of `now`: GFS for database
 * backups, each bucket's rule (setting files.buckets) for files backups
 * (`lifeboat.backup_retention()`); then sweeps the file blobs no kept backup and no running
 * job names. Backups whose objects are still under the store's lock are held (`report.held`),
 * not failed.
 */
export async function applyRetention(
  sql: Sql,
  store: Store,
  opts: { target: string; now?: Date; blobGraceMs?: number },
): Promise<RetentionReport> {
  const now = opts.now ?? new Date();
  const rows = await sql`select run_id, backup_id, keep, reasons from lifeboat.backup_retention(${opts.target}, ${now})`;
  const report: RetentionReport = { kept: 0, pruned: [], orphansCleaned: [], held: [] };
  const keptIds: string[] = [];
  for (const r of rows) {
    if (r.keep) {
      report.kept++;
      keptIds.push(String(r.backup_id));
      continue;
    }
    const backupId = String(r.backup_id);
    const deleted = await deleteUnlessLocked(store, backupId);
    if ("held" in deleted) {
      report.held.push({ runId: Number(r.run_id), backupId, reason: deleted.held });
      keptIds.push(backupId); // still stored: its file blobs stay too
      continue;
    }
    const { objects, bytes } = deleted;
    const recorded = await sql`
      select lifeboat.export_record_prune(${r.run_id}, ${objects}, ${bytes},
        jsonb_build_object('reason', 'outside the GFS policy', 'as_of', ${now.toISOString()}::text)) as ok`;
    if (recorded[0].ok) report.pruned.push({ runId: Number(r.run_id), backupId, objects, bytes });
  }
  for (const o of await sql`select run_id, backup_id from lifeboat.export_orphans(${opts.target}, ${now})`) {
    const backupId = String(o.backup_id);
    const deleted = await deleteUnlessLocked(store, backupId);
    if ("held" in deleted) {
      report.held.push({ runId: Number(o.run_id), backupId, reason: deleted.held });
      continue;
    }
    const { objects, bytes } = deleted;
    await sql`select lifeboat.export_record_orphans(${o.run_id}, ${objects}, ${bytes})`;
    report.orphansCleaned.push({ runId: Number(o.run_id), backupId, objects, bytes });
  }
  // Blobs that running jobs' finished batches name (a backup running now may reuse an old blob).
  const inFlight = await sql`select b from lifeboat.files_blobs_in_flight() b`;
  const running: BlobReferences = { files: { objects: inFlight.map((r) => ({ blob: String(r.b) })) } };
  report.blobs = await sweepUnreferencedBlobs(store, keptIds, now, opts.blobGraceMs, running);
  report.segments = await pruneSegments(store, keptIds);
  return report;
}

/**
 * Marks the blobs the kept backups' manifests name and sweeps the rest (older than the grace
 * period). A kept backup whose manifest cannot be read stops the sweep: its blobs are unknown.
 */
export async function sweepUnreferencedBlobs(
  store: Store,
  keptIds: string[],
  now: Date,
  graceMs?: number,
  running: BlobReferences = {},
): Promise<BlobSweepReport | undefined> {
  // A store without file blobs (no backup with --files) costs one listing request, not a read
  // of every kept manifest.
  let anyBlob = false;
  for await (const _ of store.list(BLOBS_PREFIX)) {
    anyBlob = true;
    break;
  }
  if (!anyBlob) return undefined;
  const kept: BlobReferences[] = [running];
  for (const id of keptIds) {
    if (!isBackupId(id)) continue;
    let text: Uint8Array;
    try {
      text = await store.getBytes(backupPrefix(id) + MANIFEST_KEY);
    } catch (err) {
      if (err instanceof StoreError && err.code === "not_found") continue; // not a complete backup: holds no blob
      throw err;
    }
    // Only the blob references matter here; a manifest that is not JSON stops the sweep.
    let m: BlobReferences;
    try {
      m = JSON.parse(new TextDecoder().decode(text));
    } catch {
      return undefined;
    }
    if (m.files !== undefined && !Array.isArray(m.files?.objects)) return undefined;
    kept.push(m);
  }
  return await sweepBlobs(store, kept, { now, graceMs });
}

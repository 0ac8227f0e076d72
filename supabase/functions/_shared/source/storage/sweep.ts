/**
 * Mark and sweep of file blobs: a blob is deleted only when no kept backup's manifest names
 * it AND it is older than a grace period. The grace period protects a backup running at the
 * same time: the blobs it writes are new (younger than the grace period), and the blobs it
 * reuses are those of the previous backup, which retention always keeps (never the newest).
 * The staging keys a backup writes big files to before the store copies them to their blob
 * key are swept the same way: never referenced, deleted once older than the grace period.
 * @module
 */
import { BLOBS_PREFIX } from "../../format/mod.ts";
import { type Store, StoreError } from "../../store/mod.ts";

/** Default grace period: 24 hours, longer than any backup run. */
export const DEFAULT_BLOB_GRACE_MS = 24 * 3600 * 1000;

/** What a sweep did. */
export interface BlobSweepReport {
  referenced: number;
  deleted: number;
  deletedBytes: number;
  /** Unreferenced blobs kept because they are younger than the grace period. */
  young: number;
  /** Unreferenced blobs (or staging keys) the store's write-once lock still holds: a later sweep deletes them once it expires. */
  locked: number;
}

/** What the sweep reads of a kept manifest: the blobs its files name. */
export interface BlobReferences {
  files?: { objects: { blob: string }[] };
}

/** Deletes the blobs under `files/` that no manifest of `kept` references and that are older than `graceMs`. */
export async function sweepBlobs(
  store: Store,
  kept: BlobReferences[],
  opts: { now?: Date; graceMs?: number } = {},
): Promise<BlobSweepReport> {
  const referenced = new Set<string>();
  for (const m of kept) for (const f of m.files?.objects ?? []) referenced.add(f.blob);
  const cutoff = (opts.now ?? new Date()).getTime() - (opts.graceMs ?? DEFAULT_BLOB_GRACE_MS);
  const report: BlobSweepReport = { referenced: referenced.size, deleted: 0, deletedBytes: 0, young: 0, locked: 0 };
  const doomed: { key: string; size: number }[] = [];
  for await (const o of store.list(BLOBS_PREFIX)) {
    // Only blobs (`…/<sha256>.<suffix>`) and staging keys (`…/staging/<32 hex>.<suffix>`,
    // never referenced): the namespace's `latest.json` pointer is neither.
    if (referenced.has(o.key) || !/\/([0-9a-f]{64}|staging\/[0-9a-f]{32})\.[^/]*$/.test(o.key)) continue;
    // No modification time: treat as young; never delete what cannot be dated.
    if (!o.lastModified || o.lastModified.getTime() > cutoff) {
      report.young++;
      continue;
    }
    doomed.push(o);
  }
  for (const o of doomed) {
    try {
      await store.delete(o.key);
    } catch (err) {
      // A locked store keeps every object (a staging key too) until its lock expires.
      if (err instanceof StoreError && err.code === "locked") {
        report.locked++;
        continue;
      }
      throw err;
    }
    report.deleted++;
    report.deletedBytes += o.size;
  }
  return report;
}

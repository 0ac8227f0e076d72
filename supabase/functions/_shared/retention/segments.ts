/**
 * Retention of the change stream: every segment a kept full backup's point-in-time restore
 * may read is kept (from the oldest kept full backup's hand-off on), and older segments are
 * deleted, oldest first and manifest first, so the stream never has a gap and a half-deleted
 * segment already reads as incomplete. Segment manifests are read without trusting them (a
 * restore authenticates them); only their LSNs and seqs decide.
 * @module
 */
import { backupPrefix, isBackupId, MANIFEST_KEY, parseManifest } from "../format/mod.ts";
import { handOffIndex } from "../pitr/mod.ts";
import { type Store, StoreError } from "../store/mod.ts";
import {
  listSegmentSeqs,
  listStreamSlots,
  parseSegmentManifest,
  type SegmentManifest,
  segmentKey,
  segmentManifestKey,
  segmentSignatureKey,
} from "../stream/mod.ts";

/** What was pruned from one stream. */
export interface PrunedSegments {
  slot: string;
  /** Seqs deleted (a range, oldest first). */
  fromSeq: number;
  toSeq: number;
  objects: number;
  bytes: number;
}

async function readJson(store: Store, key: string): Promise<unknown | null> {
  try {
    return JSON.parse(new TextDecoder().decode(await store.getBytes(key)));
  } catch (err) {
    if (err instanceof StoreError && err.code === "not_found") return null;
    throw err;
  }
}

/**
 * The stream positions (slot, confirmed LSN) of the kept full backups that recorded one; null
 * when a kept backup's manifest is not a readable manifest (its position is unknown, so no
 * segment may be pruned).
 */
async function keptPositions(
  store: Store,
  keptIds: readonly string[],
): Promise<{ slot: string; lsn: string | null }[] | null> {
  const out: { slot: string; lsn: string | null }[] = [];
  for (const id of keptIds) {
    if (!isBackupId(id)) continue;
    const json = await readJson(store, backupPrefix(id) + MANIFEST_KEY);
    if (json === null) continue;
    let m;
    try {
      m = parseManifest(json);
    } catch {
      return null;
    }
    if (m.kind !== "full" || !m.snapshot.xmax) continue;
    // A kept full backup taken before the stream existed needs no segment; one with a
    // position keeps its slot's segments from there.
    if (m.stream) out.push({ slot: m.stream.slot, lsn: m.stream.confirmedFlushLsn });
  }
  return out;
}

/** Deletes the segments of every stream that no kept full backup's restore reads. */
export async function pruneSegments(store: Store, keptIds: readonly string[]): Promise<PrunedSegments[]> {
  // Nothing kept: nothing can be decided safely.
  if (keptIds.length === 0) return [];
  // A store without a stream costs one listing, not a read of every kept manifest.
  const slots = await listStreamSlots(store);
  if (slots.length === 0) return [];
  const positions = await keptPositions(store, keptIds);
  if (positions === null || positions.length === 0) return [];
  const report: PrunedSegments[] = [];
  for (const slot of slots) {
    const mine = positions.filter((p) => p.slot === slot);
    if (mine.length === 0) continue;
    const seqs = await listSegmentSeqs(store, slot);
    const manifests: SegmentManifest[] = [];
    for (const seq of seqs) {
      const json = await readJson(store, segmentManifestKey(slot, seq));
      if (json !== null) manifests.push(parseSegmentManifest(json));
    }
    if (manifests.length === 0) continue;
    const cut = Math.min(...mine.map((p) => handOffIndex(manifests, p.lsn)));
    if (cut <= 0) continue;
    let objects = 0, bytes = 0;
    for (const m of manifests.slice(0, cut)) {
      for (const key of [segmentManifestKey(slot, m.seq), segmentSignatureKey(slot, m.seq), segmentKey(slot, m.seq)]) {
        const head = await store.head(key);
        if (!head) continue;
        await store.delete(key);
        objects++;
        bytes += head.size;
      }
    }
    report.push({ slot, fromSeq: manifests[0].seq, toSeq: manifests[cut - 1].seq, objects, bytes });
  }
  return report;
}

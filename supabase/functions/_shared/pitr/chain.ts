/**
 * The chain a point-in-time restore uses: the newest full backup whose snapshot was taken
 * before the target (with the snapshot's visibility recorded, so the hand-off is exact), and
 * the stream segments from the one holding the slot's position at that snapshot onwards, each
 * manifest authenticated. Nothing is written while the chain is planned.
 * @module
 */
import type { Manifest } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";
import { listSegments, listStreamSlots, lsnToBigInt, type SegmentManifest, type SegmentTrust } from "../stream/mod.ts";
import { BackupError, listBackups, type ManifestTrust, readAuthenticManifest } from "../verify/mod.ts";
import { describeTarget, type RestoreTarget } from "./target.ts";
import { formatMicros, parseMicros } from "./time.ts";
import { seenBySnapshot, snapshotSeen } from "./visibility.ts";

/** A point-in-time restore that cannot be done as asked; the message says why and what to do. */
export class ChainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChainError";
  }
}

/** The backup and segments a point-in-time restore replays. */
export interface Chain {
  backupId: string;
  manifest: Manifest;
  slot: string;
  /** Segments to read, in order (from the hand-off to the end of the stream). */
  segments: SegmentManifest[];
}

/** Whether a backup's manifest records the snapshot fields the hand-off needs. */
function handOffOf(m: Manifest) {
  const s = m.snapshot;
  if (!s.consistent || s.xmin === undefined || s.xmax === undefined || s.xip === undefined || !s.takenAt) return null;
  return { xmin: s.xmin, xmax: s.xmax, xip: s.xip, takenAt: s.takenAt, lsn: s.lsnStart };
}

/** Whether a backup's snapshot lies before the target. */
function beforeTarget(m: Manifest, t: RestoreTarget): boolean {
  const h = handOffOf(m)!;
  if (t.kind === "latest") return true;
  if (t.kind === "time") return parseMicros(h.takenAt) <= t.micros;
  if (t.kind === "lsn") return lsnToBigInt(h.lsn) <= lsnToBigInt(t.lsn);
  // An xid target: the snapshot must not have seen it (else the backup already holds it).
  return !seenBySnapshot(snapshotSeen(h), t.xid);
}

/** The newest full backup with a recorded snapshot before the target, with its manifest authenticated. */
async function chooseBackup(store: Store, target: RestoreTarget, trust: ManifestTrust, backupId: string | null, signal?: AbortSignal) {
  const ids = backupId ? [backupId] : (await listBackups(store, signal)).filter((b) => b.complete).map((b) => b.id).reverse();
  const skipped: string[] = [];
  for (const id of ids) {
    const { manifest } = await readAuthenticManifest(store, id, trust, signal);
    if (manifest.kind !== "full") {
      skipped.push(`${id} (a tables backup)`);
      continue;
    }
    if (!handOffOf(manifest)) {
      skipped.push(`${id} (no snapshot visibility recorded: taken before continuous protection, or over several snapshots)`);
      continue;
    }
    if (!beforeTarget(manifest, target)) {
      skipped.push(`${id} (its snapshot is after the target)`);
      continue;
    }
    return manifest;
  }
  const why = skipped.length ? ` Considered: ${skipped.slice(0, 5).join("; ")}${skipped.length > 5 ? "; …" : ""}.` : "";
  throw new ChainError(
    `no full backup with a recorded snapshot starts before ${describeTarget(target)}: a point-in-time restore needs one.${why} Choose a later target, or take a full backup (lifeboat backup) while the stream runs.`,
  );
}

/** Plans the chain for `target`: the backup, the slot and the segments to read. */
export async function planChain(o: {
  store: Store;
  target: RestoreTarget;
  trust: ManifestTrust & SegmentTrust;
  /** Use this backup instead of the newest suitable one. */
  backupId?: string | null;
  /** The stream's slot (default: the one the backup recorded, or the only one in the store). */
  slot?: string;
  signal?: AbortSignal;
}): Promise<Chain> {
  let manifest: Manifest;
  try {
    manifest = await chooseBackup(o.store, o.target, o.trust, o.backupId ?? null, o.signal);
  } catch (err) {
    if (err instanceof BackupError) throw new ChainError(err.message);
    throw err;
  }
  let slot = o.slot ?? manifest.stream?.slot;
  if (!slot) {
    const slots = await listStreamSlots(o.store, o.signal);
    if (slots.length !== 1) {
      throw new ChainError(slots.length === 0
        ? `no change stream in ${o.store.describe()}: enable it (lifeboat stream enable) and run the shipper; a point-in-time restore replays its segments`
        : `the store holds several streams (${slots.join(", ")}): choose one with --slot`);
    }
    slot = slots[0];
  }
  if (!manifest.stream) {
    throw new ChainError(
      `backup ${manifest.id} was taken while no change stream slot existed: the stream does not reach back to its snapshot. Use a full backup taken after 'lifeboat stream enable'.`,
    );
  }
  const all = await listSegments(o.store, slot, { trust: o.trust, signal: o.signal });
  if (all.length === 0) {
    // Nothing shipped since the stream began: the latest known moment is the backup itself.
    if (o.target.kind === "latest") return { backupId: manifest.id, manifest, slot, segments: [] };
    throw new ChainError(`stream ${slot} has no segments yet: run the shipper (lifeboat stream run) first`);
  }
  // The hand-off: the slot had confirmed everything up to confirmedFlushLsn when the snapshot
  // was taken, so every transaction the snapshot missed lies in the segments after it.
  // Retention keeps every segment a kept full backup's restore reads (retention/segments.ts).
  const start = handOffIndex(all, manifest.stream.confirmedFlushLsn);
  return { backupId: manifest.id, manifest, slot, segments: all.slice(start) };
}

/**
 * The index of the first segment a backup's replay reads: the first that ends at or after the
 * slot's confirmed position at the backup's snapshot, moved back over segments whose last
 * transaction continues into it.
 */
export function handOffIndex(segments: readonly SegmentManifest[], confirmedFlushLsn: string | null): number {
  const from = confirmedFlushLsn ? lsnToBigInt(confirmedFlushLsn) : 0n;
  let start = segments.findIndex((s) => lsnToBigInt(s.endLsn) >= from);
  if (start < 0) start = segments.length - 1;
  while (start > 0 && segments[start - 1].partial) start--;
  return start;
}

/** The latest moment a chain can restore to: the newest durable commit of its stream. */
export function latestRestorable(segments: readonly SegmentManifest[]): string | null {
  for (let i = segments.length - 1; i >= 0; i--) {
    const at = segments[i].lastCommitAt;
    if (at) return formatMicros(parseMicros(at));
  }
  return null;
}

/**
 * The hand-off between a full backup and the change stream. The backup's manifest records
 * what its snapshot saw (xmin, xmax, in-progress xids, all 64-bit); the stream names each
 * transaction by wal2json's 32-bit xid. A transaction belongs to the replay exactly when the
 * snapshot did not see it: xid >= xmax, or xid in xip (a committed xid below xmax and not
 * in progress was seen).
 * @module
 */

const EPOCH = 1n << 32n;
const HALF = 1n << 31n;

/**
 * The 64-bit xid of a 32-bit one, taken as the nearest to `near` (a 64-bit xid of about the
 * same time): xids of transactions within 2^31 of each other are unambiguous.
 */
export function widenXid(xid32: bigint, near: bigint): bigint {
  let full = (near & ~(EPOCH - 1n)) | (xid32 & (EPOCH - 1n));
  if (full > near + HALF) full -= EPOCH;
  else if (full < near - HALF) full += EPOCH;
  return full;
}

/** What a backup's snapshot saw. */
export interface SnapshotSeen {
  xmin: bigint;
  xmax: bigint;
  xip: ReadonlySet<bigint>;
}

/** Reads the manifest's snapshot fields (decimal text). */
export function snapshotSeen(s: { xmin: string; xmax: string; xip: string[] }): SnapshotSeen {
  return { xmin: BigInt(s.xmin), xmax: BigInt(s.xmax), xip: new Set(s.xip.map(BigInt)) };
}

/** Whether a committed transaction (64-bit xid) is already in the backup. */
export function seenBySnapshot(snap: SnapshotSeen, xid: bigint): boolean {
  if (xid >= snap.xmax) return false;
  if (xid < snap.xmin) return true;
  return !snap.xip.has(xid);
}

/**
 * Which transactions of the stream a point-in-time restore replays: those the backup's snapshot
 * did not see, committed at or before the target, each once, in commit order. Decided at each
 * transaction's B record (wal2json knows the commit when it begins a transaction), so a
 * transaction of any size streams through without being held in memory.
 * @module
 */
import { compareLsn, lsnToBigInt } from "../stream/mod.ts";
import { parseRecord, type RawRecord } from "./records.ts";
import type { RestoreTarget } from "./target.ts";
import { parseMicros } from "./time.ts";
import { type SnapshotSeen, seenBySnapshot, widenXid } from "./visibility.ts";

/** Stored lines in order, and where each came from (for messages, built only when one is needed). */
export interface StreamLines {
  lines: string[];
  where: (i: number) => string;
}

/** A replayed transaction, as its B record describes it. */
export interface TxnHeader {
  xid: bigint;
  commitLsn: string;
  commitMicros: bigint;
  commitTime: string;
}

/** What the selection yields: a transaction's start, its changes and its end. */
export type SelectedEvent =
  | { type: "begin"; txn: TxnHeader }
  | { type: "change"; raw: RawRecord }
  | { type: "commit"; txn: TxnHeader };

/** What the selection saw, for the chain's report and the "target after the stream" check. */
export interface SelectionStats {
  /** Transactions replayed. */
  transactions: number;
  /** Transactions the backup already held, and transactions read twice (a re-shipped segment). */
  skippedSeen: number;
  skippedDuplicate: number;
  first: TxnHeader | null;
  last: TxnHeader | null;
  /** The newest commit in the stream read (replayed or not). */
  newestCommit: TxnHeader | null;
  /** True once a commit after the target was met (the stream covers the target). */
  passedTarget: boolean;
  /** An xid target: whether that transaction was met. */
  metTargetXid: boolean;
}

/** Whether a transaction committed at or before the target (xid targets are handled by the caller). */
function withinTarget(t: RestoreTarget, h: TxnHeader): boolean {
  if (t.kind === "time") return h.commitMicros <= t.micros;
  if (t.kind === "lsn") return lsnToBigInt(h.commitLsn) <= lsnToBigInt(t.lsn);
  return true; // latest, xid
}

/**
 * The transactions to replay from the stream's lines, in order, in batches (one per batch of
 * lines read, so that a big transaction costs no await per change). `near`: a 64-bit xid of
 * about the stream's time (the snapshot's xmax), against which wal2json's 32-bit xids are widened.
 */
export async function* selectTransactions(
  batches: AsyncIterable<StreamLines>,
  snap: SnapshotSeen,
  target: RestoreTarget,
  stats: SelectionStats,
): AsyncGenerator<SelectedEvent[]> {
  let current: TxnHeader | null = null;
  let including = false;
  // Changes of the open transaction already passed on, and how many of a re-read copy to skip.
  let yielded = 0;
  let skip = 0;
  let highestCommit: string | null = null;
  /** Takes one line; false once the target is passed (nothing after it is read). */
  const take = (line: string, where: () => string, out: SelectedEvent[]): boolean => {
    if (line.length === 0) return true;
    const raw = parseRecord(line, where);
    const rec = raw.rec;
    if (rec.action === "B") {
      const h: TxnHeader = {
        xid: widenXid(BigInt(rec.xid!), snap.xmax),
        commitLsn: rec.lsn!,
        commitMicros: parseMicros(rec.timestamp!),
        commitTime: rec.timestamp!,
      };
      if (current && including && h.commitLsn === current.commitLsn) {
        // The same transaction again from its start (a shipper that stopped inside it stored it
        // anew): its first `yielded` changes were passed on already.
        skip = yielded;
        yielded = 0;
        stats.skippedDuplicate++;
        return true;
      }
      current = h;
      including = false;
      yielded = 0;
      skip = 0;
      if (highestCommit !== null && compareLsn(h.commitLsn, highestCommit) <= 0) {
        stats.skippedDuplicate++;
        return true;
      }
      highestCommit = h.commitLsn;
      stats.newestCommit = h;
      if (target.kind === "xid" && h.xid === target.xid) {
        stats.metTargetXid = true;
        if (!target.inclusive) {
          stats.passedTarget = true;
          return false;
        }
      } else if (!withinTarget(target, h)) {
        stats.passedTarget = true;
        return false;
      }
      if (seenBySnapshot(snap, h.xid)) {
        stats.skippedSeen++;
      } else {
        including = true;
        stats.transactions++;
        stats.first ??= h;
        stats.last = h;
        out.push({ type: "begin", txn: h });
      }
    } else if (rec.action === "C") {
      if (including && current) out.push({ type: "commit", txn: current });
      const done: TxnHeader | null = current;
      including = false;
      current = null;
      if (target.kind === "xid" && done && done.xid === target.xid) {
        stats.passedTarget = true;
        return false;
      }
    } else if (rec.action === "M") {
      return true;
    } else if (including) {
      if (skip > 0) {
        skip--;
        yielded++;
        return true;
      }
      yielded++;
      out.push({ type: "change", raw });
    }
    return true;
  };
  for await (const { lines, where } of batches) {
    const out: SelectedEvent[] = [];
    let more = true;
    for (let i = 0; i < lines.length && more; i++) more = take(lines[i], () => where(i), out);
    if (out.length) yield out;
    if (!more) return;
  }
}

/** Fresh selection counters. */
export function newSelectionStats(): SelectionStats {
  return {
    transactions: 0, skippedSeen: 0, skippedDuplicate: 0, first: null, last: null, newestCommit: null,
    passedTarget: false, metTargetXid: false,
  };
}

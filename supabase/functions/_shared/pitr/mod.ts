/**
 * Restore to a point in time: the chain (a full backup whose manifest records its snapshot,
 * and the change stream's segments after it), the selection of the transactions the snapshot
 * did not see up to the target, their set-based replay into the restored database, and the
 * sequences. Segments are read only through `_shared/stream/mod.ts`.
 * Code outside this folder imports only this module.
 * @module
 */
export { type Chain, ChainError, handOffIndex, latestRestorable, planChain } from "./chain.ts";
export {
  type ChainReport,
  type PointRestoreOptions,
  type PointRestoreReport,
  restoreToPoint,
  restoreToPointAsReport,
} from "./engine.ts";
export { replayInto, type ReplayOptions, type ReplayResult } from "./replay.ts";
export { newSelectionStats, selectTransactions, type SelectionStats, type StreamLines, type TxnHeader } from "./select.ts";
export { raiseSequences, sequenceFloor } from "./sequences.ts";
export { ReplayError } from "./statements.ts";
export { describeTarget, parseTarget, type RestoreTarget, TargetError } from "./target.ts";
export { formatMicros, parseMicros } from "./time.ts";
export { seenBySnapshot, snapshotSeen, widenXid } from "./visibility.ts";

/**
 * Retention: GFS pruning of a store's backups, the sweep of file blobs no kept backup names, and
 * the pruning of change-stream segments older than every kept full backup.
 * Code outside this folder imports only this module.
 * @module
 */
export { applyRetention, deletePrefix, deleteUnlessLocked, sweepUnreferencedBlobs } from "./prune.ts";
export type { RetentionReport } from "./prune.ts";
export { pruneSegments } from "./segments.ts";
export type { PrunedSegments } from "./segments.ts";

/**
 * Retention: GFS pruning of a store's backups, and the sweep of file blobs no kept backup names.
 * Code outside this folder imports only this module.
 * @module
 */
export { applyRetention, deletePrefix, deleteUnlessLocked, sweepUnreferencedBlobs } from "./prune.ts";
export type { RetentionReport } from "./prune.ts";

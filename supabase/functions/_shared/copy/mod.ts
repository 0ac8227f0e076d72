/**
 * Copies between locations (issue 21): every backup and change segment on the primary copied,
 * verified and recorded per location, and retention per location.
 * Code outside this folder imports only this module.
 * @module
 */
export { COPY_TUNING, type CopyOptions, type CopyReport, type LocationCopyReport, runCopy } from "./engine.ts";
export { applyLocationRetention, type LocationPrune } from "./retention.ts";
export { STREAM_PREFIX } from "./segments.ts";
export { CopyBusyError, withCopyLock } from "./lock.ts";

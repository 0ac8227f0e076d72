/**
 * Error messages safe to return and to store: no hostnames, credentials or server text
 * that could quote data. Store and database errors are described by their code only.
 * @module
 */
import { describeDbError } from "../db/mod.ts";
import { StoreError } from "../store/mod.ts";
import { SelectionError, SnapshotConflictError } from "../export/mod.ts";
import { ConfigError } from "./config.ts";

const STORE_MESSAGES: Record<string, string> = {
  invalid_key: "the store rejected an object key",
  config: "the backup store is misconfigured: check export.target and the LIFEBOAT_S3_* function secrets",
  not_found: "an object was missing from the backup store",
  auth: "the backup store rejected the credentials: check the LIFEBOAT_S3_* function secrets",
  no_bucket: "the backup store's bucket or directory does not exist: create it or fix export.target",
  integrity: "the backup store returned bytes that do not match what was written",
  unavailable: "the backup store could not be reached (after retries); the job resumes on the next invocation",
  aborted: "the upload was cancelled",
  failed: "the backup store refused an operation",
};

/** A message about `err` that is safe to show anyone allowed to call the function. */
export function safeErrorMessage(err: unknown): string {
  if (err instanceof StoreError) return STORE_MESSAGES[err.code] ?? STORE_MESSAGES.failed;
  // A snapshot conflict names a table and what to do, nothing else.
  if (err instanceof SelectionError || err instanceof ConfigError || err instanceof SnapshotConflictError) return err.message;
  const e = err as { code?: unknown; name?: string };
  if (typeof e?.code === "string" && (/^[0-9A-Z]{5}$/.test(e.code) || /^[A-Z_]+$/.test(e.code))) {
    return describeDbError(err);
  }
  if (e?.name === "AgeKeyError") return "an age recipient is invalid: fix export.recipients";
  return "the export failed unexpectedly; the job's parts record where it stopped";
}

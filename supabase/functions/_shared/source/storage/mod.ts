/**
 * The Supabase Storage source: a project's files, read and written through its Storage API
 * with the secret (service) key.
 *
 * - client.ts: {@link StorageApi} (key check before any work, streamed downloads and uploads,
 *   retries while the server is away, buckets through `@supabase/storage-js`);
 * - rows.ts: the snapshot's `storage.buckets` and `storage.objects` rows;
 * - backup.ts: the files phase of a backup (content-addressed blobs, incremental);
 * - restore.ts: files into a project (partial, dry run, `clean`; sha256 of each upload, then
 *   the target's ETag or a read-back proves it stored);
 * - verify.ts: blob sizes and sha256, completeness against the source's rows;
 * - sweep.ts: mark and sweep of blobs no kept backup references;
 * - pool.ts, hashing.ts: a bounded pool, streaming sha256, a small file read into one buffer.
 * @module
 */
export { encodeName, StorageApi, StorageApiError, type StorageApiConfig, storageBaseUrl, StorageKeyError } from "./client.ts";
export type { BucketSettings, Download, UploadOptions } from "./client.ts";
export { type BucketFilter, type ObjectRow, readStorageRows, type StorageRows } from "./rows.ts";
export { backupFiles, DEFAULT_FILE_CONCURRENCY, DEFAULT_SMALL_FILE_BYTES, type FilesBackupOptions } from "./backup.ts";
export {
  FileMismatchError,
  FilesConflictError,
  type FileSelection,
  type FilesRestoreOptions,
  type FilesRestoreReport,
  restoreFiles,
  selectFiles,
} from "./restore.ts";
export { type FilesVerifyReport, verifyFiles } from "./verify.ts";
export { type BlobReferences, type BlobSweepReport, DEFAULT_BLOB_GRACE_MS, sweepBlobs } from "./sweep.ts";
export { runPool } from "./pool.ts";
export { ownedChunks, readExactly } from "./hashing.ts";
export { previousFilesManifest, recordFilesManifest } from "./latest.ts";
export { assertBucketsVisible, filesPhase, type FilesPhaseOptions } from "./phase.ts";
export { storageKeyFromEnv } from "./env.ts";
export { checkFiles } from "./checks.ts";

/**
 * Storage files in a `backup-export` job (`{"mode":"files","buckets":[…]}`): the snapshot's
 * `storage.objects` rows planned as batches (parts of kind `files`, claimed, leased and
 * retried like table chunks, so a killed invocation's batch is simply taken again), each batch
 * backed up through the one files pipeline (`source/storage` `backupFiles`: the same
 * content-addressed blobs as `lifeboat backup --files`), and the manifest's `files` section
 * assembled from the done batches.
 * @module
 */
import { createHash } from "node:crypto";
import type { Sql, Tx } from "../db/mod.ts";
import type { BucketEntry, FileEntry, FilesSection, SkippedFile } from "../format/mod.ts";
import type { SealConfig } from "../export/mod.ts";
import type { Store } from "../store/mod.ts";
import {
  assertBucketsVisible,
  backupFiles,
  type ObjectRow,
  readStorageRows,
  StorageApi,
  StorageApiError,
  StorageKeyError,
  storageKeyFromEnv,
} from "../source/storage/mod.ts";
import { JobError } from "./job_error.ts";
import type { DonePart, Job, Part } from "./repo.ts";

/** Files a batch reads at once inside the function. */
const EDGE_FILE_CONCURRENCY = 4;

/** A done batch's details: its manifest entries. */
interface BatchResult {
  objects: FileEntry[];
  skipped: SkippedFile[];
  bytesRead: number;
  reused: number;
}

/** The files a previous backup saw, as `backupFiles` takes them. */
export type PreviousFiles = { files: { blobNamespace: string; objects: FileEntry[] } };

/**
 * Plans a files job's parts inside the snapshot `tx` runs in: the rows of `buckets` (all when
 * empty) in batches of at most `batch` files or about `batchBytes` bytes, at least one part (an
 * empty batch for a bucket without files). Returns the buckets' entries. Throws a 404
 * {@link JobError} for a bucket that does not exist (the transaction rolls back: no job).
 */
export async function planFileParts(
  tx: Tx,
  runId: number,
  buckets: string[],
  batch: number,
  batchBytes: number,
): Promise<BucketEntry[]> {
  const rows = await readStorageRows(tx, buckets.length ? buckets : null);
  const missing = buckets.filter((b) => !rows.buckets.some((x) => x.id === b));
  if (missing.length) {
    throw new JobError(404, "bucket_not_found",
      `no bucket ${missing.join(", ")} in storage.buckets: create it, or leave it out of "buckets" (and of the setting files.buckets)`);
  }
  let chunk = 0, bytes = 0;
  let current: ObjectRow[] = [];
  const flush = async () => {
    await tx`
      insert into lifeboat.backup_parts (run_id, kind, table_schema, table_name, chunk, est_bytes, details)
      values (${runId}, 'files', '', 'files', ${chunk++}, ${bytes}, ${JSON.stringify({ rows: current })}::text::jsonb)`;
    current = [];
    bytes = 0;
  };
  for (const r of rows.objects) {
    if (current.length && (current.length >= batch || bytes + r.size > batchBytes)) await flush();
    current.push(r);
    bytes += r.size;
  }
  if (current.length || chunk === 0) await flush();
  return rows.buckets;
}

/** The project's Storage as the function's environment names it (SUPABASE_URL and its secret key). */
export function storageFromEnv(env: { get(name: string): string | undefined } = Deno.env): () => StorageApi {
  return () => new StorageApi({ url: env.get("LIFEBOAT_STORAGE_URL") || env.get("SUPABASE_URL") || "", key: storageKeyFromEnv(env) });
}

/**
 * Opens the project's Storage and checks it before any work: the key is the service key and
 * sees every bucket the job covers. A {@link JobError} that says what to fix otherwise.
 */
export async function openFilesSource(sql: Sql, make: (() => StorageApi) | undefined, buckets: string[]): Promise<StorageApi> {
  if (!make) {
    throw new JobError(409, "storage_not_configured",
      "files need the project's Storage: the function has no SUPABASE_URL and secret key in its environment");
  }
  try {
    const api = make();
    await api.probe();
    const ids = (await sql`select id from storage.buckets where ${buckets.length === 0} or id = any(${buckets}::text[])`)
      .map((r) => String(r.id));
    await assertBucketsVisible(api, ids);
    return api;
  } catch (err) {
    if (err instanceof StorageKeyError) {
      throw new JobError(409, "storage_key_rejected",
        `Storage: ${err.message} (the function reads it from SUPABASE_SECRET_KEYS or SUPABASE_SERVICE_ROLE_KEY)`);
    }
    if (err instanceof StorageApiError) throw new JobError(503, "storage_unavailable", `Storage: ${err.message}; try again later`);
    throw err;
  }
}

/**
 * What the newest completed files job of the same target and blob namespace saw of each of
 * `buckets`: files whose row is unchanged keep that blob without a read. Only the newest per
 * bucket, which retention always keeps (lifeboat.files_retention), so a reused blob is never
 * one the sweep may delete.
 */
export async function previousFiles(sql: Sql, job: Job, buckets: string[]): Promise<PreviousFiles | null> {
  const ns = job.metadata.blob_ns;
  if (!ns || buckets.length === 0) return null;
  const rows = await sql`
    with newest as (
      select distinct on (b.bucket) b.bucket, r.id
        from lifeboat.backup_runs r
       cross join lateral jsonb_array_elements_text(coalesce(r.metadata -> 'file_buckets', '[]'::jsonb)) b(bucket)
       where r.kind = 'files' and r.state = 'completed' and r.target = ${job.target} and r.id <> ${job.id}
         and r.metadata ->> 'blob_ns' = ${ns} and b.bucket = any(${buckets}::text[])
       order by b.bucket, r.finished_at desc, r.id desc)
    select e as entry
      from newest n
      join lifeboat.backup_parts p on p.run_id = n.id and p.kind = 'files' and p.state = 'done'
     cross join lateral jsonb_array_elements(coalesce(p.details -> 'objects', '[]'::jsonb)) e
     where e ->> 'bucket' = n.bucket`;
  return { files: { blobNamespace: ns, objects: rows.map((r) => r.entry as FileEntry) } };
}

/** Backs a claimed batch up; returns what its completion records (no object of its own: size 0). */
export async function backupFileBatch(
  sql: Sql,
  part: Part,
  o: { api: StorageApi; store: Store; seal: SealConfig; previous: PreviousFiles | null },
): Promise<{ key: string; size: number; sha256: string; rows: number; plainBytes: number; details: BatchResult }> {
  const [r] = await sql`select details -> 'rows' as rows from lifeboat.backup_parts where id = ${part.id}`;
  const rows = (r?.rows ?? []) as ObjectRow[];
  // 4 files at once (the CLI reads 8): an invocation has 256 MB for the whole runtime.
  const s = await backupFiles({ buckets: [], objects: rows }, { api: o.api, store: o.store, seal: o.seal, previous: o.previous, concurrency: EDGE_FILE_CONCURRENCY });
  const details: BatchResult = { objects: s.objects, skipped: s.skipped, bytesRead: s.bytesRead, reused: s.reused };
  return {
    key: `files-${String(part.chunk).padStart(6, "0")}`,
    size: 0,
    sha256: createHash("sha256").update(JSON.stringify(details)).digest("hex"),
    rows: s.objects.length,
    plainBytes: s.bytesRead,
    details,
  };
}

const order = (a: { bucket: string; name: string }, b: { bucket: string; name: string }) =>
  a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** The manifest's files section from a files job's done batches (undefined for other jobs). */
export function filesSectionOf(job: Job, parts: DonePart[]): FilesSection | undefined {
  if (job.kind !== "files") return undefined;
  const objects: FileEntry[] = [], skipped: SkippedFile[] = [];
  let bytesRead = 0, reused = 0;
  for (const p of parts) {
    if (p.kind !== "files") continue;
    const d = p.details as Partial<BatchResult>;
    objects.push(...(d.objects ?? []));
    skipped.push(...(d.skipped ?? []));
    bytesRead += d.bytesRead ?? 0;
    reused += d.reused ?? 0;
  }
  return {
    blobNamespace: job.metadata.blob_ns ?? "",
    buckets: job.metadata.files?.buckets ?? [],
    objects: objects.sort(order),
    skipped: skipped.sort(order),
    bytesRead,
    reused,
  };
}

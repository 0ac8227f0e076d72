/**
 * The job bookkeeping the export function does in Postgres, one call per SQL function of
 * migration 20261122000600_lifeboat_export_jobs.sql. Runs on the bookkeeping connection,
 * never inside the (read-only) snapshot transaction.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { BucketEntry, Compression, ObjectKind } from "../format/mod.ts";
import type { SnapshotVisibility, StreamPosition, TableRef } from "../export/mod.ts";
import type { ExportPolicy } from "../export/mod.ts";

/** A job: a backup_runs row of origin `backup-export`. */
export interface Job {
  id: number;
  uuid: string;
  kind: "full" | "tables" | "files";
  label: string | null;
  target: string;
  state: "planned" | "running" | "completed" | "failed" | "pruned";
  startedAt: Date | null;
  error: string | null;
  manifestKey: string | null;
  consistent: boolean;
  metadata: JobMetadata;
}

/** Facts read once per job inside a snapshot, for the manifest. */
export interface JobFacts {
  snapshotId: string;
  lsn: string;
  /** What the facts' snapshot sees (absent in jobs planned before it was recorded). */
  visibility?: SnapshotVisibility;
  /** The change stream's slot at that snapshot. */
  stream?: StreamPosition | null;
  server: { version: string; versionNum: number; database: string; extensions: { name: string; version: string; schema: string }[] };
  sequences: { schema: string; name: string; lastValue: string | null; isCalled: boolean }[];
  matviews: TableRef[];
  /** Every table of the job. */
  tables: TableRef[];
  /** JSON of [schema, name] → lifeboat.fingerprint(). */
  fingerprints: Record<string, unknown>;
}

/** What a job keeps in backup_runs.metadata. */
export interface JobMetadata {
  origin: "backup-export";
  backup_id: string;
  recipients: string[];
  unencrypted: boolean;
  /**
   * The codec of every object of the job, fixed when it is planned so that every invocation
   * writes the same one. Absent in jobs planned before zstd existed: those wrote gzip.
   */
  compression?: Compression;
  excluded_schemas: string[];
  /** Namespace oids the export covers (the DDL functions' scope). */
  scope: number[];
  tables?: TableRef[];
  /** GoTrue's short-lived tables and audit log, copied on request (absent in older jobs: no). */
  include_auth_sessions?: boolean;
  include_auth_audit?: boolean;
  /** Vault secrets exported too (absent in older jobs: no). */
  include_vault?: boolean;
  facts?: JobFacts;
  /** A files job: the snapshot's buckets (their settings, for the manifest and a restore). */
  files?: { buckets: BucketEntry[] };
  /** A files job's bucket ids (what lifeboat.files_retention() keeps it by). */
  file_buckets?: string[];
  /** A files job's blob namespace (`files/<ns>/`, from its codec and recipients). */
  blob_ns?: string;
  invocations?: number;
  finalizer?: string;
}

/** The codec a job writes (see {@link JobMetadata.compression}). */
export function jobCompression(meta: JobMetadata): Compression {
  return meta.compression ?? "gzip";
}

/** The encryption and codec every invocation of a job writes with, as fixed when it was planned. */
export function jobPolicy(meta: JobMetadata): ExportPolicy {
  return { encrypted: !meta.unencrypted, recipients: meta.unencrypted ? [] : meta.recipients, compression: jobCompression(meta) };
}

/** What a part stores: a schema object, a table chunk, or a batch of Storage files. */
export type PartKind = ObjectKind | "files";

/** A claimed part. */
export interface Part {
  id: number;
  kind: PartKind;
  tableSchema: string;
  tableName: string;
  chunk: number;
  keyColumns: string[] | null;
  lower: (string | null)[] | null;
  upper: (string | null)[] | null;
  attempt: number;
  estBytes: number;
}

/** A done part, as the manifest needs it. */
export interface DonePart {
  kind: PartKind;
  tableSchema: string;
  tableName: string;
  chunk: number;
  key: string;
  size: number;
  sha256: string;
  rows: number;
  plainBytes: number;
  snapshotId: string;
  lsn: string;
  details: Record<string, unknown>;
}

/** Live progress of a job. */
export interface JobProgress {
  state: Job["state"];
  parts_total: number;
  parts_done: number;
  parts_claimed: number;
  tables_total: number;
  tables_done: number;
  bytes_done: number;
  stored_bytes_done: number;
  rows_done: number;
  est_bytes_remaining: number;
  snapshots: number;
}

// deno-lint-ignore no-explicit-any
function toJob(r: any): Job {
  return {
    id: Number(r.id),
    uuid: String(r.run_uuid),
    kind: r.kind,
    label: r.label ?? null,
    target: r.target,
    state: r.state,
    startedAt: r.started_at ?? null,
    error: r.error ?? null,
    manifestKey: r.manifest_key ?? null,
    consistent: Boolean(r.consistent),
    metadata: r.metadata,
  };
}

// deno-lint-ignore no-explicit-any
function toPart(r: any): Part {
  return {
    id: Number(r.id),
    kind: r.kind,
    tableSchema: r.table_schema,
    tableName: r.table_name,
    chunk: Number(r.chunk),
    keyColumns: r.key_columns ?? null,
    lower: r.lower_bound ?? null,
    upper: r.upper_bound ?? null,
    attempt: Number(r.attempt),
    estBytes: Number(r.est_bytes ?? 0),
  };
}

const JOB_COLS = "id, run_uuid, kind, label, target, state, started_at, error, manifest_key, consistent, metadata";

/** A job by its id (uuid), or null. */
export async function jobByUuid(sql: Sql, uuid: string): Promise<Job | null> {
  const [r] = await sql.unsafe(
    `select ${JOB_COLS} from lifeboat.backup_runs where run_uuid = $1 and (metadata ->> 'origin') = 'backup-export'`,
    [uuid],
  );
  return r ? toJob(r) : null;
}

/** The active (planned or running) job of a target, or null. */
export async function activeJob(sql: Sql, target: string): Promise<Job | null> {
  const [r] = await sql.unsafe(
    `select ${JOB_COLS} from lifeboat.backup_runs
     where target = $1 and state in ('planned', 'running') and (metadata ->> 'origin') = 'backup-export'`,
    [target],
  );
  return r ? toJob(r) : null;
}

/** Reloads a job. */
export async function reloadJob(sql: Sql, job: Job): Promise<Job> {
  return (await jobByUuid(sql, job.uuid)) ?? job;
}

/** Counts one more invocation on a job. */
export async function countInvocation(sql: Sql, job: Job): Promise<void> {
  await sql`
    update lifeboat.backup_runs
    set metadata = jsonb_set(metadata, '{invocations}', to_jsonb(coalesce((metadata ->> 'invocations')::int, 0) + 1))
    where id = ${job.id}`;
}

/** Records the job's snapshot facts unless another invocation already did; returns the facts that count. */
export async function recordFacts(sql: Sql, job: Job, facts: JobFacts): Promise<JobFacts> {
  const [r] = await sql`
    update lifeboat.backup_runs set metadata = metadata || jsonb_build_object('facts', ${JSON.stringify(facts)}::text::jsonb)
    where id = ${job.id} and not metadata ? 'facts'
    returning metadata -> 'facts' as facts`;
  if (r) return r.facts as JobFacts;
  const [x] = await sql`select metadata -> 'facts' as facts from lifeboat.backup_runs where id = ${job.id}`;
  return x.facts as JobFacts;
}

/** Claims the next part of a running job, or null. */
export async function claimPart(sql: Sql, job: Job, worker: string, lease: string): Promise<Part | null> {
  const [r] = await sql`select * from lifeboat.export_claim_part(${job.id}, ${worker}, ${lease}::interval)`;
  return r ? toPart(r) : null;
}

/** Completes a claimed part; false if the attempt was no longer current (nothing counted). */
export async function completePart(
  sql: Sql,
  part: Part,
  o: { key: string; size: number; sha256: string; rows: number; plainBytes: number; snapshotId: string; lsn: string; details?: unknown },
): Promise<boolean> {
  const [r] = await sql`
    select lifeboat.export_complete_part(${part.id}, ${part.attempt}, ${o.key}, ${o.size}, ${o.sha256}, ${o.rows},
      ${o.plainBytes}, ${o.snapshotId}, ${o.lsn}::pg_lsn, ${JSON.stringify(o.details ?? {})}::text::jsonb) as ok`;
  return Boolean(r.ok);
}

/** Hands a claimed part back without counting the attempt. */
export async function unclaimPart(sql: Sql, part: Part): Promise<void> {
  await sql`select lifeboat.export_unclaim_part(${part.id}, ${part.attempt})`;
}

/** Gives a part back after a failed attempt: 'pending', 'failed' (job failed too) or 'stale'. */
export async function releasePart(sql: Sql, part: Part, error: string, maxAttempts: number): Promise<string> {
  const [r] = await sql`select lifeboat.export_release_part(${part.id}, ${part.attempt}, ${error}, ${maxAttempts}) as s`;
  return String(r.s);
}

/** Fails a job loudly (alert); false if it was no longer active. */
export async function failJob(sql: Sql, job: Job, error: string): Promise<boolean> {
  const [r] = await sql`select lifeboat.export_fail_run(${job.id}, ${error}) as ok`;
  return Boolean(r.ok);
}

/** Live progress of a job. */
export async function jobProgress(sql: Sql, job: Job): Promise<JobProgress> {
  const [r] = await sql`select lifeboat.export_progress(${job.id}) as p`;
  const p = r.p as Record<string, unknown>;
  const n = (k: string) => Number(p[k] ?? 0);
  return {
    state: p.state as Job["state"],
    parts_total: n("parts_total"),
    parts_done: n("parts_done"),
    parts_claimed: n("parts_claimed"),
    tables_total: n("tables_total"),
    tables_done: n("tables_done"),
    bytes_done: n("bytes_done"),
    stored_bytes_done: n("stored_bytes_done"),
    rows_done: n("rows_done"),
    est_bytes_remaining: n("est_bytes_remaining"),
    snapshots: n("snapshots"),
  };
}

/** Takes the right to write the manifest (all parts done, no other live finalizer). */
export async function claimFinalize(sql: Sql, job: Job, worker: string, lease: string): Promise<boolean> {
  const [r] = await sql`select lifeboat.export_claim_finalize(${job.id}, ${worker}, ${lease}::interval) as ok`;
  return Boolean(r.ok);
}

/** Every done part of a job, in manifest order. */
export async function doneParts(sql: Sql, job: Job): Promise<DonePart[]> {
  const rows = await sql`
    select kind, table_schema, table_name, chunk, object_key, size_bytes, sha256, row_count, plain_bytes,
           snapshot_id, snapshot_lsn::text as lsn, details
    from lifeboat.backup_parts where run_id = ${job.id} and state = 'done'
    order by case kind when 'roles' then 0 when 'pre-data' then 1 when 'data' then 2 when 'post-data' then 3 else 4 end,
             table_schema, table_name, chunk`;
  return rows.map((r) => ({
    kind: r.kind as PartKind,
    tableSchema: String(r.table_schema),
    tableName: String(r.table_name),
    chunk: Number(r.chunk),
    key: String(r.object_key),
    size: Number(r.size_bytes),
    sha256: String(r.sha256),
    rows: Number(r.row_count),
    plainBytes: Number(r.plain_bytes ?? 0),
    snapshotId: String(r.snapshot_id ?? ""),
    lsn: String(r.lsn ?? "0/0"),
    details: (r.details ?? {}) as Record<string, unknown>,
  }));
}

/** Marks the job completed after its manifest is stored (only its finalizer can). */
export async function completeJob(sql: Sql, job: Job, worker: string, manifestKey: string, consistent: boolean): Promise<boolean> {
  const [r] = await sql`select lifeboat.export_complete_run(${job.id}, ${worker}, ${manifestKey}, ${consistent}) as ok`;
  return Boolean(r.ok);
}

/**
 * Creating a job: one transaction that inserts the backup_runs row and plans every part,
 * reading the catalogs in the creating invocation's snapshot (imported with
 * SET TRANSACTION SNAPSHOT), so the plan matches the data that invocation reads. The
 * partial unique index on active jobs per target makes a concurrent second trigger wait
 * for this transaction and then join the job instead of starting another.
 * @module
 */
import type { Sql, Tx } from "../db/mod.ts";
import { blobNamespace, newBackupId } from "../format/mod.ts";
import { listTables } from "../export/mod.ts";
import { copiedPlatformTables, readSchemaScripts } from "../export/mod.ts";
import type { Selection } from "../export/mod.ts";
import { activeRunFor, TargetBusyError } from "../export/mod.ts";
import { insertRun } from "../export/mod.ts";
import { adoptSnapshot } from "../export/mod.ts";
import type { ExportRequest } from "./request.ts";
import { type ExportConfig, jobCodec } from "./config.ts";
import { activeJob, type Job, jobByUuid, type JobMetadata } from "./repo.ts";
import { planFileParts } from "./files.ts";

/** Schema objects every job stores besides its data, one part each. */
const SCHEMA_PARTS = ["roles", "pre-data", "post-data", "finalize"] as const;

/** The selection a job exports (a files job: no table). */
export function jobSelection(meta: JobMetadata): Selection {
  if (meta.file_buckets) return { tables: [] };
  const platform = {
    includeAuthSessions: !!meta.include_auth_sessions,
    includeAuthAudit: !!meta.include_auth_audit,
    includeVault: !!meta.include_vault,
  };
  return meta.tables && meta.tables.length ? { tables: meta.tables, ...platform } : platform;
}

const isConflict = (err: unknown) => {
  const code = (err as { code?: string })?.code;
  return code === "23505" || code === "40001";
};

/**
 * Creates and plans a job in `snapshotId`, or returns the active job of the target when
 * another trigger got there first (`joined: true`). Throws {@link TargetBusyError} when a
 * `lifeboat backup` run is writing into the target.
 */
export async function createOrJoinJob(
  sql: Sql,
  req: ExportRequest,
  cfg: ExportConfig,
  target: string,
  snapshotId: string,
): Promise<{ job: Job; joined: boolean }> {
  const existing = await activeJob(sql, target);
  if (existing) return { job: existing, joined: true };
  let uuid: string | null = null;
  try {
    uuid = await sql.begin("isolation level repeatable read", async (tx) => {
      await adoptSnapshot(tx, snapshotId);
      if (req.mode === "files") return await planFilesJob(tx, req, cfg, target);
      const platform = {
        includeAuthSessions: cfg.includeAuthSessions,
        includeAuthAudit: cfg.includeAuthAudit,
        // Decrypted secrets only ever go into an encrypted backup.
        includeVault: cfg.includeVault && !cfg.unencrypted,
      };
      const selection: Selection = req.tables.length ? { tables: req.tables, ...platform } : platform;
      // The engine's scope rules (managed schemas left out) decide what is exported.
      const scripts = await readSchemaScripts(tx, selection);
      const tables = await listTables(tx, selection, scripts.scope, copiedPlatformTables(scripts.platform));
      const meta: JobMetadata = {
        origin: "backup-export",
        backup_id: newBackupId(),
        recipients: cfg.unencrypted ? [] : cfg.recipients,
        unencrypted: cfg.unencrypted,
        compression: jobCodec(cfg),
        excluded_schemas: scripts.excludedSchemas,
        scope: scripts.scope,
        ...(req.tables.length ? { tables: req.tables } : {}),
        include_auth_sessions: cfg.includeAuthSessions,
        include_auth_audit: cfg.includeAuthAudit,
        include_vault: platform.includeVault,
        invocations: 0,
      };
      // null: another run holds the target; its job is joined, or the request refused, below.
      const run = await insertRun(tx, { kind: req.mode, label: req.label, target, tables: req.tables, metadata: meta });
      if (!run) return null;
      for (const kind of SCHEMA_PARTS) {
        await tx`
          insert into lifeboat.backup_parts (run_id, kind, table_schema, table_name, chunk, est_bytes)
          values (${run.id}, ${kind}, '', ${kind}, 0, 0)`;
      }
      for (const t of tables) {
        await tx`select lifeboat.export_plan_table(${run.id}, ${t.schema}, ${t.name}, ${cfg.chunkBytes})`;
      }
      await tx`
        update lifeboat.backup_runs
        set parts_total = (select count(*) from lifeboat.backup_parts where run_id = ${run.id})
        where id = ${run.id}`;
      return run.uuid;
    });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  if (uuid) {
    const job = await jobByUuid(sql, uuid);
    if (job) return { job, joined: false };
  }
  const other = await activeJob(sql, target);
  if (other) return { job: other, joined: true };
  // The target is held by a run that is not a job (a `lifeboat backup` run): not joinable.
  const holder = await activeRunFor(sql, target);
  if (holder) throw new TargetBusyError(holder);
  throw new Error("could not create or find the export job; try again");
}

/** Plans a files job in the snapshot: one part per batch of files, no schema or table part. */
async function planFilesJob(tx: Tx, req: ExportRequest, cfg: ExportConfig, target: string): Promise<string | null> {
  const compression = jobCodec(cfg);
  const recipients = cfg.unencrypted ? [] : cfg.recipients;
  const meta: JobMetadata = {
    origin: "backup-export",
    backup_id: newBackupId(),
    recipients,
    unencrypted: cfg.unencrypted,
    compression,
    excluded_schemas: [],
    scope: [],
    include_auth_sessions: false,
    include_auth_audit: false,
    include_vault: false,
    blob_ns: await blobNamespace(compression, recipients),
    file_buckets: req.buckets,
    invocations: 0,
  };
  const run = await insertRun(tx, { kind: "files", label: req.label, target, metadata: meta });
  if (!run) return null;
  // A files job's parts are batches of the snapshot's storage.objects rows; the bytes of a
  // batch stay within a quarter of an invocation's byte budget and 32 MiB, which an invocation
  // seals well within its CPU budget (one bigger file is a batch alone).
  const batchBytes = Math.max(1, Math.min(Math.floor(cfg.budget.bytes / 4), 32 * 1024 * 1024));
  const buckets = await planFileParts(tx, run.id, req.buckets, cfg.filesBatch, batchBytes);
  await tx`
    update lifeboat.backup_runs
    set parts_total = (select count(*) from lifeboat.backup_parts where run_id = ${run.id}),
        metadata = metadata || jsonb_build_object('files', jsonb_build_object('buckets', ${JSON.stringify(buckets)}::text::jsonb),
                                                  'file_buckets', ${JSON.stringify(buckets.map((b) => b.id))}::text::jsonb)
    where id = ${run.id}`;
  return run.uuid;
}

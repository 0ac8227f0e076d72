/**
 * One invocation's work on a job, inside its snapshot transaction: read the job's facts
 * (once per job), then claim parts and export them through the export engine until the
 * budget says stop or nothing is left to claim. Every part is completed fenced by its
 * attempt, so a part re-claimed after a crash is never counted twice.
 * @module
 */
import type { Sql, Tx } from "../db/mod.ts";
import type { Store } from "../store/mod.ts";
import { listSequences, listTables, readServerInfo, type TableInfo } from "../export/mod.ts";
import { copiedPlatformTables, type SchemaScripts } from "../export/mod.ts";
import { readFingerprints } from "../export/mod.ts";
import { sealOf } from "../export/mod.ts";
import { schemaObjectText, storeSchemaObject } from "../export/mod.ts";
import { lockTables, type Snapshot } from "../export/mod.ts";
import { copyTableToParts } from "../export/mod.ts";
import type { BudgetMeter, StopReason } from "./budget.ts";
import type { ExportConfig } from "./config.ts";
import { jobSelection } from "./plan.ts";
import { claimPart, completePart, type Job, type JobFacts, jobPolicy, type Part, recordFacts, releasePart, unclaimPart } from "./repo.ts";
import { safeErrorMessage } from "./errors.ts";
import { backupFileBatch, type PreviousFiles } from "./files.ts";
import type { StorageApi } from "../source/storage/mod.ts";

/** Reads the job's facts in this snapshot and records them unless another invocation did first. */
export async function ensureFacts(
  sql: Sql,
  tx: Tx,
  job: Job,
  snap: Snapshot,
  scripts: () => Promise<SchemaScripts>,
): Promise<JobFacts> {
  if (job.metadata.facts) return job.metadata.facts;
  if (job.kind === "files") {
    // A files job reads no table: the server it ran against is the only fact.
    const none: JobFacts = { snapshotId: snap.id, lsn: snap.lsn, server: await readServerInfo(tx), sequences: [], matviews: [], tables: [], fingerprints: {} };
    return await recordFacts(sql, job, none);
  }
  const selection = jobSelection(job.metadata);
  const scope = job.metadata.scope;
  const tables = await listTables(tx, selection, scope, copiedPlatformTables((await scripts()).platform));
  // As pg_dump does: every table held before any is read, and none rewritten since the snapshot.
  await lockTables(tx, tables);
  const fingerprints = await readFingerprints(tx, tables, { ifInstalled: true });
  const facts: JobFacts = {
    snapshotId: snap.id,
    lsn: snap.lsn,
    visibility: snap.visibility,
    stream: snap.stream,
    server: await readServerInfo(tx),
    sequences: await listSequences(tx, selection, scope, tables),
    matviews: (await scripts()).matviews,
    tables: tables.map((t) => ({ schema: t.schema, name: t.name })),
    fingerprints,
  };
  return await recordFacts(sql, job, facts);
}

/** What an invocation did. */
export interface WorkResult {
  partsDone: number;
  /** Parts whose completion was refused (the attempt had been superseded). */
  partsFenced: number;
  stoppedBy: StopReason | "done" | "error" | "job_stopped";
  error?: string;
}

/** Everything the worker needs. */
export interface WorkContext {
  sql: Sql;
  tx: Tx;
  store: Store;
  job: Job;
  facts: JobFacts;
  snap: Snapshot;
  cfg: ExportConfig;
  budget: BudgetMeter;
  worker: string;
  /** The schema scripts in this snapshot (read once, on first use). */
  scripts: () => Promise<SchemaScripts>;
  /** A files job's Storage and what the previous backup of its buckets saw (read once, on first use). */
  files?: { api: StorageApi; previous: () => Promise<PreviousFiles | null> };
  /** Called after each part, e.g. by tests that crash at chosen points. */
  onPart?: (part: Part) => void | Promise<void>;
}

const NO_SPLIT = Number.MAX_SAFE_INTEGER;

/** Claims and exports parts until the budget or the work runs out. */
export async function workParts(ctx: WorkContext): Promise<WorkResult> {
  const { sql, tx, store, job, cfg, budget } = ctx;
  const prefix = `${job.metadata.backup_id}/`;
  // The job's policy, never this runtime's default codec: every invocation writes the same one.
  const seal = sealOf(jobPolicy(job.metadata));
  const tableInfo = new Map<string, TableInfo>();
  const result: WorkResult = { partsDone: 0, partsFenced: 0, stoppedBy: "done" };

  const table = async (schema: string, name: string): Promise<TableInfo> => {
    const k = JSON.stringify([schema, name]);
    let t = tableInfo.get(k);
    if (!t) {
      // Planned tables only; auth and storage ones are outside the DDL scope. Locked when first
      // reached (the lock_timeout bounds the wait; this one session is the only reader), and a
      // table truncated since this invocation's snapshot fails the part, which a later
      // invocation retries in its own snapshot, instead of being read as empty.
      [t] = await listTables(tx, { tables: [{ schema, name }] }, job.metadata.scope, [{ schema, name }]);
      await lockTables(tx, [t]);
      tableInfo.set(k, t);
    }
    return t;
  };

  for (;;) {
    const spent = budget.wouldExceed(0);
    if (spent) {
      result.stoppedBy = spent;
      break;
    }
    const part = await claimPart(sql, job, ctx.worker, cfg.partLease);
    if (!part) break;
    const over = budget.wouldExceed(part.kind === "data" || part.kind === "files" ? part.estBytes : 0);
    if (over) {
      await unclaimPart(sql, part);
      result.stoppedBy = over;
      break;
    }
    if (part.attempt > cfg.maxAttempts) {
      await releasePart(sql, part, `gave up after ${part.attempt - 1} attempts (each ended without completing)`, cfg.maxAttempts);
      result.stoppedBy = "job_stopped";
      result.error = "a part failed too many times; the job was marked failed";
      break;
    }
    const started = performance.now();
    const cpuStart = budget.cpuMs();
    try {
      let out: { key: string; size: number; sha256: string; rows: number; plainBytes: number; details?: unknown };
      if (part.kind === "files") {
        if (!ctx.files) throw new Error("a files part, but this invocation has no Storage source");
        out = await backupFileBatch(sql, part, { api: ctx.files.api, store, seal, previous: await ctx.files.previous() });
      } else if (part.kind === "data") {
        const t = await table(part.tableSchema, part.tableName);
        const ranged = part.keyColumns && (part.lower || part.upper);
        const [p] = await copyTableToParts(
          tx,
          t,
          { store, prefix, seal, partBytes: NO_SPLIT },
          {
            firstPart: part.chunk,
            range: ranged ? { keyColumns: part.keyColumns!, lower: part.lower, upper: part.upper } : undefined,
          },
        );
        out = { key: p.relKey, size: p.size, sha256: p.sha256, rows: p.rows, plainBytes: p.plainBytes };
      } else {
        const text = await schemaObjectText(part.kind, ctx.scripts, ctx.facts);
        let details: unknown = {};
        if (part.kind === "roles") {
          const s = await ctx.scripts();
          details = { passwordsNotExported: s.passwordsNotExported, excludedSchemas: s.excludedSchemas, platform: s.platform };
        }
        const w = await storeSchemaObject(store, prefix, part.kind, text, seal);
        out = { key: w.key, size: w.size, sha256: w.sha256, rows: 0, plainBytes: w.plainBytes, details };
      }
      const ok = await completePart(sql, part, { ...out, snapshotId: ctx.snap.id, lsn: ctx.snap.lsn });
      budget.record({
        plainBytes: out.plainBytes,
        estBytes: part.kind === "data" || part.kind === "files" ? part.estBytes : null,
        wallMs: performance.now() - started,
        cpuMs: budget.cpuMs() - cpuStart,
      });
      if (ok) result.partsDone++;
      else {
        // Superseded: another worker re-claimed the part after our lease ran out. The
        // object key is the same, so the object is theirs now; leave it alone.
        result.partsFenced++;
      }
      await ctx.onPart?.(part);
    } catch (err) {
      const message = safeErrorMessage(err);
      const state = await releasePart(sql, part, message, cfg.maxAttempts).catch(() => "unknown");
      result.stoppedBy = state === "failed" ? "job_stopped" : "error";
      result.error = message;
      break;
    }
  }
  return result;
}

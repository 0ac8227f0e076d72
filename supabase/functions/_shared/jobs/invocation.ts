/**
 * One `backup-export` invocation, start to end: read the settings, sweep stale jobs, find
 * or create the job, take a snapshot, work parts within the budget, finish the job when
 * its last part is done (manifest, then retention), or trigger the continuation when the
 * budget ran out with work left. Returns the progress the function reports.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { openStore, type Store } from "../store/mod.ts";
import { applyRetention, type RetentionReport } from "../retention/mod.ts";
import { BudgetMeter } from "./budget.ts";
import { checkEncryption, ConfigError, type ExportConfig, loadExportConfig } from "./config.ts";
import { requireSigningKey } from "./signing_key.ts";
import { finalizeJob, type FinalizeResult } from "./finalize.ts";
import { createOrJoinJob, jobSelection } from "./plan.ts";
import { readSchemaScripts, type SchemaScripts } from "../export/mod.ts";
import { TargetBusyError } from "../export/mod.ts";
import { sweepStaleRuns } from "../export/mod.ts";
import { exportSnapshot } from "../export/mod.ts";
import { activeJob, countInvocation, type Job, jobByUuid, type JobProgress, jobProgress, reloadJob } from "./repo.ts";
import type { ExportRequest } from "./request.ts";
import { safeErrorMessage } from "./errors.ts";
import { ensureFacts, type WorkResult, workParts } from "./worker.ts";
import { JobError } from "./job_error.ts";
import { checkTarget, openTarget } from "./target.ts";
import { openFilesSource, previousFiles, type PreviousFiles } from "./files.ts";
import type { StorageApi } from "../source/storage/mod.ts";

export { JobError } from "./job_error.ts";

/** What the invocation needs from its environment. */
export interface InvocationDeps {
  /** Bookkeeping connection (autocommit). */
  sql: Sql;
  /** Connection for the snapshot transaction. */
  dataSql: Sql;
  /** Opens the store for a target (default: openStore). */
  openStore?: (target: string) => Store;
  /** This invocation's worker name (claims are recorded under it). */
  worker: string;
  /** Fires the continuation; absent = never continue. */
  continueJob?: (body: { mode: string; resume: string }) => Promise<"triggered" | "failed">;
  /** Clock for retention (default: now). */
  now?: () => Date;
  /** CPU clock override for the budget. */
  cpuMs?: () => number | null;
  /** The project's Storage, for files jobs (the handler builds it from SUPABASE_URL and the secret key). */
  storage?: () => StorageApi;
}

/** The JSON progress the function returns. */
export interface InvocationReport {
  job: string | null;
  backupId: string | null;
  state: Job["state"] | "idle";
  joined: boolean;
  kind?: Job["kind"];
  tables: { done: number; total: number };
  parts: { done: number; total: number };
  bytes: { done: number; stored: number; estimatedRemaining: number };
  rows: number;
  estimatedInvocationsRemaining: number;
  consistent: boolean | null;
  manifest: string | null;
  invocation: {
    worker: string;
    partsDone: number;
    partsFenced: number;
    bytes: number;
    wallMs: number;
    cpuMs: number;
    peakRssBytes: number;
    peakHeapBytes: number;
    stoppedBy: string;
    budget: { wallMs: number; cpuMs: number; bytes: number };
  };
  continuation: "triggered" | "failed" | "not_needed" | "disabled";
  /** `held`: backups outside the policy kept because the store's lock still protects them. */
  retention?: { kept: number; pruned: number; orphansCleaned: number; held: number };
  error?: string;
}

/** Runs one invocation. Throws ConfigError, JobError, SelectionError; other errors are the caller's 5xx. */
export async function runInvocation(req: ExportRequest, deps: InvocationDeps): Promise<InvocationReport> {
  const cfg = await loadExportConfig(deps.sql);
  const budget = new BudgetMeter(cfg.budget, { cpuMs: deps.cpuMs });
  if (!cfg.target) {
    throw new ConfigError(
      "no export target configured: set lifeboat.settings export.target to \"s3://bucket/prefix\" (S3 credentials in the LIFEBOAT_S3_* function secrets)",
    );
  }
  const target = cfg.target;
  const open = deps.openStore ?? ((t: string) => openStore(t));
  const stores = new Map<string, Store>();
  // A resumed job keeps writing where it started, even if export.target changed since.
  const storeOf = (t: string) => stores.get(t) ?? stores.set(t, openTarget(t, open)).get(t)!;
  storeOf(target);
  await sweepStaleRuns(deps.sql);

  // Resuming a given job, or whichever job is active; a completed or failed job is reported.
  let job: Job | null = null;
  if (typeof req.resume === "string") {
    job = await jobByUuid(deps.sql, req.resume);
    if (!job) throw new JobError(404, "job_not_found", `no export job ${req.resume}: start one with {"mode":"full"}`);
    if (job.state === "failed") {
      throw new JobError(409, "job_failed", `export job ${job.uuid} failed (${job.error ?? "no reason recorded"}); start a new one with {"mode":"full"}`);
    }
  } else if (req.resume === true) {
    job = await activeJob(deps.sql, target);
    if (!job) return idleReport(deps.worker, cfg, budget);
  } else {
    checkEncryption(cfg);
    // Every backup is signed by its writer: no key, no job (unless export.allow_unsigned).
    await requireSigningKey(deps.sql, cfg);
    // Before a job is created and holds the target: a target it cannot write to is refused now.
    await checkTarget(storeOf(target));
  }
  // Storage checked before any work: a files job never starts (or goes on) with a key Storage refuses.
  let api: StorageApi | null = null;
  const filesSource = (buckets: string[]) => openFilesSource(deps.sql, deps.storage, buckets);
  if (job?.kind === "files" && job.state === "running") api = await filesSource(job.metadata.file_buckets ?? []);
  else if (!job && req.mode === "files") api = await filesSource(req.buckets);

  let joined = job !== null && typeof req.resume !== "string" && req.resume !== true;
  let work: WorkResult = { partsDone: 0, partsFenced: 0, stoppedBy: "done" };
  if (!job || job.state === "running") {
    await deps.dataSql.begin("isolation level repeatable read, read only", async (tx) => {
      const snap = await exportSnapshot(tx);
      if (!job) {
        const r = await createOrJoinJob(deps.sql, req, cfg, target, snap.id).catch((err) => {
          if (err instanceof TargetBusyError) throw new JobError(409, "target_busy", err.message);
          throw err;
        });
        job = r.job;
        joined = r.joined;
      }
      if (job.state !== "running") return;
      if (job.kind === "files" && !api) api = await filesSource(job.metadata.file_buckets ?? []);
      await countInvocation(deps.sql, job);
      const j = job;
      let memo: Promise<SchemaScripts> | null = null;
      const scripts = () => (memo ??= readSchemaScripts(tx, jobSelection(j.metadata)));
      const facts = await ensureFacts(deps.sql, tx, j, snap, scripts);
      let previous: Promise<PreviousFiles | null> | null = null;
      const files = api ? { api, previous: () => (previous ??= previousFiles(deps.sql, j, j.metadata.file_buckets ?? [])) } : undefined;
      work = await workParts({ sql: deps.sql, tx, store: storeOf(j.target), job: j, facts, snap, cfg, budget, worker: deps.worker, scripts, files });
    });
  }
  const current = await reloadJob(deps.sql, job!);
  let progress = await jobProgress(deps.sql, current);
  let fin: FinalizeResult | null = null;
  let retention: RetentionReport | null = null;
  let continuation: InvocationReport["continuation"] = "not_needed";

  if (current.state === "running" && progress.parts_total > 0 && progress.parts_done === progress.parts_total) {
    fin = await finalizeJob(deps.sql, storeOf(current.target), current, deps.worker, cfg.partLease, deps.now);
    if (fin.state === "completed" && cfg.pruneAfterBackup) {
      try {
        retention = await applyRetention(deps.sql, storeOf(current.target), { target: current.target, now: deps.now?.() });
      } catch (err) {
        // The backup is complete; a failed prune is reported and retried after the next one.
        work.error = `backup completed, but retention failed: ${safeErrorMessage(err)}`;
      }
    }
  }
  const final = await reloadJob(deps.sql, current);
  progress = await jobProgress(deps.sql, final);
  if (final.state === "running" && ["wall", "cpu", "bytes"].includes(work.stoppedBy)) {
    if (!cfg.continueJobs || !deps.continueJob) continuation = "disabled";
    else {
      // Not awaited: the answer goes back now; the runtime keeps the call alive (waitUntil).
      deps.continueJob({ mode: final.kind, resume: final.uuid }).catch(() => {});
      continuation = "triggered";
    }
  }
  return report(final, progress, joined, work, budget, cfg, deps.worker, continuation, fin, retention);
}

function estimateRemaining(progress: JobProgress, work: WorkResult, budget: BudgetMeter, cfg: ExportConfig): number {
  const left = progress.parts_total - progress.parts_done;
  if (left <= 0) return 0;
  // From this invocation's pace when it did any parts, else from the byte budget.
  if (work.partsDone > 0 && budget.bytes > 0) {
    const byBytes = progress.est_bytes_remaining > 0 ? Math.ceil(progress.est_bytes_remaining / budget.bytes) : 0;
    return Math.max(1, byBytes, Math.ceil(left / work.partsDone));
  }
  return Math.max(1, Math.ceil(progress.est_bytes_remaining / cfg.budget.bytes));
}

function report(
  job: Job,
  p: JobProgress,
  joined: boolean,
  work: WorkResult,
  budget: BudgetMeter,
  cfg: ExportConfig,
  worker: string,
  continuation: InvocationReport["continuation"],
  fin: FinalizeResult | null,
  retention: RetentionReport | null,
): InvocationReport {
  budget.sampleMemory();
  const error = work.error ?? fin?.error ?? (job.state === "failed" ? job.error ?? undefined : undefined);
  return {
    job: job.uuid,
    backupId: job.metadata.backup_id,
    state: job.state,
    joined,
    kind: job.kind,
    tables: { done: p.tables_done, total: p.tables_total },
    parts: { done: p.parts_done, total: p.parts_total },
    bytes: { done: p.bytes_done, stored: p.stored_bytes_done, estimatedRemaining: p.est_bytes_remaining },
    rows: p.rows_done,
    estimatedInvocationsRemaining: job.state === "running" ? estimateRemaining(p, work, budget, cfg) : 0,
    consistent: job.state === "completed" ? job.consistent : null,
    manifest: job.manifestKey,
    invocation: {
      worker,
      partsDone: work.partsDone,
      partsFenced: work.partsFenced,
      bytes: budget.bytes,
      wallMs: Math.round(budget.wallMs()),
      cpuMs: Math.round(budget.cpuMs()),
      peakRssBytes: budget.peakRss,
      peakHeapBytes: budget.peakHeap,
      stoppedBy: work.stoppedBy,
      budget: cfg.budget,
    },
    continuation,
    ...(retention ? { retention: { kept: retention.kept, pruned: retention.pruned.length, orphansCleaned: retention.orphansCleaned.length, held: retention.held.length } } : {}),
    ...(error ? { error } : {}),
  };
}

function idleReport(worker: string, cfg: ExportConfig, budget: BudgetMeter): InvocationReport {
  return {
    job: null,
    backupId: null,
    state: "idle",
    joined: false,
    tables: { done: 0, total: 0 },
    parts: { done: 0, total: 0 },
    bytes: { done: 0, stored: 0, estimatedRemaining: 0 },
    rows: 0,
    estimatedInvocationsRemaining: 0,
    consistent: null,
    manifest: null,
    invocation: {
      worker, partsDone: 0, partsFenced: 0, bytes: 0, wallMs: Math.round(budget.wallMs()), cpuMs: Math.round(budget.cpuMs()),
      peakRssBytes: budget.peakRss, peakHeapBytes: budget.peakHeap, stoppedBy: "done", budget: cfg.budget,
    },
    continuation: "not_needed",
  };
}

/**
 * The one-shot driver with its run record: {@link exportBackup} wrapped in a
 * `lifeboat.backup_runs` row that holds the store (the target) while it runs. A run that
 * died without a trace and still holds the target is swept as stale first; a live one
 * refuses the export with {@link TargetBusyError}. The run is completed once the manifest is
 * stored, or failed with the caller's description of the error.
 * @module
 */
import { isConnectionError, type Sql } from "../db/mod.ts";
import { activeRunFor, TargetBusyError } from "./active_run.ts";
import { type NewRun, RunRecorder, sweepStaleRuns } from "./audit.ts";
import { exportBackup, type ExportOptions, type ExportResult } from "./engine.ts";

/**
 * The target a run into `store` is recorded under: the store location without trailing
 * slashes, local paths made absolute, so every run into one store (one-shot or edge job)
 * names it the same way.
 */
export function runTarget(store: string): string {
  const s = store.replace(/\/+$/, "");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith("/")) return s;
  return `${Deno.cwd().replace(/\/+$/, "")}/${s.replace(/^\.\//, "")}`;
}

/** The run could not be recorded (not because another run holds the target). */
export class RunNotRecordedError extends Error {
  constructor(cause: unknown) {
    super("the run could not be recorded in lifeboat.backup_runs", { cause });
    this.name = "RunNotRecordedError";
  }
}

/** Options of {@link recordedBackup}: the export's, and how its run is recorded. */
export interface RecordedBackupOptions extends Omit<ExportOptions, "id" | "onSnapshot" | "onObject"> {
  /** The backup id (the run's metadata names it too). */
  id: string;
  /** The connection for the run's rows (the export's own transactions are read-only). */
  audit: Sql;
  /** The run row: its target and metadata (kind, label and tables follow the export's options). */
  run: Pick<NewRun, "target" | "metadata">;
  /** Called once the run is recorded, before the export starts. */
  onRunStarted?: (runId: number) => void;
  /** The error message recorded in a failed run. */
  describeFailure: (err: unknown) => string;
  /**
   * How long to keep trying to record a failure while the database is unreachable
   * (default 15 s): an outage that ends within it leaves the run failed, not running.
   */
  recordFailureWithinMs?: number;
  /** Called when the failure could not be recorded (the database stayed unreachable). */
  onFailureNotRecorded?: (runId: number) => void;
}

/** What {@link recordedBackup} returns. */
export interface RecordedBackupResult extends ExportResult {
  runId: number;
  totals: { bytes: number; rows: number; parts: number };
}

/** Records the run, holding its target; a stale holder is swept once. */
async function startRun(audit: Sql, run: NewRun): Promise<RunRecorder> {
  let recorder: RunRecorder | null;
  try {
    recorder = await RunRecorder.start(audit, run);
    if (!recorder) {
      // A run that died without a trace holds the target until it is swept as stale.
      await sweepStaleRuns(audit).catch(() => {});
      recorder = await RunRecorder.start(audit, run);
    }
  } catch (err) {
    throw new RunNotRecordedError(err);
  }
  if (recorder) return recorder;
  const holder = await activeRunFor(audit, run.target).catch(() => null);
  if (holder) throw new TargetBusyError(holder);
  throw new RunNotRecordedError(new Error("another run held the target, and had ended by the time it was looked up: retry"));
}

/**
 * Runs one recorded export. Throws {@link TargetBusyError} when another run writes into the
 * target, {@link RunNotRecordedError} when the run cannot be recorded, and the export's own
 * error (after recording it) when the export fails.
 */
export async function recordedBackup(opts: RecordedBackupOptions): Promise<RecordedBackupResult> {
  const { audit, run, onRunStarted, describeFailure, recordFailureWithinMs, onFailureNotRecorded, ...exportOpts } = opts;
  const tables = opts.selection?.tables?.length ? opts.selection.tables : undefined;
  const recorder = await startRun(audit, {
    kind: tables ? "tables" : "full",
    label: opts.label ?? null,
    target: run.target,
    tables,
    metadata: run.metadata,
  });
  onRunStarted?.(recorder.runId);
  try {
    let snapshot = { id: "", lsn: "" };
    const result = await exportBackup({
      ...exportOpts,
      onSnapshot: async (s) => {
        snapshot = { id: s.snapshotId, lsn: s.lsn };
        await recorder.snapshot(s.snapshotId, s.lsn);
      },
      onObject: (o) => recorder.part(o),
    });
    const m = result.manifest;
    const totals = {
      bytes: m.tables.reduce((n, t) => n + t.bytes, 0),
      rows: m.tables.reduce((n, t) => n + t.rows, 0),
      parts: m.objects.filter((o) => o.kind === "data").length,
    };
    await recorder.completed({ manifestKey: result.manifestKey, manifestSha256: result.manifestSha256, tables: m.tables.length, ...totals, snapshotId: snapshot.id, lsn: snapshot.lsn, id: opts.id });
    return { ...result, runId: recorder.runId, totals };
  } catch (err) {
    const recorded = await whileReachable(() => recorder.failed(describeFailure(err)), recordFailureWithinMs ?? 15_000);
    if (!recorded) onFailureNotRecorded?.(recorder.runId);
    throw err;
  }
}

/**
 * Runs `write`, retrying while the database is unreachable (the client reconnects on the next
 * query), for up to `withinMs`; true once it succeeded. Other errors are not retried.
 */
async function whileReachable(write: () => Promise<void>, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (let wait = 250;; wait = Math.min(wait * 2, 2000)) {
    try {
      await write();
      return true;
    } catch (err) {
      if (!isConnectionError(err) || Date.now() + wait > deadline) return false;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

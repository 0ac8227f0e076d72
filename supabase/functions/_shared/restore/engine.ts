/**
 * The restore engine behind `lifeboat restore` and `lifeboat drill`: a Lifeboat backup,
 * whole or in part, into a target database, in pg_restore's order (roles, pre-data, data in
 * parallel, post-data, finalize), with every object's sha256 checked and every problem found
 * by pre-flight before anything is written, and ending with the fingerprints of the restored
 * tables compared with the manifest. Like pg_restore, a table's index builds start as soon as
 * its rows are in, while other tables still load; its ANALYZE and fingerprint follow them.
 * @module
 */
import { describeDbError, isConnectionError, type Sql } from "../db/mod.ts";
import type { Store } from "../store/mod.ts";
import type { ManifestTrust } from "../verify/mod.ts";
import { type Check, check, summarize, type Summary } from "../checks.ts";
import { RestoreAbort } from "./abort.ts";
import { checkInvalidIndexes, reportFingerprints, type TableResult } from "./check_phase.ts";
import { loadData } from "./data_phase.ts";
import type { LoadProgress } from "./load.ts";
import type { QName } from "./names.ts";
import { type FoundBackup, openBackup } from "./open_backup.ts";
import { manualStepsCheck } from "./manual_steps.ts";
import { type PlannedWrites, writesOf } from "./planned_writes.ts";
import { checkPlatformRows } from "./platform_rows.ts";
import { runPreflight } from "./preflight_phase.ts";
import { restoreFinalize, restorePostData, restorePreData, restoreRoles } from "./schema_phases.ts";
import { chooseTables, planRestore } from "./selection_plan.ts";
import { verifyAndReadScripts, verifyParts } from "./verify_objects.ts";

export type { TableResult } from "./check_phase.ts";

/** Restore phases, in order. */
export type Phase = "manifest" | "verify" | "preflight" | "roles" | "pre-data" | "data" | "post-data" | "finalize" | "check";

/** Progress events for a progress bar or JSON lines. */
export type RestoreEvent =
  | { event: "phase"; phase: Phase; detail?: string }
  | ({ event: "data" } & LoadProgress);

/** What to restore, from where, into what. */
export interface RestoreOptions {
  store: Store;
  /** Backup id; null = the latest complete backup. */
  id: string | null;
  identities: string[] | null;
  /** Which signing keys are trusted (none when absent: every backup is refused). */
  trust?: ManifestTrust;
  /** The target; its pool needs at least `jobs + 1` connections. */
  target: Sql;
  /** Partial restore: whole schemas. */
  schemas?: string[];
  /** Partial restore: single tables. */
  tables?: QName[];
  /** Restore the chosen tables into this schema instead of their own. */
  intoSchema?: string;
  /** Drop and replace the objects being restored when they exist. */
  clean?: boolean;
  /**
   * With `intoSchema`: write nothing else (no roles, schemas, extensions, shared types or
   * functions), for a drill inside the database the backup came from.
   */
  scratchOnly?: boolean;
  /** With `intoSchema`: platform tables are created like the target's own (selection_plan.ts). */
  platformLikeTarget?: boolean;
  /** Parallel COPY workers (default 2). */
  jobs?: number;
  /** Stop after pre-flight. */
  preflightOnly?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent) => void;
}

/** A restore's outcome. */
export interface RestoreReport {
  backupId: string | null;
  passed: boolean;
  /** Whether anything was written to the target. */
  wrote: boolean;
  summary: Summary;
  checks: Check[];
  tables: TableResult[];
  /** Milliseconds per phase. */
  timings: Partial<Record<Phase, number>>;
  rows: number;
  bytes: number;
  /** What the restore writes (or, with `preflightOnly`, would write), once it is planned. */
  planned?: PlannedWrites;
}

/**
 * Restores a backup, phase by phase (each in its own module): manifest (open_backup.ts,
 * selection_plan.ts), verify (verify_objects.ts, selection_plan.ts), preflight
 * (preflight_phase.ts), roles and pre-data (schema_phases.ts), data (data_phase.ts),
 * post-data and finalize (schema_phases.ts), check (check_phase.ts). Problems become error
 * checks; it throws only on programming errors.
 */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreReport> {
  const checks: Check[] = [];
  const timings: Partial<Record<Phase, number>> = {};
  const tables: TableResult[] = [];
  const jobs = Math.max(1, o.jobs ?? 2);
  let wrote = false;
  const found: FoundBackup = { id: o.id };
  let rows = 0;
  let bytes = 0;
  let plannedWrites: PlannedWrites | undefined;
  let t0 = performance.now();
  let current: Phase = "manifest";
  const phase = (p: Phase, detail?: string) => {
    t0 = performance.now();
    current = p;
    o.onEvent?.({ event: "phase", phase: p, detail });
  };
  const done = (p: Phase) => (timings[p] = Math.round(performance.now() - t0));
  try {
    // --- the backup, and what to restore ------------------------------------------------------
    phase("manifest");
    const { manifest: m, encrypted } = await openBackup(o, checks, found);
    const identities = encrypted ? o.identities : null;
    done("manifest");
    const chosen = chooseTables(m, o, checks);

    // --- integrity of everything about to be read, before anything is written ------------------
    phase("verify");
    const src = { store: o.store, manifest: m, concurrency: jobs + 2, signal: o.signal };
    const { scripts, verified } = await verifyAndReadScripts(src, identities, checks);
    const plan = await planRestore(o.target, m, scripts, o, chosen, checks);
    await verifyParts(src, plan.tasks.map((t) => t.object), verified, checks);
    done("verify");

    // --- pre-flight ---------------------------------------------------------------------------
    phase("preflight");
    const pf = await runPreflight(o.target, m, scripts.roles, plan, { jobs, clean: !!o.clean }, checks);
    await checkPlatformRows({ store: o.store, manifest: m, identities, target: o.target }, plan.tasks, !!o.clean, checks, o.signal);
    if (plan.tasks.some((t) => t.platform)) checks.push(manualStepsCheck(m));
    done("preflight");
    plannedWrites = writesOf(plan);
    if (o.preflightOnly) return finish();

    // --- roles, pre-data ----------------------------------------------------------------------
    phase("roles");
    if (!o.scratchOnly) await restoreRoles(o.target, scripts.roles, checks);
    done("roles");
    phase("pre-data");
    // Roles are created only when missing; the target counts as written from pre-data on.
    await restorePreData(o.target, plan.planPre, { clean: !!o.clean, existing: pf.result.existing, intoSchema: o.intoSchema }, checks);
    wrote = true;
    done("pre-data");

    // --- data, and each table's indexes, ANALYZE and fingerprint as soon as its rows are in --
    phase("data", `${plan.tasks.length} parts`);
    const data = await loadData(
      { store: o.store, manifest: m, identities, target: o.target },
      plan,
      { jobs, signal: o.signal, onProgress: (p) => o.onEvent?.({ event: "data", ...p }) },
      checks,
    );
    rows = data.rows;
    bytes = data.bytes;
    done("data");

    // --- post-data that spans tables, in the script's order --------------------------------
    phase("post-data");
    await restorePostData(o.target, data.postData, checks);
    done("post-data");
    phase("finalize");
    await restoreFinalize(o.target, data.finalize, checks);
    done("finalize");

    // --- checks -------------------------------------------------------------------------------
    phase("check");
    await checkInvalidIndexes(o.target, pf.targetSchemas, checks);
    reportFingerprints(plan.tables, plan.mapTarget, data.fingerprints, data.fingerprintState, tables, checks);
    done("check");
  } catch (err) {
    if (!(err instanceof RestoreAbort)) {
      const e = err as { message?: string };
      const lost = connectionErrorIn(err);
      checks.push(
        check(
          "restore",
          "error",
          found.manifest?.id ?? found.id ?? "backup",
          lost
            ? `the restore stopped: the target database went away during the ${current} phase (${describeDbError(lost)})`
            : `the restore stopped: ${e?.message ?? String(err)}`,
          (lost ? "Start the database again, then: " : "") + (wrote
            ? "The target holds a partial restore: restore again with --clean, or into a new empty database."
            : "Nothing was written to the target; fix the problem and run again."),
        ),
      );
    }
  }
  return finish();

  function finish(): RestoreReport {
    const summary = summarize(checks);
    return {
      backupId: found.manifest?.id ?? found.id, passed: summary.passed, wrote, summary, checks, tables, timings, rows, bytes,
      ...(plannedWrites ? { planned: plannedWrites } : {}),
    };
  }
}

/** The connection error `err` is or was caused by (a part's LoadError wraps it), else null. */
function connectionErrorIn(err: unknown): unknown {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isConnectionError(e)) return e;
  }
  return null;
}

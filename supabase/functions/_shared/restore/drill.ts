/**
 * Restore drills: restore a backup into a scratch database created for the purpose, compare
 * fingerprints, optionally run the user's pgTAP assertions against the copy, measure the
 * recovery time from start to verified against `lifeboat.recovery_time_objectives`, record the
 * result in `lifeboat.drills`, and always drop the scratch database afterwards.
 * @module
 */
import { connect, describeDbError, type Sql } from "../db/mod.ts";
import type { Store } from "../store/mod.ts";
import { idTime, type ManifestTrust } from "../verify/mod.ts";
import { type Check, check, findings, summarize, type Summary } from "../checks.ts";
import { type RestoreEvent, restoreBackup, type RestoreReport } from "./engine.ts";
import type { TableResult } from "./check_phase.ts";
import { parseQName, quoteIdent } from "./names.ts";
import { isPlatformTable } from "./platform_rows.ts";
import { applyPlatformStandIn } from "./platform_standin.ts";
import { libpqEnv } from "./pgdump.ts";

/** What to drill. */
export interface DrillOptions {
  store: Store;
  id: string | null;
  identities: string[] | null;
  /** Which signing keys are trusted (none when absent: every backup is refused). */
  trust?: ManifestTrust;
  /** The source database: creates the scratch database and receives the record. */
  sourceUrl: string;
  /** Directory of *.test.sql pgTAP files to run against the restored copy. */
  assertionsDir?: string;
  /** recovery_time_objectives.system to measure against (default 'database'). */
  system?: string;
  jobs?: number;
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent | { event: "drill"; step: string; detail?: string }) => void;
  /** Where the drill runs, as recorded (default cli). */
  ranIn?: DrillRunner["ranIn"];
  /** Free text naming the runner (e.g. a CI job), recorded with the drill. */
  runner?: string;
  /** The project to report the drill to, when it is not the source (lifeboat.report_drill()). */
  reportUrl?: string;
  /**
   * Restores into the scratch database instead of {@link restoreBackup} (a point-in-time
   * drill: `pitr/` restores the chain's backup and replays the stream); same report shape.
   */
  restore?: (target: Sql) => Promise<RestoreReport>;
}

/** Where a drill ran, as lifeboat.drills records it. */
export interface DrillRunner {
  ranIn: "cli" | "ci" | "project";
  runner: string;
}

/** The user's assertions' outcome. */
export interface AssertionResult {
  passed: number;
  failed: number;
  files: number;
  ok: boolean;
  /** The TAP lines that failed (no data beyond what the tests print). */
  failures: string[];
}

/** A drill's outcome. */
export interface DrillReport {
  backupId: string | null;
  scratchDatabase: string;
  passed: boolean;
  success: boolean;
  rtoSeconds: number;
  objectiveSeconds: number | null;
  metObjective: boolean | null;
  summary: Summary;
  checks: Check[];
  restore?: Omit<RestoreReport, "checks">;
  /** The platform's rows verified by fingerprint: users, and rows of all auth/storage tables. */
  platform?: PlatformVerified;
  assertions?: AssertionResult;
  dropped: boolean;
  recordedId?: number;
  /** lifeboat.drills id in the project the drill reported to (DrillOptions.reportUrl). */
  reportedId?: number;
}

/** What a drill verified of the platform's tables (auth, storage). */
export interface PlatformVerified {
  /** auth.users rows restored with a matching fingerprint (0 when it did not match). */
  users: number;
  /** Platform tables restored, and their rows, all fingerprint-matched. */
  tables: number;
  rows: number;
  /** Platform tables whose fingerprint did not match. */
  mismatched: string[];
}

/** Sums the platform tables of a restore's table results. */
export function platformVerified(tables: TableResult[]): PlatformVerified {
  const platform = tables.filter((t) => isPlatformTable(parseQName(t.source)));
  const matched = platform.filter((t) => t.fingerprint === "match");
  return {
    users: matched.find((t) => t.source === "auth.users")?.rows ?? 0,
    tables: matched.length,
    rows: matched.reduce((s, t) => s + t.rows, 0),
    mismatched: platform.filter((t) => t.fingerprint !== "match").map((t) => t.source),
  };
}

/** A scratch database name: lifeboat_drill_<utc time>_<random>. */
export function scratchName(now = new Date()): string {
  const ts = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `lifeboat_drill_${ts}_${rand}`;
}

/** The URL of another database on the same server. */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(db)}`;
  return u.toString();
}

/** Parses pg_prove's TAP output. */
export function parseProve(output: string, exitCode: number): AssertionResult {
  const lines = output.split("\n");
  const passed = lines.filter((l) => /^\s*ok \d+/.test(l)).length;
  const failures = lines.filter((l) => /^\s*not ok \d+/.test(l)).map((l) => l.trim());
  const files = Number(/Files=(\d+)/.exec(output)?.[1] ?? 0);
  const ok = exitCode === 0 && failures.length === 0 && /Result: PASS/.test(output);
  return { passed, failed: failures.length || (ok ? 0 : 1), files, ok, failures };
}

/** Runs pg_prove over a directory of *.test.sql files against `url`. */
export async function runAssertions(url: string, dir: string): Promise<AssertionResult> {
  const { env, dbname } = libpqEnv(url);
  const u = new URL(dbname);
  const out = await new Deno.Command("pg_prove", {
    args: ["--ext", ".sql", "-r", "--verbose", "-h", u.hostname, "-p", u.port || "5432", "-U", decodeURIComponent(u.username),
      "-d", decodeURIComponent(u.pathname.slice(1)), dir],
    env: { ...env, PGOPTIONS: "-c search_path=public,extensions", PGSSLMODE: Deno.env.get("PGSSLMODE") ?? "prefer" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return parseProve(text, out.code);
}

/** Runs a drill. Never leaves the scratch database behind. */
export async function runDrill(o: DrillOptions): Promise<DrillReport> {
  const started = new Date();
  const t0 = performance.now();
  const checks: Check[] = [];
  const name = scratchName(started);
  const source = connect(o.sourceUrl, { applicationName: "lifeboat drill", max: 1 });
  const report: DrillReport = {
    backupId: o.id, scratchDatabase: name, passed: false, success: false, rtoSeconds: 0, objectiveSeconds: null,
    metObjective: null, summary: summarize([]), checks, dropped: false,
  };
  let target: Sql | null = null;
  let created = false;
  let drillId: number | undefined;
  try {
    checks.push(...await dropLeftoverScratch(source));
    // Recorded before the database exists, so a drill killed mid-way leaves a row that names it.
    drillId = await startDrillRecord(source, name, started);
    o.onEvent?.({ event: "drill", step: "create", detail: name });
    try {
      await source.unsafe(`create database ${quoteIdent(name)}`);
      created = true;
    } catch (err) {
      checks.push(check("scratch_database", "error", name, `cannot create the scratch database (${describeDbError(err)})`,
        "The drill needs a role with CREATEDB on the source server (postgres has it on Supabase)."));
      return report;
    }
    const targetUrl = withDatabase(o.sourceUrl, name);
    target = connect(targetUrl, { applicationName: "lifeboat drill", max: (o.jobs ?? 2) + 2 });
    // The app's tables reference auth.users and its policies call auth.uid(): the scratch
    // database gets the platform's schemas first, as a new project has them.
    o.onEvent?.({ event: "drill", step: "platform", detail: "auth, storage" });
    try {
      if (await applyPlatformStandIn(source, target)) {
        checks.push(check("platform_schemas", "ok", name, "auth and storage schemas created from the source's definitions"));
      }
    } catch (err) {
      checks.push(check("platform_schemas", "error", name, `the auth and storage schemas could not be created (${describeDbError(err)})`,
        "The source must have Lifeboat's migrations applied (lifeboat.ddl_pre_data) and readable auth and storage schemas."));
      return report;
    }
    const r = o.restore ? await o.restore(target) : await restoreBackup({
      store: o.store, id: o.id, identities: o.identities, trust: o.trust, target, jobs: o.jobs ?? 2, signal: o.signal,
      onEvent: o.onEvent,
    });
    report.backupId = r.backupId;
    const { checks: rc, ...rest } = r;
    report.restore = rest;
    report.platform = platformVerified(r.tables);
    checks.push(...rc);
    if (r.passed && r.tables.length === 0 && await sourceHasTables(source)) {
      checks.push(check("empty_backup", "error", r.backupId ?? "backup",
        "the backup holds no table, but the source has tables: restoring it recovers nothing",
        "Check the backup's include/exclude rules (a mistyped schema name?) and take a new backup."));
    }
    if (r.passed && o.assertionsDir) {
      o.onEvent?.({ event: "drill", step: "assertions", detail: o.assertionsDir });
      try {
        // The user's pgTAP tests need pgTAP in the copy; it is not superuser-only.
        await target.unsafe("create schema if not exists extensions");
        await target.unsafe("create extension if not exists pgtap with schema extensions");
        const a = await runAssertions(targetUrl, o.assertionsDir);
        report.assertions = a;
        checks.push(a.ok
          ? check("assertions", "ok", o.assertionsDir, `${a.passed} assertions in ${a.files} files passed on the restored copy`)
          : check("assertions", "error", o.assertionsDir, `${a.failed} of ${a.passed + a.failed} assertions failed on the restored copy${
            a.failures.length ? `: ${a.failures.slice(0, 3).join("; ")}` : ""}`,
            "The backup restores but does not satisfy your assertions: check what changed (or fix the assertion).",
            { failures: a.failures.slice(0, 20) }));
      } catch (err) {
        checks.push(check("assertions", "error", o.assertionsDir, `the assertions could not run: ${(err as Error).message}`,
          "Install pg_prove (Debian: libtap-parser-sourcehandler-pgtap-perl) and check the directory."));
      }
    }
    report.rtoSeconds = Math.round(performance.now() - t0) / 1000;
  } finally {
    if (report.rtoSeconds === 0) report.rtoSeconds = Math.round(performance.now() - t0) / 1000;
    await target?.end({ timeout: 5 }).catch(() => {});
    if (created) {
      o.onEvent?.({ event: "drill", step: "drop", detail: name });
      try {
        await source.unsafe(`drop database if exists ${quoteIdent(name)} with (force)`);
        report.dropped = true;
      } catch (err) {
        checks.push(check("scratch_database", "error", name, `the scratch database could not be dropped (${describeDbError(err)})`,
          `Drop it by hand: drop database ${quoteIdent(name)} with (force);`));
      }
    }
    report.success = checks.length > 0 && !checks.some((c) => c.level === "error");
    try {
      const [obj] = await source<{ s: number | null }[]>`
        select extract(epoch from o.rto)::float8 as s from lifeboat.recovery_time_objectives o
        where o.system = ${o.system ?? "database"}`;
      report.objectiveSeconds = obj?.s ?? null;
    } catch {
      report.objectiveSeconds = null;
    }
    if (report.objectiveSeconds !== null) {
      report.metObjective = report.rtoSeconds <= report.objectiveSeconds;
      checks.push(check("rto", report.metObjective ? "ok" : "error", o.system ?? "database",
        `recovered and verified in ${report.rtoSeconds.toFixed(1)} s; objective ${report.objectiveSeconds} s`,
        report.metObjective ? "" : "Restore is slower than the objective: raise --jobs, restore closer to the store, or revise the objective."));
    } else {
      checks.push(check("rto", "warn", o.system ?? "database", `recovered and verified in ${report.rtoSeconds.toFixed(1)} s; no objective configured`,
        `insert into lifeboat.recovery_time_objectives (system, tier, rto) values ('${o.system ?? "database"}', 'critical', '1 hour');`));
    }
    report.summary = summarize(checks);
    report.passed = report.summary.passed;
    const where: DrillRunner = { ranIn: o.ranIn ?? "cli", runner: o.runner ?? "" };
    report.recordedId = await recordDrill(source, report, started, where, drillId);
    await source.end({ timeout: 5 }).catch(() => {});
    if (o.reportUrl) {
      const project = connect(o.reportUrl, { applicationName: "lifeboat drill (report)", max: 1 });
      try {
        report.reportedId = await reportDrill(project, report, started, where);
        checks.push(check("drill_reported", "ok", "project", `recorded in the project as drill ${report.reportedId}`));
      } catch (err) {
        checks.push(check("drill_reported", "error", "project", `the drill could not be reported to the project (${describeDbError(err)})`,
          "Apply the Lifeboat migrations to the project and connect as a role that may execute lifeboat.report_drill (postgres or service_role)."));
      } finally {
        await project.end({ timeout: 5 }).catch(() => {});
      }
      report.summary = summarize(checks);
      report.passed = report.summary.passed;
    }
  }
  return report;
}

/** Whether the source has a table a full backup covers (false without a Lifeboat schema). */
async function sourceHasTables(sql: Sql): Promise<boolean> {
  try {
    const [r] = await sql`select lifeboat.has_exportable_tables() as t`;
    return r.t === true;
  } catch {
    return false;
  }
}

/** The shape of scratch database names (see {@link scratchName}). */
const SCRATCH_RE = "^lifeboat_drill_[0-9]{14}_[0-9a-f]{6}$";

/**
 * Writes the drill's row before its scratch database is created (finished_at null, so status
 * and alerts ignore it until it ends). Undefined when the source has no Lifeboat schema.
 */
async function startDrillRecord(sql: Sql, scratch: string, started: Date): Promise<number | undefined> {
  try {
    const [r] = await sql<{ id: number }[]>`
      insert into lifeboat.drills (system, started_at, details)
      values ('database', ${started.toISOString()}, ${sql.json({ scratchDatabase: scratch, state: "running" } as never)})
      returning id`;
    return Number(r.id);
  } catch {
    return undefined;
  }
}

/**
 * Drops the scratch databases of earlier drills that were killed before they could clean up:
 * named like one, recorded by a drill row that never finished, older than a minute, and with
 * nobody connected (a running drill holds connections to its copy). One check per database.
 */
export async function dropLeftoverScratch(sql: Sql): Promise<Check[]> {
  let rows: { datname: string; id: number }[];
  try {
    rows = await sql<{ datname: string; id: number }[]>`
      select d.datname, x.id from pg_catalog.pg_database d
      join lifeboat.drills x on x.details ->> 'scratchDatabase' = d.datname
      where d.datname ~ ${SCRATCH_RE} and x.finished_at is null and x.started_at < now() - interval '1 minute'
        and not exists (select from pg_catalog.pg_stat_activity a where a.datname = d.datname)`;
  } catch {
    return []; // no Lifeboat schema on the source: nothing recorded, nothing to recognise
  }
  const out: Check[] = [];
  for (const r of rows) {
    try {
      await sql.unsafe(`drop database if exists ${quoteIdent(r.datname)} with (force)`);
      await sql`update lifeboat.drills set details = details || '{"state": "interrupted", "dropped": true}'::jsonb where id = ${r.id}`;
      out.push(check("scratch_leftover", "warn", r.datname,
        `dropped the scratch database of drill ${r.id}, which was interrupted before it could drop it`,
        "Nothing to do; if drills keep being interrupted, check what stops them (timeouts, restarts)."));
    } catch (err) {
      out.push(check("scratch_leftover", "warn", r.datname, `the scratch database of interrupted drill ${r.id} could not be dropped (${describeDbError(err)})`,
        `Drop it by hand: drop database ${quoteIdent(r.datname)} with (force);`));
    }
  }
  return out;
}

/** What lifeboat.report_drill() records of a drill. */
export function drillReportJson(r: DrillReport, started: Date, where: DrillRunner): Record<string, unknown> {
  return {
    backup_id: r.backupId,
    success: r.success,
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    measured_rto_seconds: r.rtoSeconds,
    ...(r.objectiveSeconds !== null ? { objective_seconds: r.objectiveSeconds } : {}),
    ...(r.backupId ? { backup_taken_at: new Date(idTime(r.backupId)).toISOString() } : {}),
    ran_in: where.ranIn,
    runner: where.runner,
    restored_into: "scratch_database",
    sampled: false,
    details: {
      backupId: r.backupId,
      scratchDatabase: r.scratchDatabase,
      dropped: r.dropped,
      findings: findings(r.checks),
      assertions: r.assertions ?? null,
      tables: r.restore?.tables.length ?? 0,
      platform: r.platform ?? null,
      rows: r.restore?.rows ?? 0,
      timings: r.restore?.timings ?? {},
    },
  };
}

/** Reports a finished drill to a project through lifeboat.report_drill(); returns its drill id. Throws when refused. */
export async function reportDrill(sql: Sql, r: DrillReport, started: Date, where: DrillRunner): Promise<number> {
  const [row] = await sql<{ id: number }[]>`select lifeboat.report_drill(${sql.json(drillReportJson(r, started, where) as never)}) as id`;
  return Number(row.id);
}

/**
 * Records a drill in the source's lifeboat.drills: finishes its row from
 * {@link startDrillRecord} when there is one, else reports it; undefined without a Lifeboat schema.
 */
export async function recordDrill(
  sql: Sql,
  r: DrillReport,
  started: Date,
  where: DrillRunner,
  drillId?: number,
): Promise<number | undefined> {
  try {
    if (drillId !== undefined) {
      const j = drillReportJson(r, started, where);
      const rows = await sql<{ id: number }[]>`
        update lifeboat.drills set
          backup_run_id = (select b.id from lifeboat.backup_runs b where b.manifest_key like ${`%${r.backupId}/manifest.json`} order by b.id desc limit 1),
          backup_id = ${r.backupId}, backup_taken_at = ${(j.backup_taken_at as string | undefined) ?? null}::timestamptz,
          ran_in = ${where.ranIn}, runner = ${where.runner}, restored_into = 'scratch_database', sampled = false,
          finished_at = now(), measured_rto = make_interval(secs => ${r.rtoSeconds}),
          objective = case when ${r.objectiveSeconds}::float8 is null then null else make_interval(secs => ${r.objectiveSeconds}::float8) end,
          success = ${r.success}, details = ${sql.json(j.details as never)}
        where id = ${drillId}
        returning id`;
      if (rows.length) return Number(rows[0].id);
    }
    // A drill that found no backup to restore has nothing to report beyond its own row.
    return r.backupId ? await reportDrill(sql, r, started, where) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One `backup-drill` invocation: read the settings, fail drills nobody worked for too long,
 * honour the kill switch and a running export, start a drill (drop leftovers first, read the
 * drill identity, pick and authenticate the newest complete backup, plan units) or resume the
 * running one, restore units within the invocation's budget, and when the last is done run the
 * user's assertions, drop the scratch schemas and record the drill with its RTO.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { openStore, type Store } from "../store/mod.ts";
import { type Check, check, findings } from "../checks.ts";
import { isolateCpuMs } from "../jobs/mod.ts";
import { BackupError, identityMatches, latestBackupId, type ManifestTrust, readAuthenticManifest } from "../verify/mod.ts";
import { runAssertions } from "./assertions.ts";
import { type DrillConfig, loadDrillConfig } from "./config.ts";
import { DrillKeyError, drillTrust, loadDrillIdentity } from "./keys.ts";
import { planDrill } from "./plan.ts";
import * as repo from "./repo.ts";
import { boundedConnection, dropJobScratch, dropLeftovers } from "./scratch.ts";
import { restoreUnit } from "./unit.ts";

/** A refusal the function answers with `status` and a stable `code`. */
export class DrillRefused extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly drillId?: number) {
    super(message);
    this.name = "DrillRefused";
  }
}

/** What an invocation needs. */
export interface DrillDeps {
  /** Bookkeeping connection. */
  sql: Sql;
  /** The database URL the bounded restore connection opens. */
  databaseUrl: string;
  worker: string;
  openStore?: (target: string) => Store;
  /** Fires the continuation; absent = never continue. */
  continueJob?: () => Promise<"triggered" | "failed">;
  /** CPU clock override (ms); default: the process's CPU time. */
  cpuMs?: () => number;
  env?: { get(name: string): string | undefined };
}

/** The JSON the function returns. */
export interface DrillReport {
  state: "idle" | "running" | "waiting" | "completed" | "failed" | "stopped";
  drill: number | null;
  job: number | null;
  backupId: string | null;
  sampled: boolean | null;
  units: { done: number; total: number };
  success?: boolean;
  rtoSeconds?: number;
  objectiveSeconds?: number | null;
  findings: Check[];
  invocation: { unitsDone: number; wallMs: number; cpuMs: number; stoppedBy: string };
  continuation: "triggered" | "failed" | "not_needed" | "disabled";
}

/** The process's CPU milliseconds; 0 where the runtime does not say (then only wall time bounds). */
const cpuNow = () => isolateCpuMs() ?? 0;

/** Runs one invocation. `resume`: only continue a running drill, never start one. */
export async function runDrillInvocation(req: { resume: boolean }, deps: DrillDeps): Promise<DrillReport> {
  const t0 = performance.now();
  const cpu = deps.cpuMs ?? cpuNow;
  const cpu0 = cpu();
  const { sql } = deps;
  const cfg = await loadDrillConfig(sql);
  const open = deps.openStore ?? ((t: string) => openStore(t));
  const report: DrillReport = {
    state: "idle", drill: null, job: null, backupId: null, sampled: null, units: { done: 0, total: 0 }, findings: [],
    invocation: { unitsDone: 0, wallMs: 0, cpuMs: 0, stoppedBy: "done" }, continuation: "not_needed",
  };
  const spent = () => ({ wallMs: performance.now() - t0, cpuMs: cpu() - cpu0 });

  for (const j of await repo.staleJobs(sql, cfg.staleAfter)) {
    await stopJob(sql, j, "interrupted", `no invocation worked this drill for ${cfg.staleAfter} (drill.stale_after)`, 0);
  }
  let job = await repo.runningJob(sql);
  if (cfg.killSwitch) {
    if (job) await stopJob(sql, job, "stopped", "stopped by the kill switch (drill.kill_switch)", 0);
    throw new DrillRefused(409, "drill_disabled",
      "in-project drills are switched off (lifeboat.settings drill.kill_switch is true)" +
        (job ? `: drill ${job.drill_id} was stopped and its scratch schemas dropped` : ""), job?.drill_id);
  }
  if (!cfg.identitySecret) {
    throw new DrillRefused(409, "drill_not_configured",
      "in-project drills are off: store a drill identity in Vault and set lifeboat.settings drill.identity_secret to its name (docs/drills.md)");
  }
  const exportRunning = async () => (await sql`select lifeboat.export_running() as r`)[0].r === true;
  if (await exportRunning()) {
    if (!job) {
      throw new DrillRefused(409, "export_running", "an export is running: a drill never runs at the same time; it can start once the export has finished");
    }
    return { ...describe(report, job), state: "waiting", invocation: { ...report.invocation, stoppedBy: "export" } };
  }

  let identities: string[];
  let store: Store;
  let trust: ManifestTrust;
  if (!job) {
    if (req.resume) return report;
    report.findings.push(...await dropLeftovers(sql));
    if (!cfg.target) {
      throw new DrillRefused(409, "not_configured", "no backups to drill: set lifeboat.settings export.target to where backup-export writes");
    }
    try {
      identities = await loadDrillIdentity(sql, cfg.identitySecret);
      trust = await drillTrust(sql, cfg.trustedKeys, deps.env);
    } catch (err) {
      if (err instanceof DrillKeyError) throw await refuse(sql, err.code, err.message, report.findings);
      throw err;
    }
    store = open(cfg.target);
    const started = await startJob(sql, cfg, store, identities, trust, deps.worker, report.findings);
    job = started;
  } else {
    if (!(await repo.takeLease(sql, job.id, deps.worker, cfg.lease, true))) {
      return { ...describe(report, job), state: "running", invocation: { ...report.invocation, stoppedBy: "busy" } };
    }
    job.invocations++;
    try {
      identities = await loadDrillIdentity(sql, cfg.identitySecret);
      trust = await drillTrust(sql, cfg.trustedKeys, deps.env);
    } catch (err) {
      if (!(err instanceof DrillKeyError)) throw err;
      await stopJob(sql, job, "failed", err.message, spent().wallMs);
      throw new DrillRefused(409, err.code, err.message, job.drill_id);
    }
    store = open(job.target);
  }
  Object.assign(report, describe(report, job));

  const target = boundedConnection(deps.databaseUrl, cfg);
  try {
    const all = await repo.units(sql, job.id);
    report.units = { done: all.filter((x) => x.state === "done").length, total: all.length };
    const unitMs: number[] = [], unitCpu: number[] = [];
    let stoppedBy = "done";
    for (const u of all.filter((x) => x.state === "pending")) {
      const s = spent();
      const avg = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
      if (unitMs.length > 0 && s.wallMs + avg(unitMs) * 1.3 > cfg.budget.wallMs) stoppedBy = "wall";
      else if (unitMs.length > 0 && s.cpuMs + avg(unitCpu) * 1.3 > cfg.budget.cpuMs) stoppedBy = "cpu";
      else if ((await sql`select lifeboat.setting('drill.kill_switch') = 'true'::jsonb as k`)[0].k === true) stoppedBy = "kill_switch";
      else if (await exportRunning()) stoppedBy = "export";
      if (stoppedBy !== "done") break;
      const attempts = await repo.startUnit(sql, job.id, u.position);
      const before = spent();
      const result = attempts > cfg.maxAttempts ? gaveUp(u.scratch_schema, attempts - 1) : await restoreUnit({
        store, backupId: job.backup_id, identities, trust, target,
      }, u);
      await repo.finishUnit(sql, job.id, u.position, result);
      const after = spent();
      unitMs.push(after.wallMs - before.wallMs);
      unitCpu.push(after.cpuMs - before.cpuMs);
      report.invocation.unitsDone++;
      report.units.done++;
      await repo.takeLease(sql, job.id, deps.worker, cfg.lease);
    }
    report.invocation.stoppedBy = stoppedBy;
    if (stoppedBy === "kill_switch") {
      await stopJob(sql, job, "stopped", "stopped by the kill switch (drill.kill_switch)", spent().wallMs);
      return { ...report, state: "stopped", invocation: { ...report.invocation, ...round(spent()) } };
    }
    if (stoppedBy !== "done") {
      await repo.releaseLease(sql, job.id, deps.worker, spent().wallMs);
      const cont = stoppedBy === "export" ? "not_needed" : !cfg.continueJobs || !deps.continueJob ? "disabled" : await deps.continueJob();
      return { ...report, state: stoppedBy === "export" ? "waiting" : "running", continuation: cont, invocation: { ...report.invocation, ...round(spent()) } };
    }
    const done = await finish(sql, target, cfg, job, spent().wallMs);
    return { ...report, ...done, invocation: { ...report.invocation, ...round(spent()) } };
  } finally {
    await target.end({ timeout: 5 }).catch(() => {});
  }
}

function round(s: { wallMs: number; cpuMs: number }) {
  return { wallMs: Math.round(s.wallMs), cpuMs: Math.round(s.cpuMs) };
}

function describe(r: DrillReport, job: repo.DrillJob): DrillReport {
  return { ...r, drill: job.drill_id, job: job.id, backupId: job.backup_id, sampled: job.sampled };
}

/** Records a drill that could not start and returns the refusal to answer with. */
async function refuse(sql: Sql, code: string, message: string, earlier: Check[]): Promise<DrillRefused> {
  const finding = check(code, "error", "drill", message, "See docs/drills.md, in-project drills.");
  const id = await repo.recordRefusedDrill(sql, [...earlier, finding]);
  return new DrillRefused(409, code, message, id);
}

/** Picks and authenticates the newest complete backup and creates the job; refusals are recorded drills. */
async function startJob(
  sql: Sql, cfg: DrillConfig, store: Store, identities: string[], trust: ManifestTrust, worker: string, earlier: Check[],
): Promise<repo.DrillJob> {
  let manifest;
  try {
    const id = await latestBackupId(store);
    manifest = (await readAuthenticManifest(store, id, trust)).manifest;
  } catch (err) {
    if (err instanceof BackupError && err.code === "not_found" && !(await repo.backupRecorded(sql, cfg.target!))) {
      // A fresh install whose first backup has not run yet: nothing to drill is no failed
      // restore, and a recorded failure would keep `recoverable` false until the next drill.
      throw new DrillRefused(409, "no_backup_yet",
        "no backup to drill yet: the project has recorded no completed backup into export.target; the drill starts once backup-export has completed one");
    }
    if (err instanceof BackupError) {
      throw await refuse(sql, err.code === "not_found" ? "no_backup" : "backup_untrusted", err.message, earlier);
    }
    throw err;
  }
  if (manifest.encryption.scheme !== "none" && !(await identityMatches(manifest, identities))) {
    throw await refuse(sql, "drill_identity_not_recipient",
      `backup ${manifest.id} is not encrypted to the drill identity's recipient: add that recipient (age1…) to lifeboat.settings ` +
        "export.recipients beside your offline one; the next backup can then be drilled", earlier);
  }
  const plan = planDrill(manifest, cfg.maxBytes, cfg.unitBytes);
  const details: Record<string, unknown> = earlier.length ? { leftovers: earlier } : {};
  try {
    return await repo.createJob(sql, { target: cfg.target!, backupId: manifest.id, takenAt: manifest.startedAt, plan, worker, lease: cfg.lease, details });
  } catch (err) {
    if ((err as { code?: string }).code === "23505") {
      throw new DrillRefused(409, "drill_running", "another drill started at the same moment: it continues on its own");
    }
    throw err;
  }
}

function gaveUp(schema: string, attempts: number): repo.UnitResult {
  return {
    passed: false, tables: [], rows: 0, bytes: 0, ms: 0,
    findings: [check("unit", "error", schema, `this part of the drill was interrupted ${attempts} times (drill.max_attempts): given up`,
      "Check the function's logs for what stops it (wall-clock or memory limits); lower drill.unit_bytes so a unit fits one invocation.")],
  };
}

/** Ends a job that did not finish: drops its scratch schemas and records the drill as failed. */
async function stopJob(sql: Sql, job: repo.DrillJob, state: "interrupted" | "stopped" | "failed", why: string, workMs: number): Promise<void> {
  const failed = await dropJobScratch(sql, job.id);
  await repo.finishJob(sql, job, {
    success: false, state: "failed", error: why, rtoSeconds: await repo.secondsSinceStart(sql, job),
    details: {
      state, dropped: failed.length === 0,
      findings: [check("drill", "error", `drill ${job.drill_id}`, why, state === "stopped" ? "Set drill.kill_switch to false to drill again." : "")],
    },
  }, workMs);
}

/** The last step: assertions, scratch dropped, the drill recorded. */
async function finish(sql: Sql, target: Sql, cfg: DrillConfig, job: repo.DrillJob, workMs: number): Promise<Partial<DrillReport>> {
  const units = await repo.units(sql, job.id);
  const checks: Check[] = [];
  const results = units.map((u) => u.result!).filter(Boolean);
  const tables = results.flatMap((r) => r.tables);
  for (const r of results) checks.push(...r.findings);
  const mismatched = tables.filter((t) => t.fingerprint !== "match");
  checks.push(mismatched.length
    ? check("fingerprints", "error", job.backup_id, `${mismatched.length} of ${tables.length} restored tables do not match the manifest: ${
      mismatched.slice(0, 5).map((t) => t.source).join(", ")}`, "Run lifeboat verify on this backup; take a new backup and drill it.")
    : check("fingerprints", "ok", job.backup_id, `${tables.length} restored tables match the manifest's fingerprints`));
  if (tables.length === 0) {
    checks.push(check("empty_backup", "error", job.backup_id, "the drill restored no table",
      "Check the backup's include/exclude rules and drill.max_bytes (a sample of no table)."));
  }
  const sample = job.details.sample as { tables: number; totalTables: number; bytes: number; totalBytes: number };
  if (job.sampled) {
    checks.push(check("sample", "warn", job.backup_id,
      `sampled: ${sample.tables} of ${sample.totalTables} tables (${sample.bytes} of ${sample.totalBytes} bytes) restored, the backup is larger than drill.max_bytes`,
      "Raise drill.max_bytes to drill every table, or run lifeboat drill from outside the project."));
  }
  // Copies of public's tables first: unqualified names in the tests mean public's.
  const scratch = [...units].sort((a, b) => Number(b.source_schema === "public") - Number(a.source_schema === "public"))
    .map((u) => u.scratch_schema);
  let assertions = null;
  if (cfg.assertionsSchema && tables.length > 0) {
    const a = await runAssertions(target, cfg.assertionsSchema, scratch);
    if (a) {
      assertions = a.outcome;
      checks.push(a.check);
    }
  }
  const notDropped = await dropJobScratch(sql, job.id);
  if (notDropped.length) {
    checks.push(check("scratch_schema", "error", notDropped[0], `${notDropped.length} scratch schemas could not be dropped`,
      `The next drill drops them; or by hand: drop schema ${notDropped[0]} cascade;`));
  }
  const success = !checks.some((c) => c.level === "error");
  const rtoSeconds = await repo.secondsSinceStart(sql, job);
  const details = {
    state: "completed", dropped: notDropped.length === 0, tables: tables.length,
    rows: results.reduce((s, r) => s + r.rows, 0), bytes: results.reduce((s, r) => s + r.bytes, 0),
    units: units.length, findings: findings(checks), assertions,
    invocations: job.invocations, workSeconds: Math.round((job.work_ms + workMs) / 100) / 10,
    tableResults: tables.slice(0, 200),
  };
  const { objectiveSeconds } = await repo.finishJob(sql, job, {
    success, state: success ? "completed" : "failed", rtoSeconds, details,
    error: success ? undefined : findings(checks).filter((c) => c.level === "error")[0]?.detail,
  }, workMs);
  return {
    state: success ? "completed" : "failed", success, rtoSeconds, objectiveSeconds, findings: findings(checks),
    units: { done: units.length, total: units.length },
  };
}

/**
 * One backup-verify invocation: claim a verification, read the backup's manifest and check
 * its signature against the project's trusted keys, then hash as many of its objects as the
 * budget allows (wall clock, CPU, bytes; the first batch always runs), saving progress after
 * each batch. When every object is checked it adds the checks against the project (the backup
 * is the one it recorded; complete against its catalog) and records the outcome; otherwise it
 * hands the run back and triggers its own continuation. Nothing here needs an age identity:
 * the ciphertext is checked (sizes, sha256, age headers), not decrypted.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { type Check, check, summarize, type Summary } from "../checks.ts";
import type { Manifest } from "../format/mod.ts";
import { openStore, type Store } from "../store/mod.ts";
import { BudgetMeter, type StopReason } from "../jobs/mod.ts";
import {
  checkAgainstSource,
  checkManifestConsistency,
  checkObject,
  checkUnlisted,
  integrityOk,
  listStoredObjects,
  manifestProblem,
  readAuthenticManifest,
  signatureCheck,
  WHOLE_OBJECT_BUFFERS,
  WholeObjectBuffers,
} from "../verify/mod.ts";
import { checkFiles } from "../source/storage/mod.ts";
import { loadVerifyConfig } from "./config.ts";
import { claimVerification, finishVerification, MAX_CHECKS, releaseVerification, saveProgress, type VerifyProgress } from "./repo.ts";
import { projectTrust } from "./trust.ts";
import type { VerifyRequest } from "./request.ts";

/** What an invocation needs. */
export interface VerifyInvocationDeps {
  sql: Sql;
  /** This invocation's name, recorded as the run's holder. */
  worker: string;
  /** Opens a run's target (default: the store drivers with the function's environment). */
  openStore?: (target: string) => Store;
  /** Triggers the next invocation when this one runs out of budget. */
  continueRun?: (body: Record<string, unknown>) => Promise<unknown>;
  env?: { get(name: string): string | undefined };
  /** CPU clock for the budget (tests). */
  cpuMs?: () => number | null;
}

/** What an invocation did. */
export interface VerifyInvocationReport {
  /** idle: nothing to verify; running: more invocations follow; done: the outcome is recorded; lost: another invocation took over. */
  state: "idle" | "running" | "done" | "lost";
  verificationId?: number;
  backupRunId?: number;
  backupId?: string | null;
  objectsDone?: number;
  objectsTotal?: number;
  bytes?: number;
  stoppedBy?: StopReason;
  timings?: VerifyTimings;
  passed?: boolean;
  summary?: Summary;
  findings?: Check[];
}

/** Where an invocation's time went, in milliseconds. */
export interface VerifyTimings {
  /** Before the first object: the two below and the manifest's own checks. */
  setupMs: number;
  /** Settings, trusted keys and the claim (the database). */
  claimMs?: number;
  /** Manifest, signature and listing (the store), read at once. */
  manifestMs?: number;
  /** Reading and hashing objects. */
  objectsMs: number;
  /** The checks against the project (last invocation only). */
  projectMs?: number;
  /** CPU the invocation used, as its budget counts it. */
  cpuMs?: number;
}

const keep = (p: VerifyProgress, more: Check[]) => {
  p.checks.push(...more.slice(0, Math.max(0, MAX_CHECKS - p.checks.length)));
};

/** Runs one invocation. Throws only for configuration and database errors (the handler maps them). */
export async function runVerifyInvocation(req: VerifyRequest, deps: VerifyInvocationDeps): Promise<VerifyInvocationReport> {
  const { sql, worker } = deps;
  const t0 = performance.now();
  const timings: VerifyTimings = { setupMs: 0, objectsMs: 0 };
  const cfg = await loadVerifyConfig(sql);
  // The budget counts from here, setup included: the platform counts the request's CPU, not
  // only the objects'.
  const meter = new BudgetMeter(cfg.budget, { cpuMs: deps.cpuMs });
  const trust = await projectTrust(sql, cfg, deps.env ?? Deno.env);
  const run = await claimVerification(sql, worker, cfg.lease, req.backupRunId);
  if (!run) return { state: "idle" };
  timings.claimMs = Math.round(performance.now() - t0);
  const base = { verificationId: run.id, backupRunId: run.backupRunId, backupId: run.backupId };
  const p = run.progress;
  p.invocations++;

  const finish = async (checks: Check[], m?: Manifest, store?: Store): Promise<VerifyInvocationReport> => {
    const summary = summarize(checks);
    const details = {
      backupId: run.backupId,
      store: store?.describe() ?? null,
      bytes: p.bytes,
      invocations: p.invocations,
      checks: checks.map((c) => ({ check: c.check, level: c.level, object: c.object })).slice(0, 200),
    };
    const recorded = await finishVerification(sql, run.id, worker, summary, checks, details);
    if (!recorded) return { state: "lost", ...base };
    return {
      state: "done", ...base, timings, objectsDone: p.done + p.doneAfter.length, objectsTotal: m?.objects.length, bytes: p.bytes,
      passed: summary.passed, summary, findings: checks.filter((c) => c.level !== "ok"),
    };
  };

  if (!run.backupId) {
    return await finish([check("manifest", "error", String(run.backupRunId),
      "the backup run records no manifest key with a backup id, so its backup cannot be found in the store",
      "Verify it with lifeboat verify --store <store> <backup id>.")]);
  }
  let store: Store;
  try {
    store = (deps.openStore ?? ((t) => openStore(t)))(run.target);
  } catch (err) {
    return await finish([check("store_access", "error", "store",
      `the backup's store cannot be opened from the project (${err instanceof Error ? err.message : String(err)})`,
      "Backups the project verifies must be in a store its functions reach: an s3:// target with LIFEBOAT_S3_* function secrets.")]);
  }
  // The listing is read while the manifest is (it needs only the backup id); its outcome is
  // looked at once the manifest is authentic.
  const backupId = run.backupId;
  const listing = listStoredObjects(store, { id: backupId }).then(
    (listed) => ({ listed, err: null }),
    (err: unknown) => ({ listed: null, err }),
  );
  let authentic;
  try {
    authentic = await readAuthenticManifest(store, backupId, trust);
  } catch (err) {
    const c = manifestProblem(err, run.backupId);
    if (c.check === "signature") {
      c.remediation = "Store the signing key's public half in lifeboat.settings verify.trusted_keys, or the key backup-export signs with in Vault (export.signing_key_secret).";
    }
    return await finish([...p.checks, c], undefined, store);
  }
  const m = authentic.manifest;
  const read = await listing;
  timings.manifestMs = Math.round(performance.now() - t0) - timings.claimMs;
  if (!read.listed) return await finish([...p.checks, manifestProblem(read.err, m.id)], m, store);
  const listed = read.listed;
  if (!p.started) {
    keep(p, [check("store_access", "ok", "store", `${store.describe()} is readable with the function's credentials`),
      signatureCheck(m.id, authentic.signedBy), ...checkManifestConsistency(m), ...checkUnlisted(m, listed)]);
    p.started = true;
  }

  // A pool of cfg.concurrency objects in flight, largest first; before each object starts, the
  // budget is asked whether it fits. Each object is recorded with its own wall time (does it
  // end before the deadline?) and the CPU used since the previous completion (the pool's
  // aggregate rate). Largest first: the rates are learnt from the objects whose cost is
  // hashing, not from the round trips of small ones, which then fit at the end.
  // Resuming in another invocation redoes nothing that was done: progress is per object.
  let stoppedBy: StopReason | null = null;
  let lost = false;
  const pending = m.objects.map((_, i) => i).filter((i) => i >= p.done && !p.doneAfter.includes(i))
    .sort((a, b) => m.objects[b].size - m.objects[a].size || a - b);
  let next = 0;
  let lastCpu = meter.cpuMs();
  // Progress is saved (and the lease renewed) at most once a second, one save at a time, each
  // with the progress as it is when it runs; a crash loses at most that second's work.
  let saving: Promise<void> = Promise.resolve();
  let savedAt = meter.wallMs();
  const save = () => {
    savedAt = meter.wallMs();
    saving = saving.then(async () => {
      if (!lost && !(await saveProgress(sql, run.id, worker, p))) lost = true;
    });
    return saving;
  };
  timings.setupMs = Math.round(performance.now() - t0);
  const buffers = new WholeObjectBuffers(WHOLE_OBJECT_BUFFERS, cfg.wholeObjectMaxBytes);
  const lane = async () => {
    while (next < pending.length && !stoppedBy && !lost) {
      const i = pending[next];
      const o = m.objects[i];
      const stop = meter.wouldExceed(o.size);
      if (stop) {
        stoppedBy = stop;
        return;
      }
      next++;
      const started = meter.wallMs();
      const r = await checkObject(store, m, o, listed.get(o.key), { buffers });
      const cpu = meter.cpuMs();
      meter.record({ plainBytes: r.bytes, estBytes: o.size, wallMs: meter.wallMs() - started, cpuMs: cpu - lastCpu });
      lastCpu = cpu;
      p.bytes += r.bytes;
      if (!r.ok) {
        p.failed++;
        if (r.headerProblem) p.headerProblems++;
        keep(p, [r.check]);
      }
      p.doneAfter.push(i);
      while (p.doneAfter.includes(p.done)) p.doneAfter.splice(p.doneAfter.indexOf(p.done++), 1);
      if (meter.wallMs() - savedAt >= 1000) await save();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cfg.concurrency) }, lane));
  if (p.done < m.objects.length) await save();
  await saving;
  timings.objectsMs = Math.round(performance.now() - t0) - timings.setupMs;
  timings.cpuMs = Math.round(meter.cpuMs());
  if (lost) return { state: "lost", ...base };

  if (p.done < m.objects.length) {
    await releaseVerification(sql, run.id, worker);
    if (cfg.continueJobs && deps.continueRun) await deps.continueRun({ backup_run_id: run.backupRunId });
    return { state: "running", ...base, timings, objectsDone: p.done + p.doneAfter.length, objectsTotal: m.objects.length, bytes: p.bytes, stoppedBy: stoppedBy ?? undefined };
  }

  const checks = [...p.checks];
  if (p.failed === 0) checks.push(integrityOk(m, p.bytes, p.headerProblems));
  else if (p.failed > 0 && !checks.some((c) => c.level === "error")) {
    checks.push(check("integrity", "error", m.id, `${p.failed} objects failed their checks`, "Do not restore this backup; use another one."));
  }
  const tp = performance.now();
  checks.push(...await checkFiles(store, m, null, sql));
  checks.push(...await checkAgainstSource(sql, m, authentic.sha256));
  timings.projectMs = Math.round(performance.now() - tp);
  return await finish(checks, m, store);
}

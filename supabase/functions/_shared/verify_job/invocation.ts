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
  passed?: boolean;
  summary?: Summary;
  findings?: Check[];
}

const keep = (p: VerifyProgress, more: Check[]) => {
  p.checks.push(...more.slice(0, Math.max(0, MAX_CHECKS - p.checks.length)));
};

/** Runs one invocation. Throws only for configuration and database errors (the handler maps them). */
export async function runVerifyInvocation(req: VerifyRequest, deps: VerifyInvocationDeps): Promise<VerifyInvocationReport> {
  const { sql, worker } = deps;
  const cfg = await loadVerifyConfig(sql);
  const trust = await projectTrust(sql, cfg, deps.env ?? Deno.env);
  const run = await claimVerification(sql, worker, cfg.lease, req.backupRunId);
  if (!run) return { state: "idle" };
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
      state: "done", ...base, objectsDone: p.done, objectsTotal: m?.objects.length, bytes: p.bytes,
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
  let authentic;
  try {
    authentic = await readAuthenticManifest(store, run.backupId, trust);
  } catch (err) {
    const c = manifestProblem(err, run.backupId);
    if (c.check === "signature") {
      c.remediation = "Store the signing key's public half in lifeboat.settings verify.trusted_keys, or the key backup-export signs with in Vault (export.signing_key_secret).";
    }
    return await finish([...p.checks, c], undefined, store);
  }
  const m = authentic.manifest;
  let listed: Map<string, number>;
  try {
    listed = await listStoredObjects(store, m);
  } catch (err) {
    return await finish([...p.checks, manifestProblem(err, m.id)], m, store);
  }
  if (!p.started) {
    keep(p, [check("store_access", "ok", "store", `${store.describe()} is readable with the function's credentials`),
      signatureCheck(m.id, authentic.signedBy), ...checkManifestConsistency(m), ...checkUnlisted(m, listed)]);
    p.started = true;
  }

  const meter = new BudgetMeter(cfg.budget, { cpuMs: deps.cpuMs });
  let stoppedBy: StopReason | null = null;
  while (p.done < m.objects.length) {
    const batch = m.objects.slice(p.done, p.done + cfg.concurrency);
    const size = batch.reduce((s, o) => s + o.size, 0);
    stoppedBy = meter.wouldExceed(size);
    if (stoppedBy) break;
    const t0 = meter.wallMs(), c0 = meter.cpuMs();
    const outcomes = await Promise.all(batch.map((o) => checkObject(store, m, o, listed.get(o.key))));
    let bytes = 0;
    for (const r of outcomes) {
      bytes += r.bytes;
      if (!r.ok) {
        p.failed++;
        if (r.headerProblem) p.headerProblems++;
        keep(p, [r.check]);
      }
    }
    meter.record({ plainBytes: bytes, estBytes: size, wallMs: meter.wallMs() - t0, cpuMs: meter.cpuMs() - c0 });
    p.done += batch.length;
    p.bytes += bytes;
    if (!(await saveProgress(sql, run.id, worker, p))) return { state: "lost", ...base };
  }

  if (p.done < m.objects.length) {
    await releaseVerification(sql, run.id, worker);
    if (cfg.continueJobs && deps.continueRun) await deps.continueRun({ backup_run_id: run.backupRunId });
    return { state: "running", ...base, objectsDone: p.done, objectsTotal: m.objects.length, bytes: p.bytes, stoppedBy: stoppedBy ?? undefined };
  }

  const checks = [...p.checks];
  if (p.failed === 0) checks.push(integrityOk(m, p.bytes, p.headerProblems));
  else if (p.failed > 0 && !checks.some((c) => c.level === "error")) {
    checks.push(check("integrity", "error", m.id, `${p.failed} objects failed their checks`, "Do not restore this backup; use another one."));
  }
  checks.push(...await checkFiles(store, m, null, sql));
  checks.push(...await checkAgainstSource(sql, m, authentic.sha256));
  return await finish(checks, m, store);
}

/**
 * The verification queue in the database (migration 20261122001000): claiming a run,
 * saving its progress, handing it back and recording its outcome, each fenced by the
 * invocation that holds it.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { type Check, findings, type Summary } from "../checks.ts";

/** What an invocation saved for the next one. */
export interface VerifyProgress {
  /** Whether the manifest checks (signature, consistency, unlisted objects) were done. */
  started: boolean;
  /** Objects of the manifest, in its order, checked: all before this index… */
  done: number;
  /** …and these after it (the pool finishes objects out of order). */
  doneAfter: number[];
  /** Stored bytes hashed so far. */
  bytes: number;
  headerProblems: number;
  /** Objects that failed. */
  failed: number;
  /** The checks so far (capped at {@link MAX_CHECKS}; failures are counted in `failed`). */
  checks: Check[];
  invocations: number;
}

/** How many checks a run keeps between invocations (the row stays small). */
export const MAX_CHECKS = 500;

/** A claimed verification. */
export interface ClaimedVerification {
  id: number;
  backupRunId: number;
  backupId: string | null;
  target: string;
  attempts: number;
  progress: VerifyProgress;
}

function asProgress(raw: unknown): VerifyProgress {
  const p = (raw && typeof raw === "object" ? raw : {}) as Partial<VerifyProgress>;
  return {
    started: p.started === true,
    done: Number(p.done ?? 0),
    doneAfter: Array.isArray(p.doneAfter) ? p.doneAfter.map(Number) : [],
    bytes: Number(p.bytes ?? 0),
    headerProblems: Number(p.headerProblems ?? 0),
    failed: Number(p.failed ?? 0),
    checks: Array.isArray(p.checks) ? p.checks : [],
    invocations: Number(p.invocations ?? 0),
  };
}

/** Claims an abandoned verification, else starts one for the newest pending backup (or the given one). */
export async function claimVerification(
  sql: Sql,
  worker: string,
  lease: string,
  backupRunId?: number,
): Promise<ClaimedVerification | null> {
  const [r] = await sql`select * from lifeboat.verify_claim(${worker}, ${lease}::interval, ${backupRunId ?? null}::bigint)`;
  if (!r) return null;
  return {
    id: Number(r.id),
    backupRunId: Number(r.backup_run_id),
    backupId: r.backup_id as string | null,
    target: String(r.target ?? ""),
    attempts: Number(r.attempts),
    progress: asProgress(r.progress),
  };
}

/** Saves progress and renews the lease; false when this invocation no longer holds the run. */
export async function saveProgress(sql: Sql, id: number, worker: string, p: VerifyProgress): Promise<boolean> {
  const [r] = await sql`select lifeboat.verify_save(${id}, ${worker}, ${sql.json(p as never)}) as ok`;
  return r?.ok === true;
}

/** Hands the run back for the next invocation. */
export async function releaseVerification(sql: Sql, id: number, worker: string): Promise<void> {
  await sql`select lifeboat.verify_release(${id}, ${worker})`;
}

/** Records the outcome (failures raise their alert at once); false when this invocation no longer holds the run. */
export async function finishVerification(
  sql: Sql,
  id: number,
  worker: string,
  summary: Summary,
  checks: Check[],
  details: Record<string, unknown>,
): Promise<boolean> {
  const [r] = await sql`
    select lifeboat.verify_finish(${id}, ${worker}, ${summary.passed}, ${summary.total}, ${summary.warnings},
      ${summary.errors}, ${sql.json(findings(checks) as never)}, ${sql.json(details as never)}) as ok`;
  return r?.ok === true;
}

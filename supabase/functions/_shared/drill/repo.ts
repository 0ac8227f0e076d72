/**
 * The drill's bookkeeping: its record in `lifeboat.drills` (written when it starts, finished
 * when it ends, like `lifeboat drill`'s) and its job and units in `lifeboat.drill_jobs` and
 * `lifeboat.drill_units`.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Check } from "../checks.ts";
import type { DrillPlan, UnitTable } from "./plan.ts";
import { scratchSchema } from "./plan.ts";

/** A drill job row. */
export interface DrillJob {
  id: number;
  drill_id: number;
  state: "running" | "completed" | "failed";
  target: string;
  backup_id: string;
  sampled: boolean;
  worker: string | null;
  invocations: number;
  work_ms: number;
  created_at: Date;
  details: Record<string, unknown>;
}

/** A unit row. */
export interface DrillUnit {
  job_id: number;
  position: number;
  source_schema: string;
  tables: UnitTable[];
  bytes: number;
  scratch_schema: string;
  state: "pending" | "done";
  attempts: number;
  result: UnitResult | null;
}

/** What a unit's restore found. */
export interface UnitResult {
  passed: boolean;
  tables: { source: string; rows: number; fingerprint: string }[];
  rows: number;
  bytes: number;
  ms: number;
  findings: Check[];
}

/** Where drills of this function ran, as recorded in lifeboat.drills.details.where (the column ran_in says 'project'). */
export const WHERE = "in-project";

/** Records a drill that failed before it could start (no job): finished, unsuccessful, with its findings. */
export async function recordRefusedDrill(sql: Sql, findings: Check[], extra: Record<string, unknown> = {}): Promise<number> {
  const [r] = await sql<{ id: number }[]>`
    insert into lifeboat.drills (system, started_at, finished_at, success, ran_in, restored_into, details)
    values ('database', now(), now(), false, 'project', 'scratch_schema',
            ${sql.json({ where: WHERE, origin: "backup-drill", state: "failed", findings, ...extra } as never)})
    returning id`;
  return Number(r.id);
}

/** Creates the drill record, its job (holding the lease) and units, in one transaction. */
export async function createJob(
  sql: Sql,
  o: {
    target: string;
    backupId: string;
    /** The backup's recovery point (its manifest's startedAt). */
    takenAt: string;
    plan: DrillPlan;
    worker: string;
    lease: string;
    details: Record<string, unknown>;
  },
): Promise<DrillJob> {
  return await sql.begin(async (tx) => {
    const t = tx as unknown as Sql;
    const details = {
      where: WHERE, origin: "backup-drill", state: "running", backupId: o.backupId, sampled: o.plan.sampled,
      sample: sampleOf(o.plan), ...o.details,
    };
    const [d] = await t<{ id: number }[]>`
      insert into lifeboat.drills (backup_run_id, system, started_at, ran_in, restored_into, sampled, backup_id, backup_taken_at, details)
      values ((select b.id from lifeboat.backup_runs b where b.manifest_key like ${`%${o.backupId}/manifest.json`} order by b.id desc limit 1),
              'database', now(), 'project', 'scratch_schema', ${o.plan.sampled}, ${o.backupId}, ${o.takenAt}, ${t.json(details as never)})
      returning id`;
    const [j] = await t<DrillJob[]>`
      insert into lifeboat.drill_jobs (drill_id, target, backup_id, sampled, worker, lease_until, invocations, details)
      values (${d.id}, ${o.target}, ${o.backupId}, ${o.plan.sampled}, ${o.worker}, now() + ${o.lease}::interval, 1,
              ${t.json({ sample: sampleOf(o.plan) } as never)})
      returning *`;
    for (const u of o.plan.units) {
      await t`insert into lifeboat.drill_units (job_id, position, source_schema, tables, bytes, scratch_schema)
              values (${j.id}, ${u.position}, ${u.sourceSchema}, ${t.json(u.tables as never)}, ${u.bytes}, ${scratchSchema(Number(j.id), u.position)})`;
    }
    return normalizeJob(j);
  }) as DrillJob;
}

function sampleOf(p: DrillPlan) {
  return { tables: p.tables, totalTables: p.totalTables, bytes: p.bytes, totalBytes: p.totalBytes };
}

function normalizeJob(j: DrillJob): DrillJob {
  return { ...j, id: Number(j.id), drill_id: Number(j.drill_id), work_ms: Number(j.work_ms) };
}

/**
 * Whether the project recorded a completed backup into `target` (trailing slashes aside). A
 * store without a backup then means backups went missing; without one, nothing was taken yet.
 */
export async function backupRecorded(sql: Sql, target: string): Promise<boolean> {
  const [r] = await sql`
    select exists (select from lifeboat.backup_runs b where b.state = 'completed'
                   and pg_catalog.rtrim(b.target, '/') = pg_catalog.rtrim(${target}, '/')) as e`;
  return r.e === true;
}

/** The running job, if any. */
export async function runningJob(sql: Sql): Promise<DrillJob | null> {
  const [j] = await sql<DrillJob[]>`select * from lifeboat.drill_jobs where state = 'running' order by id limit 1`;
  return j ? normalizeJob(j) : null;
}

/** Takes (or renews) the job's lease for `worker`; false when another invocation holds it. */
export async function takeLease(sql: Sql, jobId: number, worker: string, lease: string, count = false): Promise<boolean> {
  const rows = await sql`
    update lifeboat.drill_jobs set worker = ${worker}, lease_until = now() + ${lease}::interval, updated_at = now(),
      invocations = invocations + ${count ? 1 : 0}
    where id = ${jobId} and state = 'running' and (lease_until is null or lease_until < now() or worker = ${worker})
    returning id`;
  return rows.length > 0;
}

/** Lets go of the lease (waiting for an export, or handing over to a continuation). */
export async function releaseLease(sql: Sql, jobId: number, worker: string, workMs: number): Promise<void> {
  await sql`update lifeboat.drill_jobs set lease_until = null, work_ms = work_ms + ${Math.round(workMs)}, updated_at = now()
            where id = ${jobId} and worker = ${worker}`;
}

/** The job's units, in order. */
export async function units(sql: Sql, jobId: number): Promise<DrillUnit[]> {
  const rows = await sql<DrillUnit[]>`select * from lifeboat.drill_units where job_id = ${jobId} order by position`;
  return rows.map((u) => ({ ...u, bytes: Number(u.bytes) }));
}

/** Counts an attempt at a unit before its restore starts (a kill mid-way still counts). */
export async function startUnit(sql: Sql, jobId: number, position: number): Promise<number> {
  const [r] = await sql<{ attempts: number }[]>`
    update lifeboat.drill_units set attempts = attempts + 1 where job_id = ${jobId} and position = ${position}
    returning attempts`;
  return r.attempts;
}

/** Records a unit's outcome. */
export async function finishUnit(sql: Sql, jobId: number, position: number, result: UnitResult): Promise<void> {
  await sql`update lifeboat.drill_units set state = 'done', result = ${sql.json(result as never)}
            where job_id = ${jobId} and position = ${position}`;
}

/** The outcome written to lifeboat.drills when a job ends. */
export interface DrillOutcome {
  success: boolean;
  state: "completed" | "failed";
  rtoSeconds: number;
  details: Record<string, unknown>;
  error?: string;
}

/**
 * Finishes the job and its drill record: RTO from the drill's start to now (every invocation
 * and the waits between them), the objective of recovery_time_objectives 'database'.
 */
export async function finishJob(sql: Sql, job: DrillJob, o: DrillOutcome, workMs: number): Promise<{ objectiveSeconds: number | null }> {
  return await sql.begin(async (tx) => {
    const t = tx as unknown as Sql;
    await t`update lifeboat.drill_jobs set state = ${o.state}, finished_at = now(), updated_at = now(), lease_until = null,
              work_ms = work_ms + ${Math.round(workMs)}, error = ${o.error ?? null}
            where id = ${job.id}`;
    const [r] = await t<{ s: number | null }[]>`
      update lifeboat.drills d set finished_at = now(), measured_rto = make_interval(secs => ${o.rtoSeconds}),
        objective = (select x.rto from lifeboat.recovery_time_objectives x where x.system = d.system),
        success = ${o.success}, details = d.details || ${t.json(o.details as never)}
      where d.id = ${job.drill_id}
      returning extract(epoch from d.objective)::float8 as s`;
    return { objectiveSeconds: r?.s ?? null };
  }) as { objectiveSeconds: number | null };
}

/** Seconds since the drill record's start (the RTO so far). */
export async function secondsSinceStart(sql: Sql, job: DrillJob): Promise<number> {
  const [r] = await sql<{ s: number }[]>`select extract(epoch from now() - started_at)::float8 as s from lifeboat.drills where id = ${job.drill_id}`;
  return Math.round(Number(r?.s ?? 0) * 1000) / 1000;
}

/** Running jobs nobody worked for longer than `staleAfter`. */
export async function staleJobs(sql: Sql, staleAfter: string): Promise<DrillJob[]> {
  const rows = await sql<DrillJob[]>`
    select * from lifeboat.drill_jobs where state = 'running'
      and coalesce(lease_until, updated_at) < now() - ${staleAfter}::interval`;
  return rows.map(normalizeJob);
}

/**
 * Scratch schemas: dropping what a drill killed mid-way left behind, and dropping a job's own
 * when it ends. Every name is matched against the scratch pattern before it is dropped, so a
 * drill never drops anything else.
 * @module
 */
import { connect, describeDbError, type Sql } from "../db/mod.ts";
import { type Check, check } from "../checks.ts";
import type { DrillConfig } from "./config.ts";

const SCRATCH_RE = /^lifeboat_drill_j[0-9]+_u[0-9]+$/;

/** Quotes an identifier already checked against the scratch pattern. */
function quoted(name: string): string {
  if (!SCRATCH_RE.test(name)) throw new Error(`refusing to drop '${name}': not a drill scratch schema`);
  return `"${name}"`;
}

/** Drops one scratch schema and everything in it. */
export async function dropScratch(sql: Sql, name: string): Promise<void> {
  await sql.unsafe(`drop schema if exists ${quoted(name)} cascade`);
}

/**
 * Drops the scratch schemas no running job owns (lifeboat.drill_leftover_schemas()): those of a
 * drill killed mid-way. One warning per schema dropped.
 */
export async function dropLeftovers(sql: Sql): Promise<Check[]> {
  const rows = await sql<{ name: string }[]>`select s as name from lifeboat.drill_leftover_schemas() s`;
  const out: Check[] = [];
  for (const { name } of rows) {
    try {
      await dropScratch(sql, name);
      out.push(check("scratch_leftover", "warn", name, `dropped scratch schema ${name}, left by a drill that was interrupted`,
        "Nothing to do; if drills keep being interrupted, check what stops them (timeouts, restarts, the kill switch)."));
    } catch (err) {
      out.push(check("scratch_leftover", "warn", name, `the leftover scratch schema ${name} could not be dropped (${describeDbError(err)})`,
        `Drop it by hand: drop schema ${name} cascade;`));
    }
  }
  return out;
}

/** Drops every scratch schema of a job; the names it could not drop. */
export async function dropJobScratch(sql: Sql, jobId: number): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select n.nspname::text as name from pg_catalog.pg_namespace n
    where n.nspname ~ ${`^lifeboat_drill_j${jobId}_u[0-9]+$`}`;
  const failed: string[] = [];
  for (const { name } of rows) {
    try {
      await dropScratch(sql, name);
    } catch {
      failed.push(name);
    }
  }
  return failed;
}

/**
 * The connection a drill restores through: the project's database with the drill's bounds: a
 * statement timeout, a lock timeout (it never queues behind production's locks), commits that
 * do not wait for the WAL flush (scratch data is thrown away), and small memory for sorts and
 * index builds. Postgres has no CPU priority for a session; one COPY at a time is the drill's.
 */
export function boundedConnection(url: string, cfg: DrillConfig): Sql {
  return connect(url, {
    applicationName: "lifeboat backup-drill",
    max: 3,
    statementTimeoutMs: cfg.statementTimeoutMs,
    settings: {
      lock_timeout: String(cfg.lockTimeoutMs),
      synchronous_commit: "off",
      maintenance_work_mem: "64MB",
      work_mem: "8MB",
    },
  });
}

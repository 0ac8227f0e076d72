/**
 * One active backup per target. Two exports writing into the same store at once would race
 * on retention and on which backup is "latest", so `lifeboat backup` and the backup-export
 * jobs share one rule, enforced by the partial unique index `backup_runs_active_target_uniq`
 * (migration 20261122000600): a second run into a target whose run is still planned or
 * running is refused. This module names the run that holds a target, for the message.
 * @module
 */
import type { Sql } from "../db/mod.ts";

/** The run currently holding a target. */
export interface ActiveRun {
  id: number;
  uuid: string;
  /** `backup-export` (an edge-function job) or `cli` (`lifeboat backup`). */
  origin: string;
  startedAt: string | null;
  lastProgressAt: string | null;
}

/** Raised when another backup is already writing into the target. */
export class TargetBusyError extends Error {
  constructor(readonly run: ActiveRun) {
    const who = run.origin === "backup-export" ? "a backup-export job" : "a `lifeboat backup` run";
    super(
      `another backup is already writing into this target: ${who}, run ${run.uuid} (id ${run.id}), ` +
        `started ${run.startedAt ?? "not yet"}, last progress ${run.lastProgressAt ?? "none"}. ` +
        `Wait for it to finish. If it died, it is marked failed once it has made no progress for ` +
        `export.stale_after; to release the target now: select lifeboat.export_fail_run(${run.id}, 'abandoned');`,
    );
    this.name = "TargetBusyError";
  }
}

/** The planned or running backup of a target (trailing slashes ignored), or null. */
export async function activeRunFor(sql: Sql, target: string): Promise<ActiveRun | null> {
  const [r] = await sql`
    select id, run_uuid::text as uuid,
           coalesce(metadata ->> 'origin', metadata ->> 'source', 'unknown') as origin,
           started_at, last_progress_at
    from lifeboat.backup_runs
    where rtrim(target, '/') = rtrim(${target}, '/') and target <> '' and state in ('planned', 'running')
    order by id limit 1`;
  if (!r) return null;
  const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);
  return { id: Number(r.id), uuid: String(r.uuid), origin: String(r.origin), startedAt: iso(r.started_at), lastProgressAt: iso(r.last_progress_at) };
}

/**
 * Seeds backup, verification and drill history for the status tests, marked so it can be
 * removed again: backups labelled `lifeboat-test-seed`, verifications from source
 * `lifeboat-test-seed`, drills with `details.seed = true`.
 * @module
 */
import type postgres from "postgres";
import { withIsolatedTables } from "./isolation.ts";

/**
 * The tables the status report reads history from (with the ones referencing them: parts,
 * verifications, drills, incident events, notification deliveries).
 */
export const STATUS_TABLES = ["lifeboat.backup_runs", "lifeboat.incidents", "lifeboat.alert_events"];

/**
 * Runs `fn` while the status tables hold only what the test seeds: other test files' backups,
 * failed drills and alerts are set aside and the scheduled jobs paused, then all is restored.
 */
export function withStatusIsolation<T>(sql: postgres.Sql, fn: () => Promise<T>): Promise<T> {
  return withIsolatedTables(sql, { tables: STATUS_TABLES }, fn);
}

/** What {@linkcode seedStatusHistory} created. */
export interface SeededHistory {
  /** Number of completed full backups (one per day, the newest 2 h ago). */
  backups: number;
  /** Number of drills (one a day; the third newest failed). */
  drills: number;
}

/**
 * Inserts `days` daily full backups (size and duration growing), their newest verified, and `drills` drills, each of a
 * backup taken an hour before it.
 */
export async function seedStatusHistory(sql: postgres.Sql, days = 30, drills = 8): Promise<SeededHistory> {
  await removeStatusHistory(sql);
  await sql`
    insert into lifeboat.backup_runs (kind, label, state, created_at, started_at, snapshot_at, finished_at,
      manifest_key, bytes, rows, consistent)
    select 'full', 'lifeboat-test-seed', 'completed', t, t, t,
      t + make_interval(secs => 40 + 2 * (${days} - i) + (i % 3) * 5),
      'lifeboat-test-seed/' || i || '/manifest.json',
      (50 + (${days} - i) * 3 + (i % 4) * 2)::bigint * 1048576, 1000 * (${days} - i), true
    from generate_series(0, ${days} - 1) i
    cross join lateral (select now() - interval '2 hours' - make_interval(days => i)
      + make_interval(mins => (i % 5) * 7) as t) x`;
  await sql`
    insert into lifeboat.verification_runs (kind, backup_run_id, source, started_at, finished_at, success, checks_total)
    select 'manual', b.id, 'lifeboat-test-seed', now() - interval '2 minutes', now() - interval '1 minute', true, 14
    from lifeboat.backup_runs b where b.label = 'lifeboat-test-seed' order by b.finished_at desc limit 1`;
  await sql`
    insert into lifeboat.drills (system, started_at, finished_at, measured_rto, objective, success, details,
      backup_run_id, backup_taken_at, restored_into)
    select 'database', t, t + make_interval(secs => rto), make_interval(secs => rto), interval '1 hour', i <> 2,
      '{"seed": true}', (select b.id from lifeboat.backup_runs b where b.label = 'lifeboat-test-seed' and b.finished_at < t
        order by b.finished_at desc limit 1), t - interval '1 hour', 'scratch_database'
    from generate_series(0, ${drills} - 1) i
    cross join lateral (select now() - interval '1 hour' - make_interval(days => i * 3) as t,
      (300 + 97 * ((i * 7) % 11))::double precision as rto) x`;
  return { backups: days, drills };
}

/** Removes what {@linkcode seedStatusHistory} inserted. */
export async function removeStatusHistory(sql: postgres.Sql): Promise<void> {
  await sql`delete from lifeboat.verification_runs where source = 'lifeboat-test-seed'`;
  await sql`delete from lifeboat.drills where details ->> 'seed' = 'true'`;
  await sql`delete from lifeboat.backup_runs where label = 'lifeboat-test-seed'`;
}

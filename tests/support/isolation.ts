/**
 * Test isolation on the shared stack: every test file runs against one database, one after
 * another, and the scheduled pg_cron jobs keep running meanwhile. A test that asserts on the
 * whole content of audit tables (the newest backup, the last drill, every firing alert) uses
 * {@linkcode withIsolatedTables}: it pauses the scheduled jobs, moves the existing rows of those
 * tables (and of every table that references them) into a scratch schema, and puts everything
 * back afterwards, even when the test fails. A run that was killed half way is repaired by the
 * next call, which finds the scratch schema still there.
 * @module
 */
import type postgres from "postgres";
import { waitFor } from "../../harness/stack.ts";

/** The scratch schema; it exists only while an isolated test runs (or after one was killed). */
export const STASH_SCHEMA = "lifeboat_test_stash";

/** What to isolate. */
export interface IsolationOptions {
  /** Tables whose rows the test must own alone, e.g. `lifeboat.backup_runs`. Tables referencing them are added. */
  tables: string[];
  /** Functions whose due outbox calls must finish before the rows move (a call in flight could touch them). */
  settleOutboxFor?: string[];
}

/**
 * Runs `fn` with the scheduled pg_cron jobs paused and `tables` (plus every table referencing
 * them through a foreign key) empty; restores the rows, their identity values and the jobs after.
 */
export async function withIsolatedTables<T>(sql: postgres.Sql, opts: IsolationOptions, fn: () => Promise<T>): Promise<T> {
  await restoreStash(sql, false); // a previous run was killed: give its rows back first
  const ordered = await closureParentsFirst(sql, opts.tables);
  try {
    await pauseJobs(sql);
    await settle(sql, opts.settleOutboxFor ?? []);
    await sql.begin(async (tx) => {
      await tx`create table lifeboat_test_stash.tables (ord int primary key, rel regclass not null)`;
      for (const [i, rel] of ordered.entries()) {
        await tx`insert into lifeboat_test_stash.tables values (${i + 1}, ${rel}::regclass)`;
      }
      await tx.unsafe(`do $$
        declare t record;
        begin
          for t in select ord, rel from lifeboat_test_stash.tables order by ord loop
            execute pg_catalog.format('create table lifeboat_test_stash.%I as select * from %s', 't' || t.ord, t.rel);
          end loop;
          for t in select ord, rel from lifeboat_test_stash.tables order by ord desc loop
            execute pg_catalog.format('delete from %s', t.rel);
          end loop;
        end $$`);
    });
    return await fn();
  } finally {
    await restoreStash(sql, true);
  }
}

/** The tables plus everything referencing them (transitively), parents before children. */
async function closureParentsFirst(sql: postgres.Sql, tables: string[]): Promise<string[]> {
  const edges = await sql<{ child: string; parent: string }[]>`
    select conrelid::regclass::text as child, confrelid::regclass::text as parent
    from pg_catalog.pg_constraint where contype = 'f' and conrelid <> confrelid`;
  const canon = await sql<{ rel: string }[]>`select x::regclass::text as rel from unnest(${tables}::text[]) x`;
  const set = new Set(canon.map((r) => r.rel));
  for (let grew = true; grew;) {
    grew = false;
    for (const e of edges) {
      if (set.has(e.parent) && !set.has(e.child)) {
        set.add(e.child);
        grew = true;
      }
    }
  }
  const out: string[] = [];
  const left = new Set(set);
  while (left.size > 0) {
    const ready = [...left].filter((t) => !edges.some((e) => e.child === t && left.has(e.parent) && e.parent !== t));
    if (ready.length === 0) throw new Error(`foreign keys form a cycle among ${[...left].join(", ")}`);
    for (const t of ready.sort()) {
      out.push(t);
      left.delete(t);
    }
  }
  return out;
}

/** Pauses every active job the caller can see, remembering which, in the scratch schema. */
async function pauseJobs(sql: postgres.Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`create schema lifeboat_test_stash`;
    await tx`create table lifeboat_test_stash.paused_jobs as select jobid from cron.job where active`;
    await tx`select cron.alter_job(jobid, active := false) from lifeboat_test_stash.paused_jobs`;
  });
}

/** Lets a job run that started before the pause, and outbox calls already due, finish. */
async function settle(sql: postgres.Sql, functions: string[]): Promise<void> {
  // pg_cron re-reads cron.job within a second of a change; a run may start until then.
  await new Promise((r) => setTimeout(r, 1100));
  await waitFor(async () => {
    const [r] = await sql`select count(*)::int as n from cron.job_run_details
      where status in ('starting', 'running') and start_time > now() - interval '10 minutes'`;
    return r.n === 0;
  }, 30_000, "running pg_cron jobs to finish");
  if (functions.length === 0) return;
  // A call stuck on a dead receiver stays due; after the wait it is stashed like any other row.
  await waitFor(async () => {
    const [r] = await sql`select count(*)::int as n from lifeboat.outbox
      where function_name = any (${functions}::text[]) and delivered_at is null and dead_at is null
        and next_attempt_at <= now()`;
    return r.n === 0;
  }, 15_000, "due outbox calls to finish").catch(() => {});
}

/**
 * Puts stashed rows back (identity values kept) and re-enables the paused jobs, then drops the
 * scratch schema. `clean` first deletes what the test left in the isolated tables; a repair of
 * a killed run keeps today's rows and only adds the missing ones.
 */
async function restoreStash(sql: postgres.Sql, clean: boolean): Promise<void> {
  await sql.begin(async (tx) => {
    const [s] = await tx`select pg_catalog.to_regnamespace(${STASH_SCHEMA}) is not null as here,
      pg_catalog.to_regclass(${STASH_SCHEMA + ".tables"}) is not null as has_tables,
      pg_catalog.to_regclass(${STASH_SCHEMA + ".paused_jobs"}) is not null as has_jobs`;
    if (!s.here) return;
    if (s.has_tables) {
      await tx.unsafe(`do $$
        declare
          t record;
          cols text;
        begin
          if ${clean ? "true" : "false"} then
            for t in select ord, rel from lifeboat_test_stash.tables order by ord desc loop
              execute pg_catalog.format('delete from %s', t.rel);
            end loop;
          end if;
          for t in select ord, rel from lifeboat_test_stash.tables order by ord loop
            -- generated columns are computed again; identity values are restored as they were
            select pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' order by a.attnum) into cols
            from pg_catalog.pg_attribute a
            where a.attrelid = t.rel and a.attnum > 0 and not a.attisdropped and a.attgenerated = '';
            execute pg_catalog.format(
              'insert into %s (%s) overriding system value select %s from lifeboat_test_stash.%I on conflict do nothing',
              t.rel, cols, cols, 't' || t.ord);
          end loop;
        end $$`);
    }
    if (s.has_jobs) {
      await tx`select cron.alter_job(p.jobid, active := true)
        from lifeboat_test_stash.paused_jobs p join cron.job j on j.jobid = p.jobid`;
    }
    await tx`drop schema lifeboat_test_stash cascade`;
  });
}

-- Lifeboat export jobs: the state behind the backup-export edge function. A job is a
-- lifeboat.backup_runs row (metadata->>'origin' = 'backup-export') whose work is cut into
-- lifeboat.backup_parts: one part per schema object and one per key-range chunk of every
-- table. Invocations claim parts with FOR UPDATE SKIP LOCKED, complete them fenced by the
-- attempt number, and the last one writes the manifest. Also: one active job per target,
-- the stale-job sweeper, orphan bookkeeping and grandfather-father-son (GFS) retention.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

create schema if not exists lifeboat;

-- ---------------------------------------------------------------------------------------
-- Settings. Budgets default to what fits Supabase's free plan (150 s wall clock, 2 s CPU).
-- ---------------------------------------------------------------------------------------

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('export.recipients', '[]'::jsonb, 'age X25519 recipients (age1…) backups are encrypted to; public keys only'),
  ('export.compression', 'null', 'Codec of new backup-export jobs: "gzip", "zstd", or null for the default (zstd where the runtime has it, else gzip)'),
  ('export.unencrypted', 'false', 'Write unencrypted (gzip only) backups; must be set explicitly, recorded in the manifest'),
  ('export.budget.wall_ms', '120000', 'Wall-clock budget of one backup-export invocation (free plan limit: 150 s)'),
  ('export.budget.cpu_ms', '1500', 'CPU budget of one invocation (platform limit: 2 s, async I/O excluded)'),
  ('export.budget.bytes', '268435456', 'Uncompressed COPY bytes one invocation may read'),
  ('export.chunk_bytes', '16777216', 'Target on-disk size of one key-range chunk (one data part)'),
  ('export.part_lease', '"10 minutes"', 'A claimed part whose worker made no progress for this long is claimed again; keep above the platform wall-clock limit'),
  ('export.stale_after', '"30 minutes"', 'A job without progress for this long is marked failed and raises an alert'),
  ('export.max_attempts', '5', 'Attempts per part before the job fails'),
  ('export.continue', 'true', 'When an invocation runs out of budget, it triggers its own continuation'),
  ('export.orphan_grace', '"1 day"', 'Objects of a failed job are deleted this long after it failed'),
  ('export.prune_after_backup', 'true', 'Apply GFS retention after every completed export'),
  ('retention.gfs.daily', '7', 'GFS: keep the newest backup of each of this many most recent days'),
  ('retention.gfs.weekly', '4', 'GFS: keep the newest backup of each of this many most recent ISO weeks'),
  ('retention.gfs.monthly', '12', 'GFS: keep the newest backup of each of this many most recent months'),
  ('retention.gfs.yearly', '"all"', 'GFS: keep the newest backup of each of this many most recent years ("all" = archive every year)')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- ---------------------------------------------------------------------------------------
-- What a part is. Columns added to the audit migration's table; the CLI's rows keep the
-- defaults (kind 'data').
-- ---------------------------------------------------------------------------------------

alter table lifeboat.backup_parts add column if not exists kind text not null default 'data';
alter table lifeboat.backup_parts add column if not exists key_columns text[];
alter table lifeboat.backup_parts add column if not exists est_bytes bigint;
alter table lifeboat.backup_parts add column if not exists plain_bytes bigint;
alter table lifeboat.backup_parts add column if not exists snapshot_id text;
alter table lifeboat.backup_parts add column if not exists snapshot_lsn pg_lsn;
alter table lifeboat.backup_parts add column if not exists details jsonb not null default '{}';
do $$
begin
  if not exists (select from pg_catalog.pg_constraint c
                 where c.conname = 'backup_parts_kind' and c.conrelid = 'lifeboat.backup_parts'::regclass) then
    alter table lifeboat.backup_parts add constraint backup_parts_kind
      check (kind in ('roles', 'pre-data', 'data', 'post-data', 'finalize'));
  end if;
end
$$;

-- One active backup per target, whoever runs it (a backup-export job or `lifeboat backup`):
-- two exports into one store at once would race on retention and on "latest". Targets
-- compare without trailing slashes; runs without a target are not concerned. Two triggers
-- at once never make two jobs for one target: the second insert waits for the first to
-- commit, then conflicts and joins the existing job; the CLI is refused with the run's id.
drop index if exists lifeboat.backup_runs_export_active_uniq;
create unique index if not exists backup_runs_active_target_uniq on lifeboat.backup_runs (pg_catalog.rtrim(target, '/'))
  where state in ('planned', 'running') and target <> '';

-- ---------------------------------------------------------------------------------------
-- Small helpers.
-- ---------------------------------------------------------------------------------------

-- An interval-valued setting (its default lives in lifeboat.settings.default_value).
create or replace function lifeboat.setting_interval(setting_key text)
returns interval
language sql
stable
set search_path = ''
as $$
  select (lifeboat.setting(setting_key) #>> '{}')::interval
$$;
comment on function lifeboat.setting_interval(text) is 'An interval-valued setting, in effect (value or default_value).';

-- Raises (or re-raises) the alert for a rule and key: one firing row per dedup key.
create or replace function lifeboat.export_raise_alert(
  p_rule text, p_severity text, p_dedup_key text, p_summary text, p_details jsonb default '{}'
)
returns bigint
language sql
volatile
set search_path = ''
as $$
  insert into lifeboat.alert_events as a (rule, severity, dedup_key, summary, details)
  values (p_rule, p_severity, p_dedup_key, p_summary, coalesce(p_details, '{}'))
  on conflict (dedup_key) where state = 'firing' do update
    set last_seen = pg_catalog.now(), occurrences = a.occurrences + 1, summary = excluded.summary,
        details = excluded.details
  returning id
$$;
comment on function lifeboat.export_raise_alert(text, text, text, text, jsonb) is
  'Opens a firing alert for a dedup key, or counts one more occurrence of the open one.';

-- ---------------------------------------------------------------------------------------
-- Planning: key ranges from the primary key.
-- ---------------------------------------------------------------------------------------

-- The primary key columns of a table in key order, or null when it has none.
create or replace function lifeboat.export_key_columns(p_table regclass)
returns text[]
language sql
stable
set search_path = ''
as $$
  select pg_catalog.array_agg(a.attname::text order by k.ord)
  from pg_catalog.pg_index i
  cross join lateral pg_catalog.unnest(i.indkey) with ordinality as k(attnum, ord)
  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
  where i.indrelid = p_table and i.indisprimary
$$;
comment on function lifeboat.export_key_columns(regclass) is 'Primary key columns of a table in key order (null: no primary key).';

-- Lower bounds (as text arrays, one value per key column) that cut a table into about
-- p_chunks key ranges of similar row counts. Big tables are sampled (TABLESAMPLE SYSTEM),
-- so ranges are approximate; every row still falls in exactly one range.
create or replace function lifeboat.export_chunk_bounds(p_table regclass, p_key_columns text[], p_chunks integer)
returns setof text[]
language plpgsql
volatile
set search_path = ''
as $$
declare
  est double precision;
  sample text := '';
  cols text;
  vals text;
  target_rows constant integer := 20000;
begin
  if p_chunks <= 1 or p_key_columns is null or pg_catalog.cardinality(p_key_columns) = 0 then
    return;
  end if;
  select c.reltuples into est from pg_catalog.pg_class c where c.oid = p_table;
  if est > target_rows * 2 then
    sample := pg_catalog.format(' tablesample system (%s)',
      least(100, greatest(0.001, 100.0 * target_rows / est))::numeric(10, 4));
  end if;
  select pg_catalog.string_agg(pg_catalog.quote_ident(c), ', '),
         pg_catalog.string_agg(pg_catalog.format('%I::text', c), ', ')
  into cols, vals
  from pg_catalog.unnest(p_key_columns) as c;
  return query execute pg_catalog.format(
    'select s.k from (
       select array[%s] as k, pg_catalog.row_number() over (order by %s) as rn, pg_catalog.count(*) over () as n
       from %s%s
     ) s
     where s.rn > 1 and (s.rn - 1) %% greatest(1, ceil(s.n::numeric / $1)::bigint) = 0
     order by s.rn',
    vals, cols, p_table, sample) using p_chunks;
end
$$;
comment on function lifeboat.export_chunk_bounds(regclass, text[], integer) is
  'Key values that cut a table into about p_chunks ranges (each a lower bound), from the primary key order.';

-- Plans one table of a job: one data part per key range, with its estimated size. A table
-- without a primary key is one part (it cannot be cut into stable ranges).
create or replace function lifeboat.export_plan_table(
  p_run_id bigint, p_schema text, p_name text, p_chunk_bytes bigint
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  rel regclass := pg_catalog.to_regclass(pg_catalog.format('%I.%I', p_schema, p_name));
  keys text[];
  size bigint;
  chunks integer;
  bounds text[][];
  n integer;
begin
  if rel is null then
    raise exception 'table %.% does not exist', p_schema, p_name using errcode = 'undefined_table';
  end if;
  keys := lifeboat.export_key_columns(rel);
  size := pg_catalog.pg_table_size(rel);
  chunks := least(10000, greatest(1, ceil(size::numeric / greatest(p_chunk_bytes, 1))::integer));
  select pg_catalog.array_agg(b) into bounds from lifeboat.export_chunk_bounds(rel, keys, chunks) as b;
  n := coalesce(pg_catalog.array_length(bounds, 1), 0) + 1;
  insert into lifeboat.backup_parts (run_id, kind, table_schema, table_name, chunk, key_columns, lower_bound, upper_bound, est_bytes)
  select p_run_id, 'data', p_schema, p_name, i - 1, keys,
    case when i = 1 then null else pg_catalog.to_jsonb(bounds[i - 1:i - 1]) -> 0 end,
    case when i = n then null else pg_catalog.to_jsonb(bounds[i:i]) -> 0 end,
    size / n
  from pg_catalog.generate_series(1, n) as i;
  return n;
end
$$;
comment on function lifeboat.export_plan_table(bigint, text, text, bigint) is
  'Inserts the data parts of one table into a job: key ranges of about p_chunk_bytes on disk each.';

-- ---------------------------------------------------------------------------------------
-- Claiming and completing parts.
-- ---------------------------------------------------------------------------------------

-- Claims the next part of a running job (none if the job is not running).
create or replace function lifeboat.export_claim_part(p_run_id bigint, p_worker text, p_lease interval)
returns setof lifeboat.backup_parts
language sql
volatile
set search_path = ''
as $$
  select c.* from lifeboat.claim_backup_part(p_run_id, p_worker, p_lease) c
  where exists (select from lifeboat.backup_runs r where r.id = p_run_id and r.state = 'running')
$$;
comment on function lifeboat.export_claim_part(bigint, text, interval) is
  'claim_backup_part() for a running export job: one part, skipping those other workers hold.';

-- Completes a claimed part with what was stored and the snapshot it was read in. Fenced by
-- the attempt: false (nothing changes) for a stale or repeated completion, so no part is
-- ever counted twice.
create or replace function lifeboat.export_complete_part(
  p_part_id bigint, p_attempt integer, p_object_key text, p_size_bytes bigint, p_sha256 text,
  p_row_count bigint, p_plain_bytes bigint, p_snapshot_id text, p_snapshot_lsn pg_lsn, p_details jsonb default '{}'
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  -- A late worker of a job that has stopped changes nothing.
  if not exists (
    select from lifeboat.backup_parts p join lifeboat.backup_runs r on r.id = p.run_id
    where p.id = p_part_id and r.state = 'running'
  ) then
    return false;
  end if;
  -- The attempt fence lives in complete_backup_part(), the one place a part becomes done.
  if not lifeboat.complete_backup_part(p_part_id, p_attempt, p_object_key, p_size_bytes, p_sha256, p_row_count) then
    return false;
  end if;
  update lifeboat.backup_parts p
  set plain_bytes = p_plain_bytes, snapshot_id = p_snapshot_id, snapshot_lsn = p_snapshot_lsn,
      details = coalesce(p_details, '{}')
  where p.id = p_part_id;
  return true;
end
$$;
comment on function lifeboat.export_complete_part(bigint, integer, text, bigint, text, bigint, bigint, text, pg_lsn, jsonb) is
  'Marks a claimed part of a running job done. False if the attempt is stale, already completed, or the job stopped.';

-- Marks a job failed (if it is still active) and raises an alert for its target.
create or replace function lifeboat.export_fail_run(p_run_id bigint, p_error text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  r lifeboat.backup_runs;
begin
  update lifeboat.backup_runs x
  set state = 'failed', finished_at = pg_catalog.now(), error = pg_catalog.left(coalesce(p_error, 'failed'), 2000),
      started_at = coalesce(x.started_at, pg_catalog.now())
  where x.id = p_run_id and x.state in ('planned', 'running')
  returning * into r;
  if r.id is null then
    return false;
  end if;
  perform lifeboat.export_raise_alert('backup_export_failed', 'critical', 'backup_export_failed:' || r.target,
    pg_catalog.format('backup export job %s failed: %s', r.run_uuid, r.error),
    pg_catalog.jsonb_build_object('run_id', r.id, 'run_uuid', r.run_uuid, 'target', r.target,
      'backup_id', r.metadata ->> 'backup_id'));
  return true;
end
$$;
comment on function lifeboat.export_fail_run(bigint, text) is 'Fails an active export job with a message and raises a critical alert.';

-- Hands a claimed part back untouched (the invocation's budget cannot fit it): the claim
-- does not count as an attempt.
create or replace function lifeboat.export_unclaim_part(p_part_id bigint, p_attempt integer)
returns boolean
language sql
volatile
set search_path = ''
as $$
  update lifeboat.backup_parts p
  set state = 'pending', claimed_by = null, claimed_at = null, attempt = p.attempt - 1
  where p.id = p_part_id and p.state = 'claimed' and p.attempt = p_attempt
  returning true
$$;
comment on function lifeboat.export_unclaim_part(bigint, integer) is
  'Returns a claimed part to pending without counting the attempt (fenced by the attempt number).';

-- Gives a claimed part back after a failed attempt, or fails it (and its job) once it has
-- used p_max_attempts. Returns the part's new state, or 'stale' if the attempt was not current.
create or replace function lifeboat.export_release_part(
  p_part_id bigint, p_attempt integer, p_error text, p_max_attempts integer
)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  p lifeboat.backup_parts;
begin
  select * into p from lifeboat.backup_parts x where x.id = p_part_id for update;
  if not found or p.state <> 'claimed' or p.attempt <> p_attempt then
    return 'stale';
  end if;
  if p.attempt >= p_max_attempts then
    update lifeboat.backup_parts x set state = 'failed', error = pg_catalog.left(p_error, 2000) where x.id = p_part_id;
    perform lifeboat.export_fail_run(p.run_id, pg_catalog.format('part %s of %s.%s failed %s times: %s',
      p.chunk, p.table_schema, p.table_name, p.attempt, p_error));
    return 'failed';
  end if;
  update lifeboat.backup_parts x set state = 'pending', claimed_by = null, claimed_at = null,
    error = pg_catalog.left(p_error, 2000)
  where x.id = p_part_id;
  return 'pending';
end
$$;
comment on function lifeboat.export_release_part(bigint, integer, text, integer) is
  'Returns a part to pending after a failed attempt, or fails it and its job after max attempts.';

-- Stale jobs: active export jobs and CLI runs of a target without progress for
-- export.stale_after are failed with an alert. p_now is injectable for tests.
create or replace function lifeboat.export_sweep_stale(p_now timestamptz default pg_catalog.now())
returns table (run_id bigint, run_uuid uuid, target text, last_progress_at timestamptz)
language plpgsql
volatile
set search_path = ''
as $$
declare
  stale interval := lifeboat.setting_interval('export.stale_after');
  r record;
begin
  for r in
    select x.id, x.run_uuid, x.target, coalesce(x.last_progress_at, x.started_at, x.created_at) as at,
           -- A one-shot run (not an edge job, whose parts resume in new snapshots) that started
           -- before the server last started is dead: its snapshot transaction ended with that
           -- server. It is failed at once, not after stale_after.
           (coalesce(x.metadata ->> 'origin', '') <> 'backup-export'
             and coalesce(x.last_progress_at, x.started_at, x.created_at) < pg_catalog.pg_postmaster_start_time()) as restarted
    from lifeboat.backup_runs x
    -- Every run that holds a target (edge jobs and `lifeboat backup` runs alike): a run that
    -- died must not block its target forever.
    where x.state in ('planned', 'running') and ((x.metadata ->> 'origin') = 'backup-export' or x.target <> '')
      and (coalesce(x.last_progress_at, x.started_at, x.created_at) < p_now - stale
           or (coalesce(x.metadata ->> 'origin', '') <> 'backup-export'
               and coalesce(x.last_progress_at, x.started_at, x.created_at) < pg_catalog.pg_postmaster_start_time()))
    for update skip locked
  loop
    if r.restarted then
      perform lifeboat.export_fail_run(r.id, pg_catalog.format(
        'stale: the database restarted during the run (no progress since %s), so its snapshot was lost: run the backup again', r.at));
      perform lifeboat.export_raise_alert('backup_export_stale', 'critical', 'backup_export_stale:' || r.target,
        pg_catalog.format('backup run %s was cut off by a database restart and was marked failed', r.run_uuid),
        pg_catalog.jsonb_build_object('run_id', r.id, 'run_uuid', r.run_uuid, 'target', r.target, 'last_progress_at', r.at));
    else
      perform lifeboat.export_fail_run(r.id, pg_catalog.format('stale: no progress since %s (export.stale_after is %s)', r.at, stale));
      perform lifeboat.export_raise_alert('backup_export_stale', 'critical', 'backup_export_stale:' || r.target,
        pg_catalog.format('backup export job %s made no progress for %s and was marked failed', r.run_uuid, stale),
        pg_catalog.jsonb_build_object('run_id', r.id, 'run_uuid', r.run_uuid, 'target', r.target, 'last_progress_at', r.at));
    end if;
    run_id := r.id;
    run_uuid := r.run_uuid;
    target := r.target;
    last_progress_at := r.at;
    return next;
  end loop;
end
$$;
comment on function lifeboat.export_sweep_stale(timestamptz) is
  'Fails export jobs and CLI runs with no progress for export.stale_after, and CLI runs that a database restart cut off, and raises a backup_export_stale alert.';

-- ---------------------------------------------------------------------------------------
-- Finishing a job.
-- ---------------------------------------------------------------------------------------

-- Takes the right to write a job's manifest: only when every part is done, and only one
-- worker at a time (a finalizer that died is replaced after p_lease).
create or replace function lifeboat.export_claim_finalize(p_run_id bigint, p_worker text, p_lease interval)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  ok bigint;
begin
  update lifeboat.backup_runs r
  set metadata = r.metadata || pg_catalog.jsonb_build_object('finalizer', p_worker, 'finalizer_at', pg_catalog.now())
  where r.id = p_run_id and r.state = 'running'
    and not exists (select from lifeboat.backup_parts p where p.run_id = r.id and p.state <> 'done')
    and exists (select from lifeboat.backup_parts p where p.run_id = r.id)
    and (r.metadata ->> 'finalizer' is null or r.metadata ->> 'finalizer' = p_worker
         or (r.metadata ->> 'finalizer_at')::timestamptz < pg_catalog.now() - p_lease)
  returning r.id into ok;
  return ok is not null;
end
$$;
comment on function lifeboat.export_claim_finalize(bigint, text, interval) is
  'True if this worker may write the manifest: all parts done, no other live finalizer.';

-- Marks a job completed once its manifest is stored; totals come from its parts.
create or replace function lifeboat.export_complete_run(
  p_run_id bigint, p_worker text, p_manifest_key text, p_consistent boolean
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  ok bigint;
begin
  update lifeboat.backup_runs r
  set state = 'completed', finished_at = pg_catalog.now(), last_progress_at = pg_catalog.now(),
      manifest_key = p_manifest_key, consistent = p_consistent, error = null,
      bytes = t.bytes, rows = t.rows, parts_total = t.parts,
      snapshot_id = t.first_snapshot, snapshot_lsn = t.first_lsn
  from (
    select coalesce(sum(p.size_bytes), 0)::bigint as bytes, coalesce(sum(p.row_count), 0)::bigint as rows,
      count(*)::integer as parts,
      (pg_catalog.array_agg(p.snapshot_id order by p.snapshot_lsn, p.id))[1] as first_snapshot,
      min(p.snapshot_lsn) as first_lsn
    from lifeboat.backup_parts p where p.run_id = p_run_id
  ) t
  where r.id = p_run_id and r.state = 'running' and r.metadata ->> 'finalizer' = p_worker
  returning r.id into ok;
  return ok is not null;
end
$$;
comment on function lifeboat.export_complete_run(bigint, text, text, boolean) is
  'Marks an export job completed after its manifest is stored (only by its finalizer).';

-- Progress of a job, as the function reports it.
create or replace function lifeboat.export_progress(p_run_id bigint)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'state', r.state,
    'parts_total', count(p.id),
    'parts_done', count(p.id) filter (where p.state = 'done'),
    'parts_claimed', count(p.id) filter (where p.state = 'claimed'),
    'tables_total', count(distinct (p.table_schema, p.table_name)) filter (where p.kind = 'data'),
    'tables_done', (select count(*) from (
        select 1 from lifeboat.backup_parts q where q.run_id = r.id and q.kind = 'data'
        group by q.table_schema, q.table_name having pg_catalog.bool_and(q.state = 'done')) d),
    'bytes_done', coalesce(sum(p.plain_bytes) filter (where p.state = 'done'), 0),
    'stored_bytes_done', coalesce(sum(p.size_bytes) filter (where p.state = 'done'), 0),
    'rows_done', coalesce(sum(p.row_count) filter (where p.state = 'done'), 0),
    'est_bytes_remaining', coalesce(sum(p.est_bytes) filter (where p.state <> 'done'), 0),
    'snapshots', count(distinct p.snapshot_id))
  from lifeboat.backup_runs r
  left join lifeboat.backup_parts p on p.run_id = r.id
  where r.id = p_run_id
  group by r.id, r.state
$$;
comment on function lifeboat.export_progress(bigint) is 'Parts, tables, bytes and rows done and remaining for an export job.';

-- ---------------------------------------------------------------------------------------
-- Retention: grandfather-father-son over completed backups of one target.
-- ---------------------------------------------------------------------------------------

-- A GFS count setting: a non-negative integer, or null for "all" (unlimited).
create or replace function lifeboat.gfs_count(setting_key text)
returns integer
language sql
stable
set search_path = ''
as $$
  select case
    when v #>> '{}' = 'all' then null
    else greatest(0, (v #>> '{}')::integer) end
  from (select lifeboat.setting(setting_key) as v) s
$$;
comment on function lifeboat.gfs_count(text) is 'A retention.gfs.* count in effect: an integer, or null for "all".';

-- Which completed backups of a target GFS keeps at p_now, and why. For each period kind
-- (day, ISO week, month, year, in UTC) the newest backup of each of the N most recent
-- periods that hold a backup is kept; periods after p_now are ignored (backups "from the
-- future" are kept and never count). The newest backup and the newest verified backup are
-- always kept.
create or replace function lifeboat.gfs_retention(p_target text, p_now timestamptz default pg_catalog.now())
returns table (run_id bigint, backup_id text, finished_at timestamptz, keep boolean, reasons text[])
language sql
stable
set search_path = ''
as $$
  with b as (
    select r.id, r.metadata ->> 'backup_id' as backup_id, r.finished_at,
      r.finished_at at time zone 'UTC' as ts
    from lifeboat.backup_runs r
    where r.target = p_target and r.state = 'completed' and r.finished_at is not null
  ),
  policy(period, n) as (
    values ('day', lifeboat.gfs_count('retention.gfs.daily')),
           ('week', lifeboat.gfs_count('retention.gfs.weekly')),
           ('month', lifeboat.gfs_count('retention.gfs.monthly')),
           ('year', lifeboat.gfs_count('retention.gfs.yearly'))
  ),
  newest_per_period as (
    select distinct on (p.period, pg_catalog.date_trunc(p.period, b.ts))
      p.period, p.n, b.id, pg_catalog.date_trunc(p.period, b.ts) as bucket
    from b cross join policy p
    where b.finished_at <= p_now
    order by p.period, pg_catalog.date_trunc(p.period, b.ts), b.finished_at desc, b.id desc
  ),
  ranked as (
    select x.*, pg_catalog.row_number() over (partition by x.period order by x.bucket desc) as rank
    from newest_per_period x
  ),
  kept as (
    select k.id, pg_catalog.array_agg(
      case k.period when 'day' then 'daily' when 'week' then 'weekly' when 'month' then 'monthly' else 'yearly' end
      order by case k.period when 'day' then 1 when 'week' then 2 when 'month' then 3 else 4 end) as why
    from ranked k where k.n is null or k.rank <= k.n
    group by k.id
  ),
  newest as (
    select b.id from b order by b.finished_at desc, b.id desc limit 1
  ),
  newest_verified as (
    select b.id from b
    where exists (select from lifeboat.verification_runs v where v.backup_run_id = b.id and v.success)
    order by b.finished_at desc, b.id desc limit 1
  )
  select b.id, b.backup_id, b.finished_at,
    k.id is not null or b.finished_at > p_now or b.id in (select id from newest) or b.id in (select id from newest_verified),
    coalesce(k.why, '{}')
      || case when b.finished_at > p_now then array['future'] else '{}'::text[] end
      || case when b.id in (select id from newest) then array['newest'] else '{}'::text[] end
      || case when b.id in (select id from newest_verified) then array['newest_verified'] else '{}'::text[] end
  from b left join kept k on k.id = b.id
  order by b.finished_at desc, b.id desc
$$;
comment on function lifeboat.gfs_retention(text, timestamptz) is
  'For each completed backup of a target: whether GFS retention (retention.gfs.*) keeps it at p_now, and why.';

-- Records that a backup was pruned (its objects deleted): the run becomes 'pruned' and the
-- deletion is logged in maintenance_log. False if the run is not a completed backup.
create or replace function lifeboat.export_record_prune(
  p_run_id bigint, p_objects integer, p_bytes bigint, p_details jsonb default '{}'
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  r lifeboat.backup_runs;
begin
  update lifeboat.backup_runs x
  set state = 'pruned', metadata = x.metadata || pg_catalog.jsonb_build_object('pruned_at', pg_catalog.now())
  where x.id = p_run_id and x.state = 'completed'
  returning * into r;
  if r.id is null then
    return false;
  end if;
  insert into lifeboat.maintenance_log (type, description, outcome, details)
  values ('backup_prune',
    pg_catalog.format('pruned backup %s (%s objects, %s bytes) outside the GFS policy',
      r.metadata ->> 'backup_id', p_objects, p_bytes),
    'success',
    coalesce(p_details, '{}') || pg_catalog.jsonb_build_object('run_id', r.id, 'run_uuid', r.run_uuid,
      'backup_id', r.metadata ->> 'backup_id', 'target', r.target, 'finished_at', r.finished_at,
      'objects', p_objects, 'bytes', p_bytes));
  return true;
end
$$;
comment on function lifeboat.export_record_prune(bigint, integer, bigint, jsonb) is
  'Marks a completed backup pruned and logs the deletion (objects, bytes) in maintenance_log.';

-- Failed export jobs of a target whose objects are due for deletion (failed more than
-- export.orphan_grace before p_now, not cleaned yet).
create or replace function lifeboat.export_orphans(p_target text, p_now timestamptz default pg_catalog.now())
returns table (run_id bigint, backup_id text, failed_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select r.id, r.metadata ->> 'backup_id', r.finished_at
  from lifeboat.backup_runs r
  where r.target = p_target and r.state = 'failed' and (r.metadata ->> 'origin') = 'backup-export'
    and r.metadata ->> 'backup_id' is not null and not (r.metadata ? 'orphans_cleaned_at')
    and r.finished_at < p_now - lifeboat.setting_interval('export.orphan_grace')
  order by r.finished_at
$$;
comment on function lifeboat.export_orphans(text, timestamptz) is
  'Failed export jobs past export.orphan_grace whose stored objects have not been deleted yet.';

-- Records that a failed job's orphaned objects were deleted.
create or replace function lifeboat.export_record_orphans(p_run_id bigint, p_objects integer, p_bytes bigint)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  r lifeboat.backup_runs;
begin
  update lifeboat.backup_runs x
  set metadata = x.metadata || pg_catalog.jsonb_build_object('orphans_cleaned_at', pg_catalog.now())
  where x.id = p_run_id and x.state = 'failed'
  returning * into r;
  if r.id is null then
    return false;
  end if;
  insert into lifeboat.maintenance_log (type, description, outcome, details)
  values ('backup_orphans',
    pg_catalog.format('deleted %s orphaned objects (%s bytes) of failed export %s', p_objects, p_bytes, r.metadata ->> 'backup_id'),
    'success',
    pg_catalog.jsonb_build_object('run_id', r.id, 'run_uuid', r.run_uuid, 'backup_id', r.metadata ->> 'backup_id',
      'target', r.target, 'objects', p_objects, 'bytes', p_bytes));
  return true;
end
$$;
comment on function lifeboat.export_record_orphans(bigint, integer, bigint) is
  'Marks a failed job''s orphaned objects deleted and logs it in maintenance_log.';

-- ---------------------------------------------------------------------------------------
-- The pg_cron safety net: every 5 minutes, fail stale jobs and resume any unfinished job
-- that is not being worked (the function's own continuation is the fast path).
-- ---------------------------------------------------------------------------------------

create or replace function lifeboat.export_tick()
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  r lifeboat.backup_runs;
  lease interval := lifeboat.setting_interval('export.part_lease');
begin
  perform lifeboat.export_sweep_stale();
  select * into r from lifeboat.backup_runs x
  where x.state = 'running' and (x.metadata ->> 'origin') = 'backup-export'
    -- Nobody working: nothing claimed within the lease, yet work is left.
    and not exists (select from lifeboat.backup_parts p
                    where p.run_id = x.id and p.state = 'claimed' and p.claimed_at > pg_catalog.now() - lease
                      and p.claimed_at > pg_catalog.pg_postmaster_start_time())
  order by x.created_at
  limit 1;
  if r.id is null then
    return 'idle';
  end if;
  perform lifeboat.invoke('backup-export',
    pg_catalog.jsonb_build_object('mode', r.kind, 'resume', r.run_uuid::text));
  return 'resumed ' || r.run_uuid::text;
end
$$;
comment on function lifeboat.export_tick() is
  'pg_cron safety net: fails stale export jobs and invokes backup-export to resume an unfinished one.';

do $$
begin
  if pg_catalog.to_regclass('lifeboat.schedules') is not null then
    insert into lifeboat.schedules (name, schedule, command, enabled, requires_setting, description) values
      ('export-resume', '*/5 * * * *', 'select lifeboat.export_tick()', true, 'export.target',
       'Every 5 minutes: fail stale export jobs, resume an unfinished one; installed once export.target is set')
    on conflict (name) do nothing;
  end if;
  if pg_catalog.to_regprocedure('lifeboat.apply_schedules()') is not null then
    perform lifeboat.apply_schedules();
  end if;
end
$$;

-- Nothing here is granted to the API roles: the function connects as the owner role.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

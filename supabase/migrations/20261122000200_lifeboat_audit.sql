-- Lifeboat audit tables: backup runs and their parts, verification runs, restore drills,
-- the maintenance log, incidents with their timeline, alert events and metric snapshots,
-- plus the retention policies that lifeboat.purge_expired() enforces.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

create schema if not exists lifeboat;

-- ---------------------------------------------------------------------------------------
-- Backups. The export engine plans a run, then plans one part per table chunk (a key
-- range), then any number of workers claim parts with FOR UPDATE SKIP LOCKED and complete
-- them. A part is counted once because (1) it is unique per (run, table, chunk) and per
-- (run, object key), (2) completion is fenced by the attempt number the claim returned, so
-- a worker whose lease expired and was re-claimed cannot complete it a second time, and
-- (3) run totals are derived from the parts (lifeboat.backup_run_progress), not incremented.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.backup_runs (
  id bigint generated always as identity primary key,
  run_uuid uuid not null default gen_random_uuid() unique,
  kind text not null check (kind in ('full', 'tables')),
  label text,
  -- Where the run is stored, described without credentials (e.g. 's3://bucket/prefix').
  target text not null default '',
  state text not null default 'planned'
    check (state in ('planned', 'running', 'completed', 'failed', 'pruned')),
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  last_progress_at timestamptz,
  -- The exported snapshot every part was read under, and where it sits in the WAL.
  snapshot_id text,
  snapshot_lsn pg_lsn,
  snapshot_at timestamptz,
  -- True only when every part was read under the one snapshot.
  consistent boolean not null default false,
  -- Requested tables for kind 'tables': [{"schema": …, "name": …}].
  tables jsonb,
  bytes bigint check (bytes >= 0),
  rows bigint check (rows >= 0),
  parts_total integer check (parts_total >= 0),
  manifest_key text,
  error text,
  metadata jsonb not null default '{}',
  constraint backup_runs_started check (state = 'planned' or started_at is not null),
  constraint backup_runs_finished check (state not in ('completed', 'failed') or finished_at is not null),
  constraint backup_runs_completed check (state <> 'completed' or manifest_key is not null),
  constraint backup_runs_failed check (state <> 'failed' or error is not null)
);
comment on table lifeboat.backup_runs is
  'One row per backup (export) run. Totals are final figures written at completion; live progress is in lifeboat.backup_run_progress.';
create index if not exists backup_runs_state_idx on lifeboat.backup_runs (state, finished_at desc);
create index if not exists backup_runs_created_idx on lifeboat.backup_runs (created_at desc);

create table if not exists lifeboat.backup_parts (
  id bigint generated always as identity primary key,
  run_id bigint not null references lifeboat.backup_runs (id) on delete cascade,
  table_schema text not null,
  table_name text not null,
  chunk integer not null default 0 check (chunk >= 0),
  -- Key range [lower_bound, upper_bound) as a jsonb array of primary-key values; null = open.
  lower_bound jsonb,
  upper_bound jsonb,
  state text not null default 'pending' check (state in ('pending', 'claimed', 'done', 'failed')),
  claimed_by text,
  claimed_at timestamptz,
  -- Incremented by every claim; the fencing token a completion must present.
  attempt integer not null default 0 check (attempt >= 0),
  object_key text,
  size_bytes bigint check (size_bytes >= 0),
  sha256 text check (sha256 ~ '^[0-9a-f]{64}$'),
  row_count bigint check (row_count >= 0),
  finished_at timestamptz,
  error text,
  constraint backup_parts_chunk_uniq unique (run_id, table_schema, table_name, chunk),
  constraint backup_parts_object_uniq unique (run_id, object_key),
  constraint backup_parts_claimed check (state <> 'claimed' or (claimed_by is not null and claimed_at is not null)),
  constraint backup_parts_done check (state <> 'done'
    or (object_key is not null and size_bytes is not null and sha256 is not null and row_count is not null))
);
comment on table lifeboat.backup_parts is
  'One row per exported chunk of a table. Claim with lifeboat.claim_backup_part(), finish with lifeboat.complete_backup_part().';
-- Claiming scans pending (and stale claimed) parts of one run.
create index if not exists backup_parts_claim_idx on lifeboat.backup_parts (run_id, state, id)
  where state in ('pending', 'claimed');

-- Live totals of a run, from its parts: each done part counted exactly once.
create or replace view lifeboat.backup_run_progress
with (security_invoker = true) as
select r.id as run_id, r.state,
  count(p.id) as parts_total,
  count(p.id) filter (where p.state = 'done') as parts_done,
  count(p.id) filter (where p.state = 'failed') as parts_failed,
  coalesce(sum(p.size_bytes) filter (where p.state = 'done'), 0)::bigint as bytes_done,
  coalesce(sum(p.row_count) filter (where p.state = 'done'), 0)::bigint as rows_done
from lifeboat.backup_runs r
left join lifeboat.backup_parts p on p.run_id = r.id
group by r.id, r.state;
comment on view lifeboat.backup_run_progress is 'Per run: parts planned, done and failed, and bytes and rows of done parts.';

-- Claims one pending part of a run (or one whose claim is older than stale_after), skipping
-- parts other workers hold locked. Returns the part with its new attempt number, or nothing.
create or replace function lifeboat.claim_backup_part(
  p_run_id bigint, p_worker text, p_stale_after interval default interval '15 minutes'
)
returns setof lifeboat.backup_parts
language sql
volatile
set search_path = ''
as $$
  with next as (
    select p.id from lifeboat.backup_parts p
    where p.run_id = p_run_id
      -- A claim older than the lease is abandoned, and so is one made before the server last
      -- started: the worker's snapshot transaction ended with that server, so it cannot finish.
      and (p.state = 'pending' or (p.state = 'claimed' and (p.claimed_at < pg_catalog.now() - p_stale_after
                                                         or p.claimed_at < pg_catalog.pg_postmaster_start_time())))
    order by p.id
    limit 1
    for update skip locked
  )
  update lifeboat.backup_parts p
  set state = 'claimed', claimed_by = p_worker, claimed_at = pg_catalog.now(), attempt = p.attempt + 1, error = null
  from next
  where p.id = next.id
  returning p.*
$$;
comment on function lifeboat.claim_backup_part(bigint, text, interval) is
  'Claims one pending (or stale: past the lease, or claimed before the server started) part of a run for a worker, without blocking on parts others hold. Empty when none is left.';

-- Completes a claimed part. Only the holder of the current attempt can complete it, once:
-- returns false (and changes nothing) for a stale or repeated completion.
create or replace function lifeboat.complete_backup_part(
  p_part_id bigint, p_attempt integer, p_object_key text, p_size_bytes bigint, p_sha256 text, p_row_count bigint
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_run_id bigint;
begin
  update lifeboat.backup_parts p
  set state = 'done', object_key = p_object_key, size_bytes = p_size_bytes, sha256 = p_sha256,
      row_count = p_row_count, finished_at = pg_catalog.now(), error = null
  where p.id = p_part_id and p.state = 'claimed' and p.attempt = p_attempt
  returning p.run_id into v_run_id;
  if v_run_id is null then
    return false;
  end if;
  update lifeboat.backup_runs r set last_progress_at = pg_catalog.now() where r.id = v_run_id;
  return true;
end
$$;
comment on function lifeboat.complete_backup_part(bigint, integer, text, bigint, text, bigint) is
  'Marks a claimed part done with its object key, size, sha256 and row count. False if the attempt is stale or already completed.';

-- ---------------------------------------------------------------------------------------
-- Verification runs and restore drills (compliance records: kept 7 years).
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.verification_runs (
  id bigint generated always as identity primary key,
  kind text not null default 'scheduled' check (kind in ('scheduled', 'manual', 'backup', 'restore')),
  backup_run_id bigint references lifeboat.backup_runs (id) on delete set null,
  -- What produced the results, e.g. 'lifeboat.diagnose()'.
  source text not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  success boolean,
  checks_total integer not null default 0,
  warnings integer not null default 0,
  errors integer not null default 0,
  -- The non-ok check rows, in the uniform check shape.
  findings jsonb not null default '[]',
  details jsonb not null default '{}'
);
comment on table lifeboat.verification_runs is 'One row per verification (scheduled checks, or a backup or restore verified).';
create index if not exists verification_runs_started_idx on lifeboat.verification_runs (started_at desc);

create table if not exists lifeboat.drills (
  id bigint generated always as identity primary key,
  backup_run_id bigint references lifeboat.backup_runs (id) on delete set null,
  -- The recovery_time_objectives system the drill measures.
  system text not null default 'database',
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  measured_rto interval check (measured_rto >= interval '0'),
  objective interval check (objective > interval '0'),
  met_objective boolean generated always as (measured_rto <= objective) stored,
  success boolean,
  details jsonb not null default '{}'
);
comment on table lifeboat.drills is 'Restore drills: the backup restored, the measured recovery time and whether it met the objective.';
create index if not exists drills_started_idx on lifeboat.drills (started_at desc);

-- ---------------------------------------------------------------------------------------
-- Maintenance log (seed: entries of timestamp, type, description, outcome; kept 12 months).
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.maintenance_log (
  id bigint generated always as identity primary key,
  logged_at timestamptz not null default now(),
  type text not null check (type <> ''),
  description text not null,
  outcome text not null check (outcome in ('success', 'partial', 'failed', 'skipped')),
  details jsonb not null default '{}',
  actor text not null default current_user
);
comment on table lifeboat.maintenance_log is
  'What maintenance ran and how it went (type e.g. retention_purge, analyze, bloat_check, verification).';
create index if not exists maintenance_log_logged_idx on lifeboat.maintenance_log (logged_at desc);

-- ---------------------------------------------------------------------------------------
-- Incidents and their timeline (compliance records: kept 7 years).
--
-- The timeline is a separate append-only table rather than a jsonb array on the incident:
-- the cron failure recorder and a person writing notes can add events at the same time
-- without a read-modify-write of the incident row (no lost updates, no row lock held while
-- a note is written), each event is indexed and queryable by time, and appending does not
-- rewrite an ever-growing TOASTed array.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.incidents (
  id bigint generated always as identity primary key,
  severity text not null check (severity in ('critical', 'high', 'medium', 'low')),
  title text not null,
  impact text not null default '',
  resolution text,
  follow_up_actions text[] not null default '{}',
  prevention text[] not null default '{}',
  status text not null default 'open' check (status in ('open', 'resolved')),
  opened_at timestamptz not null default now(),
  resolved_at timestamptz,
  -- For incidents opened automatically: at most one open incident per key.
  dedup_key text,
  source text not null default 'manual',
  updated_at timestamptz not null default now(),
  constraint incidents_resolved check ((status = 'resolved') = (resolved_at is not null))
);
comment on table lifeboat.incidents is
  'Incident reports (seed: severity, impact, resolution, follow-up actions, prevention); timeline in lifeboat.incident_events.';
create unique index if not exists incidents_open_dedup_uniq on lifeboat.incidents (dedup_key)
  where status = 'open' and dedup_key is not null;
create index if not exists incidents_status_idx on lifeboat.incidents (status, opened_at desc);

create table if not exists lifeboat.incident_events (
  id bigint generated always as identity primary key,
  incident_id bigint not null references lifeboat.incidents (id) on delete cascade,
  at timestamptz not null default now(),
  kind text not null check (kind in ('opened', 'update', 'escalated', 'notified', 'resolved', 'reopened', 'note')),
  message text not null,
  actor text not null default current_user,
  details jsonb not null default '{}'
);
comment on table lifeboat.incident_events is 'Append-only timeline of an incident.';
create index if not exists incident_events_incident_idx on lifeboat.incident_events (incident_id, at);

-- ---------------------------------------------------------------------------------------
-- Alert events: one row per firing episode of a rule for a dedup key.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.alert_events (
  id bigint generated always as identity primary key,
  rule text not null,
  severity text not null check (severity in ('critical', 'warning', 'info')),
  state text not null default 'firing' check (state in ('firing', 'resolved')),
  -- Identifies "the same problem" (e.g. 'cron_job_failed:lifeboat-verify-daily').
  dedup_key text not null,
  summary text not null default '',
  first_seen timestamptz not null default now(),
  last_seen timestamptz not null default now(),
  resolved_at timestamptz,
  occurrences integer not null default 1 check (occurrences >= 1),
  details jsonb not null default '{}',
  incident_id bigint references lifeboat.incidents (id) on delete set null,
  -- Notification bookkeeping for the notifier: what was last sent and when.
  last_notified_at timestamptz,
  notified_state text check (notified_state in ('firing', 'resolved')),
  notifications integer not null default 0,
  constraint alert_events_resolved check ((state = 'resolved') = (resolved_at is not null))
);
comment on table lifeboat.alert_events is
  'Alerts: at most one firing row per dedup_key; resolving closes it and the next failure opens a new row.';
create unique index if not exists alert_events_firing_uniq on lifeboat.alert_events (dedup_key)
  where state = 'firing';
create index if not exists alert_events_seen_idx on lifeboat.alert_events (last_seen desc);

-- ---------------------------------------------------------------------------------------
-- Metric snapshots, for trends. pg_stat_statements figures are cumulative since
-- statements_reset_at; trends are differences between snapshots with the same reset time.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.metric_snapshots (
  id bigint generated always as identity primary key,
  taken_at timestamptz not null default now(),
  connections integer not null,
  active_connections integer not null,
  max_connections integer not null,
  database_size_bytes bigint not null,
  -- Top-N relations by total size: [{"schema", "name", "kind", "total_bytes", "table_bytes", "index_bytes", "rows_estimate"}].
  table_sizes jsonb not null default '[]',
  xact_commit bigint,
  xact_rollback bigint,
  cache_hit_ratio numeric,
  -- Null when pg_stat_statements is not available.
  statements_calls bigint,
  statements_total_exec_ms double precision,
  statements_mean_exec_ms double precision,
  statements_reset_at timestamptz
);
comment on table lifeboat.metric_snapshots is 'Hourly database metrics (lifeboat.snapshot_metrics()), for trends.';
create index if not exists metric_snapshots_taken_idx on lifeboat.metric_snapshots (taken_at desc);

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('metrics.top_tables', '20'::jsonb, 'How many of the largest relations snapshot_metrics() records')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- snapshot_metrics(): records one metric_snapshots row and returns it.
create or replace function lifeboat.snapshot_metrics()
returns lifeboat.metric_snapshots
language plpgsql
volatile
set search_path = ''
as $$
declare
  snap lifeboat.metric_snapshots;
  top_n integer := (lifeboat.setting('metrics.top_tables'))::text::integer;
  pgss_schema name;
begin
  select
    count(*) filter (where a.backend_type = 'client backend'),
    count(*) filter (where a.backend_type = 'client backend' and a.state = 'active')
  into snap.connections, snap.active_connections
  from pg_catalog.pg_stat_activity a;
  snap.max_connections := pg_catalog.current_setting('max_connections')::integer;
  snap.database_size_bytes := pg_catalog.pg_database_size(pg_catalog.current_database());

  select d.xact_commit, d.xact_rollback,
    pg_catalog.round(d.blks_hit::numeric / nullif(d.blks_hit + d.blks_read, 0), 4)
  into snap.xact_commit, snap.xact_rollback, snap.cache_hit_ratio
  from pg_catalog.pg_stat_database d where d.datname = pg_catalog.current_database();

  -- One size lookup per relation: linear in the number of tables.
  select coalesce(pg_catalog.jsonb_agg(t order by t.total_bytes desc), '[]')
  into snap.table_sizes
  from (
    select n.nspname as schema, c.relname as name,
      case c.relkind when 'r' then 'table' when 'm' then 'materialized view' when 'p' then 'partitioned table' end as kind,
      s.total as total_bytes,
      pg_catalog.pg_relation_size(c.oid) as table_bytes,
      pg_catalog.pg_indexes_size(c.oid) as index_bytes,
      greatest(c.reltuples, 0)::bigint as rows_estimate
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    cross join lateral (select pg_catalog.pg_total_relation_size(c.oid) as total) s
    where c.relkind in ('r', 'm')
      and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
      and n.nspname !~ '^pg_(toast_)?temp_'
    order by s.total desc
    limit top_n
  ) t;

  -- pg_stat_statements lives wherever the project installed it; absent or not preloaded
  -- leaves the statement columns null instead of failing the snapshot.
  select e.extnamespace::regnamespace::name into pgss_schema
  from pg_catalog.pg_extension e where e.extname = 'pg_stat_statements';
  if pgss_schema is not null then
    begin
      execute pg_catalog.format(
        'select sum(s.calls)::bigint, sum(s.total_exec_time), sum(s.total_exec_time) / nullif(sum(s.calls), 0)
           from %I.pg_stat_statements s
          where s.dbid = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())',
        pgss_schema)
      into snap.statements_calls, snap.statements_total_exec_ms, snap.statements_mean_exec_ms;
      execute pg_catalog.format('select i.stats_reset from %I.pg_stat_statements_info i', pgss_schema)
      into snap.statements_reset_at;
    exception when others then
      snap.statements_calls := null;
      snap.statements_total_exec_ms := null;
      snap.statements_mean_exec_ms := null;
    end;
  end if;

  insert into lifeboat.metric_snapshots (
    connections, active_connections, max_connections, database_size_bytes, table_sizes,
    xact_commit, xact_rollback, cache_hit_ratio,
    statements_calls, statements_total_exec_ms, statements_mean_exec_ms, statements_reset_at)
  values (
    snap.connections, snap.active_connections, snap.max_connections, snap.database_size_bytes, snap.table_sizes,
    snap.xact_commit, snap.xact_rollback, snap.cache_hit_ratio,
    snap.statements_calls, snap.statements_total_exec_ms, snap.statements_mean_exec_ms, snap.statements_reset_at)
  returning * into snap;
  return snap;
end
$$;
comment on function lifeboat.snapshot_metrics() is
  'Records one metric_snapshots row (connections, database and top-N table sizes, pg_stat_statements totals) and returns it.';

-- ---------------------------------------------------------------------------------------
-- Retention. Each policy deletes rows of one table whose timestamp column is older than
-- now() - keep and that match the optional filter (an SQL condition in which $1 is the
-- cutoff). Policies run in ascending position. Backups are never purged here: their
-- retention (grandfather-father-son) belongs to the export engine.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.retention_policies (
  schema_name text not null,
  table_name text not null,
  timestamp_column text not null,
  keep interval not null check (keep >= interval '1 day'),
  filter text,
  position integer not null default 100,
  enabled boolean not null default true,
  description text not null default '',
  updated_at timestamptz not null default now(),
  primary key (schema_name, table_name),
  constraint retention_policies_no_backups check (
    not (schema_name = 'lifeboat' and table_name in ('backup_runs', 'backup_parts')))
);
comment on table lifeboat.retention_policies is
  'How long rows are kept; lifeboat.purge_expired() deletes what these say and nothing else.';

insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep, filter, position, description) values
  ('lifeboat', 'maintenance_log', 'logged_at', interval '12 months', null, 10,
   'Maintenance logs: 12 months (seed: maintenance documentation)'),
  ('lifeboat', 'metric_snapshots', 'taken_at', interval '90 days', null, 20,
   'Metric snapshots: 90 days of hourly trends'),
  ('lifeboat', 'alert_events', 'resolved_at', interval '1 year', 'state = ''resolved''', 30,
   'Resolved alerts: 1 year; firing alerts are never purged'),
  ('lifeboat', 'incident_events', 'at', interval '7 years',
   'incident_id in (select i.id from lifeboat.incidents i where i.status = ''resolved'' and i.resolved_at < $1)', 40,
   'Timeline of incidents resolved over 7 years ago (compliance records)'),
  ('lifeboat', 'incidents', 'resolved_at', interval '7 years', 'status = ''resolved''', 50,
   'Incidents: 7 years after resolution (compliance records); open incidents are never purged'),
  ('lifeboat', 'drills', 'started_at', interval '7 years', null, 60,
   'Restore drills: 7 years (recovery documentation, compliance records)'),
  ('lifeboat', 'verification_runs', 'started_at', interval '7 years', null, 70,
   'Verification runs: 7 years (recovery documentation, compliance records)'),
  ('cron', 'job_run_details', 'start_time', interval '30 days', null, 90,
   'pg_cron run history, which pg_cron never cleans up: 30 days (this role''s jobs only)')
on conflict (schema_name, table_name) do nothing;

-- purge_expired(dry_run): applies every enabled policy. Returns one row per policy with the
-- cutoff and the rows deleted (or that would be). A real run records what it deleted in
-- maintenance_log. A table this role may not delete from is skipped and reported.
create or replace function lifeboat.purge_expired(dry_run boolean default false)
returns table (schema_name text, table_name text, cutoff timestamptz, rows bigint, action text)
language plpgsql
volatile
set search_path = ''
as $$
declare
  p lifeboat.retention_policies;
  rel regclass;
  n bigint;
  results jsonb := '[]';
  total bigint := 0;
  skipped integer := 0;
  cond text;
begin
  for p in select * from lifeboat.retention_policies rp where rp.enabled order by rp.position, rp.schema_name, rp.table_name loop
    schema_name := p.schema_name;
    table_name := p.table_name;
    cutoff := pg_catalog.now() - p.keep;
    rows := 0;
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', p.schema_name, p.table_name));
    if rel is null then
      action := 'skipped: table does not exist';
    elsif not exists (select from pg_catalog.pg_attribute a
                      where a.attrelid = rel and a.attname = p.timestamp_column and not a.attisdropped) then
      action := pg_catalog.format('skipped: no column %I', p.timestamp_column);
    elsif not pg_catalog.has_table_privilege(rel, case when dry_run then 'select' else 'delete' end) then
      action := 'skipped: not permitted';
    else
      cond := pg_catalog.format('%I < $1', p.timestamp_column)
        || coalesce(' and (' || nullif(p.filter, '') || ')', '');
      if dry_run then
        execute pg_catalog.format('select count(*) from %s where %s', rel, cond) into n using cutoff;
        action := 'would delete';
      else
        execute pg_catalog.format('delete from %s where %s', rel, cond) using cutoff;
        get diagnostics n = row_count;
        action := 'deleted';
      end if;
      rows := n;
      total := total + n;
    end if;
    if action like 'skipped%' then
      skipped := skipped + 1;
    end if;
    results := results || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
      'table', pg_catalog.format('%I.%I', p.schema_name, p.table_name),
      'cutoff', cutoff, 'keep', p.keep::text, 'rows', rows, 'action', action));
    return next;
  end loop;

  if not dry_run then
    insert into lifeboat.maintenance_log (type, description, outcome, details)
    values ('retention_purge',
      pg_catalog.format('retention purge deleted %s rows from %s tables', total,
        pg_catalog.jsonb_array_length(results) - skipped),
      case when skipped > 0 then 'partial' else 'success' end,
      pg_catalog.jsonb_build_object('tables', results, 'rows', total));
  end if;
end
$$;
comment on function lifeboat.purge_expired(boolean) is
  'Deletes rows past their retention policy and logs per-table counts and cutoffs in maintenance_log. dry_run => count only.';

-- Nothing here is granted to the API roles (service_role needs none of it yet: no grants).
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

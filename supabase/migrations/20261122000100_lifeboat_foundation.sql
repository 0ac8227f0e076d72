-- Lifeboat foundation: the lifeboat schema, recovery objectives, settings and health().
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

create extension if not exists pg_stat_statements with schema extensions;
create extension if not exists pg_cron;

create schema if not exists lifeboat;
comment on schema lifeboat is
  'Lifeboat: backup, verification and recovery toolkit. Not exposed to anon or authenticated.';

-- Nothing in lifeboat is reachable by public, anon or authenticated. Functions are
-- executable by PUBLIC by default, so the default is revoked before any is created.
revoke all on schema lifeboat from public, anon, authenticated;
alter default privileges in schema lifeboat revoke all on tables from public, anon, authenticated;
alter default privileges in schema lifeboat revoke all on sequences from public, anon, authenticated;
alter default privileges in schema lifeboat revoke execute on functions from public, anon, authenticated;

-- Recovery point objectives per data class (seed: disaster recovery plan).
create table if not exists lifeboat.recovery_point_objectives (
  data_class text primary key,
  rpo interval not null check (rpo >= interval '0'),
  description text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.recovery_point_objectives is
  'Maximum tolerated data loss per data class. Backup age is measured against these.';

insert into lifeboat.recovery_point_objectives (data_class, rpo, description) values
  ('transaction_data', interval '0 minutes', 'Orders, payments: no loss tolerated (needs continuous WAL capture)'),
  ('user_data', interval '5 minutes', 'Accounts and user-generated content'),
  ('analytics_data', interval '1 hour', 'Events and aggregates'),
  ('reporting_data', interval '4 hours', 'Derived reports and materialized views')
on conflict (data_class) do nothing;

-- Recovery time objectives per system (seed: disaster recovery plan).
create table if not exists lifeboat.recovery_time_objectives (
  system text primary key,
  tier text not null check (tier in ('critical', 'business')),
  rto interval not null check (rto > interval '0'),
  description text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.recovery_time_objectives is
  'Maximum tolerated time to recover per system. Restore drills are measured against these.';

insert into lifeboat.recovery_time_objectives (system, tier, rto, description) values
  ('database', 'critical', interval '1 hour', 'Project database restored and verified'),
  ('api_services', 'critical', interval '2 hours', 'Edge functions and PostgREST serving'),
  ('user_auth', 'critical', interval '30 minutes', 'Sign-in working'),
  ('admin_portal', 'business', interval '4 hours', ''),
  ('reporting', 'business', interval '8 hours', ''),
  ('analytics', 'business', interval '12 hours', '')
on conflict (system) do nothing;

-- Tunable thresholds, one row per setting.
create table if not exists lifeboat.settings (
  key text primary key,
  value jsonb not null,
  description text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.settings is 'Lifeboat thresholds and options. Update a row to change behaviour.';

insert into lifeboat.settings (key, value, description) values
  ('health.connections_warn_ratio', '0.8', 'health() warns when connections exceed this share of max_connections'),
  ('health.connections_error_ratio', '0.95', 'health() fails when connections exceed this share of max_connections'),
  ('health.cron_failure_window', '"24 hours"', 'How far back health() looks for failed pg_cron runs'),
  ('health.cron_failures_error', '3', 'health() fails at this many failed pg_cron runs in the window (warns from 1)')
on conflict (key) do nothing;

-- lifeboat.setting(key): a setting's value, or an error naming the missing key.
create or replace function lifeboat.setting(setting_key text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select s.value from lifeboat.settings s where s.key = setting_key
$$;
comment on function lifeboat.setting(text) is 'The value of a lifeboat.settings row (jsonb), or null if absent.';

-- Each check below is its own function returning one row in the uniform check shape:
-- (check, level ok|warn|error, object, detail, remediation, metadata). metadata carries
-- observed_value and observed_unit for the health+json response. health() is their union.

-- connection_usage(): client connections in use and the connections clients may use
-- (max_connections less the superuser reserve). The one definition health and alerts share.
create or replace function lifeboat.connection_usage()
returns table (used integer, usable integer)
language sql
stable
set search_path = ''
as $$
  select
    (select count(*) from pg_catalog.pg_stat_activity a where a.backend_type = 'client backend')::int,
    pg_catalog.current_setting('max_connections')::int
      - pg_catalog.current_setting('superuser_reserved_connections')::int
$$;
comment on function lifeboat.connection_usage() is
  'Client connections in use, and max_connections less superuser_reserved_connections.';

-- check_connections(): client connections against the usable share of max_connections.
create or replace function lifeboat.check_connections()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
as $$
  with conn as (
    select u.used, u.usable,
      coalesce((lifeboat.setting('health.connections_warn_ratio'))::text::numeric, 0.8) as warn_at,
      coalesce((lifeboat.setting('health.connections_error_ratio'))::text::numeric, 0.95) as error_at
    from lifeboat.connection_usage() u
  )
  select 'connections', case
      when c.used >= c.usable * c.error_at then 'error'
      when c.used >= c.usable * c.warn_at then 'warn'
      else 'ok' end,
    'max_connections',
    pg_catalog.format('%s of %s usable connections in use', c.used, c.usable),
    case when c.used >= c.usable * c.warn_at
      then 'Use the connection pooler (port 6543), close idle clients, or move to a larger compute size.'
      else '' end,
    pg_catalog.jsonb_build_object('observed_value', pg_catalog.round(100.0 * c.used / greatest(c.usable, 1), 1),
      'observed_unit', 'percent', 'used', c.used, 'usable', c.usable)
  from conn c
$$;
comment on function lifeboat.check_connections() is
  'Client connections against usable max_connections: warn and error at the health.connections_* ratios (uniform check shape).';

-- check_cron_scheduler(): whether the pg_cron launcher is running.
create or replace function lifeboat.check_cron_scheduler()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
as $$
  with cron_sched as (
    select exists (
      select from pg_catalog.pg_stat_activity a where a.backend_type = 'pg_cron launcher'
    ) as running
  )
  select 'cron_scheduler', case when s.running then 'ok' else 'error' end,
    'pg_cron',
    case when s.running then 'the pg_cron scheduler is running' else 'the pg_cron scheduler is not running' end,
    case when s.running then ''
      else 'Scheduled backups and checks are not running. Check that pg_cron is in shared_preload_libraries and cron.database_name names this database, then restart.' end,
    pg_catalog.jsonb_build_object('observed_value', s.running, 'observed_unit', 'boolean')
  from cron_sched s
$$;
comment on function lifeboat.check_cron_scheduler() is
  'Whether the pg_cron scheduler is running (uniform check shape).';

-- check_cron_failures(): failed pg_cron runs within health.cron_failure_window; warns from
-- one, fails at health.cron_failures_error.
create or replace function lifeboat.check_cron_failures()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
as $$
  with cron_fail as (
    select
      coalesce((lifeboat.setting('health.cron_failure_window') #>> '{}')::interval, interval '24 hours') as win,
      coalesce((lifeboat.setting('health.cron_failures_error'))::text::int, 3) as error_at
  ),
  cron_fail_count as (
    select f.win, f.error_at,
      (select count(*) from cron.job_run_details d
        where d.status = 'failed' and d.start_time > pg_catalog.now() - f.win)::int as failed,
      (select pg_catalog.jsonb_agg(distinct j.jobname) from cron.job_run_details d
        join cron.job j on j.jobid = d.jobid
        where d.status = 'failed' and d.start_time > pg_catalog.now() - f.win) as jobs
    from cron_fail f
  )
  select 'cron_failures', case
      when f.failed >= f.error_at then 'error'
      when f.failed > 0 then 'warn'
      else 'ok' end,
    'cron.job_run_details',
    pg_catalog.format('%s failed pg_cron runs in the last %s', f.failed, f.win),
    case when f.failed > 0
      then 'Read return_message in cron.job_run_details for the failing jobs and fix or unschedule them.'
      else '' end,
    pg_catalog.jsonb_build_object('observed_value', f.failed, 'observed_unit', 'runs',
      'window', f.win::text, 'jobs', coalesce(f.jobs, '[]'::jsonb))
  from cron_fail_count f
$$;
comment on function lifeboat.check_cron_failures() is
  'Failed pg_cron runs in health.cron_failure_window: warn from one, error at health.cron_failures_error (uniform check shape).';

-- health(): the database-side checks behind the health endpoint, one row per check.
-- Later migrations add checks by re-creating it as a longer union.
create or replace function lifeboat.health()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
as $$
  select * from lifeboat.check_connections()
  union all select * from lifeboat.check_cron_scheduler()
  union all select * from lifeboat.check_cron_failures()
$$;
comment on function lifeboat.health() is
  'Database-side health checks (connections, pg_cron scheduler, failed cron runs) in the uniform check shape.';

-- Belt and braces: whatever the defaults were, nothing here is granted to the API roles.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

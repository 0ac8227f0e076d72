-- Lifeboat foundation: the lifeboat schema, recovery objectives, settings and health().
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

create extension if not exists pg_stat_statements with schema extensions;
create extension if not exists pg_cron;

create schema if not exists lifeboat;
comment on schema lifeboat is
  'Lifeboat: backup, verification and recovery toolkit. Not exposed to anon or authenticated.';

-- Nothing in lifeboat is reachable by public, anon or authenticated.
revoke all on schema lifeboat from public, anon, authenticated;
-- Functions are executable by PUBLIC by default, and a per-schema default (`alter default
-- privileges in schema lifeboat revoke execute … from public`) cannot take that away:
-- PostgreSQL adds per-schema defaults to the global ones, so it is a no-op. Changing the
-- global default of postgres would change every schema of the project. Instead, an event
-- trigger revokes execute from PUBLIC, anon and authenticated on every function or procedure
-- created in schema lifeboat, the moment it is created (a migration that forgets its revoke,
-- or a function added by hand); grants made after the CREATE (service_role) stand.
create or replace function lifeboat.revoke_public_execute()
returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
  obj record;
begin
  for obj in
    select c.object_type, c.object_identity
    from pg_catalog.pg_event_trigger_ddl_commands() c
    where c.schema_name = 'lifeboat' and c.object_type in ('function', 'procedure')
  loop
    execute pg_catalog.format('revoke execute on %s %s from public, anon, authenticated',
      obj.object_type, obj.object_identity);
  end loop;
end
$$;
comment on function lifeboat.revoke_public_execute() is
  'Event trigger: a function or procedure created in schema lifeboat is not executable by PUBLIC, anon or authenticated.';

do $$
begin
  if not exists (select from pg_catalog.pg_event_trigger where evtname = 'lifeboat_revoke_public_execute') then
    create event trigger lifeboat_revoke_public_execute on ddl_command_end
      when tag in ('CREATE FUNCTION', 'CREATE PROCEDURE')
      execute function lifeboat.revoke_public_execute();
  end if;
end
$$;
comment on event trigger lifeboat_revoke_public_execute is
  'Revokes execute from PUBLIC, anon and authenticated on new routines in schema lifeboat (lifeboat.revoke_public_execute).';
-- Tables and sequences: no default grants them to PUBLIC, anon or authenticated outside the
-- public schema, and the revokes at the end of every migration hold for existing ones.

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

-- Tunable thresholds, one row per setting. `default_value` is the one place a default lives:
-- every migration seeds its keys with `value` = `default_value`, and a re-run refreshes the
-- default and the description but never the value someone set.
create table if not exists lifeboat.settings (
  key text primary key,
  value jsonb not null,
  default_value jsonb not null default 'null',
  description text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.settings is
  'Lifeboat thresholds and options. Update value to change behaviour; set it to default_value (or null) to go back.';

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('health.connections_warn_ratio', '0.8'::jsonb, 'health() warns when connections exceed this share of max_connections'),
  ('health.connections_error_ratio', '0.95', 'health() fails when connections exceed this share of max_connections'),
  ('health.cron_failure_window', '"24 hours"', 'How far back health() looks for failed pg_cron runs'),
  ('health.cron_failures_error', '3', 'health() fails at this many failed pg_cron runs in the window (warns from 1)')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- lifeboat.setting(key): the value in effect, or null for a key that is not there.
create or replace function lifeboat.setting(setting_key text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(nullif(s.value, 'null'::jsonb), s.default_value) from lifeboat.settings s where s.key = setting_key
$$;
comment on function lifeboat.setting(text) is
  'The value in effect of a lifeboat.settings row (jsonb): its value, or its default_value when the value is JSON null; null if the key is absent.';

-- ---------------------------------------------------------------------------------------
-- Checks. Every check is one function in lifeboat returning the uniform row shape
-- ("check", level ok|warn|error, object, detail, remediation, metadata) and one row in
-- lifeboat.checks naming it and its suite. The suite functions (health(), check_integrity(),
-- security_audit(), diagnose()) run the enabled rows of their suites, in position order.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.checks (
  name text primary key check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  suite text not null check (suite in ('health', 'integrity', 'diagnostics', 'security')),
  position integer not null,
  enabled boolean not null default true,
  description text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.checks is
  'The check registry: each row names a function lifeboat.<name> in the uniform check shape and the suite that runs it. Set enabled = false to leave one out.';

-- run_checks(suites, ...): the registered checks of some suites. The arguments are what a
-- suite passes on: a check function declares the ones it needs, by these names (any other
-- argument it has must have a default), and gets only those.
create or replace function lifeboat.run_checks(
  suites text[],
  exact_counts boolean default false,
  btree_budget interval default '30 seconds',
  only_schemas text[] default null,
  heapallindexed boolean default false,
  now timestamptz default pg_catalog.now()
)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language plpgsql
volatile
set search_path = ''
as $$
declare
  c record;
  passed text[] := array['exact_counts', 'btree_budget', 'only_schemas', 'heapallindexed', 'now'];
  call_args text;
begin
  for c in
    select k.name, p.oid as fn, p.proargnames, p.proargmodes
    from lifeboat.checks k
    left join lateral (
      select f.oid, f.proargnames, f.proargmodes from pg_catalog.pg_proc f
      where f.pronamespace = 'lifeboat'::pg_catalog.regnamespace and f.proname = k.name and f.prokind = 'f' and f.proretset
      order by f.oid limit 1
    ) p on true
    where k.enabled and k.suite = any (suites)
    order by pg_catalog.array_position(suites, k.suite), k.position, k.name
  loop
    if c.fn is null then
      raise warning 'check % has no set-returning function lifeboat.%; skipped', c.name, c.name;
      continue;
    end if;
    -- Named notation, $n being the n-th name in `passed`, so argument order does not matter.
    select coalesce(pg_catalog.string_agg(pg_catalog.format('%I => $%s', a.name, pg_catalog.array_position(passed, a.name::text)), ', '), '')
      into call_args
    from rows from (pg_catalog.unnest(c.proargnames), pg_catalog.unnest(c.proargmodes)) as a(name, mode)
    where (a.mode is null or a.mode in ('i', 'b')) and a.name = any (passed);
    return query execute pg_catalog.format('select * from lifeboat.%I(%s)', c.name, call_args)
      using exact_counts, btree_budget, only_schemas, heapallindexed, now;
  end loop;
end
$$;
comment on function lifeboat.run_checks(text[], boolean, interval, text[], boolean, timestamptz) is
  'Runs the enabled checks of the given suites from lifeboat.checks, in suite then position order, passing each the suite arguments it declares by name.';

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
      (lifeboat.setting('health.connections_warn_ratio'))::text::numeric as warn_at,
      (lifeboat.setting('health.connections_error_ratio'))::text::numeric as error_at
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

-- The suites. Each is the registry's rows of its suite; diagnose() is all of them.

-- health(): what the health endpoint reports. The foundation registers connections and the
-- pg_cron scheduler; cron_failures (schedules) and backup_age (alerts) join from their migrations.
create or replace function lifeboat.health()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
volatile
set search_path = ''
as $$
  select * from lifeboat.run_checks(array['health'])
$$;
comment on function lifeboat.health() is
  'Database-side health checks (suite health in lifeboat.checks: connections, pg_cron scheduler, failed cron runs, backup age) in the uniform check shape.';

-- check_integrity(): every integrity check in one call (suite integrity).
create or replace function lifeboat.check_integrity(
  exact_counts boolean default false,
  btree_budget interval default '30 seconds',
  only_schemas text[] default null,
  heapallindexed boolean default false
)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
volatile
set search_path = ''
as $$
  select * from lifeboat.run_checks(array['integrity'], exact_counts, btree_budget, only_schemas, heapallindexed)
$$;
comment on function lifeboat.check_integrity(boolean, interval, text[], boolean) is
  'Integrity checks (suite integrity in lifeboat.checks): row counts, unvalidated constraints, invalid indexes, amcheck B-tree (time-boxed), sequences, missing primary keys, unlogged tables.';

-- security_audit(): every security audit in one call (suite security).
create or replace function lifeboat.security_audit()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
volatile
set search_path = ''
as $$
  select * from lifeboat.run_checks(array['security'])
$$;
comment on function lifeboat.security_audit() is
  'Security audits (suite security in lifeboat.checks) in the uniform check shape.';

-- diagnose(): every check in one call, worst first.
create or replace function lifeboat.diagnose(
  exact_counts boolean default false,
  btree_budget interval default '30 seconds'
)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
volatile
set search_path = ''
as $$
  select r.* from lifeboat.run_checks(array['health', 'integrity', 'diagnostics', 'security'], exact_counts, btree_budget) r
  order by case r.level when 'error' then 0 when 'warn' then 1 else 2 end, r."check", r.object
$$;
comment on function lifeboat.diagnose(boolean, interval) is
  'Every registered check (health, integrity, diagnostics, security audit) in one call, errors first, then warnings, then ok.';

insert into lifeboat.checks (name, suite, position, description) values
  ('check_connections', 'health', 10, 'Client connections against usable max_connections'),
  ('check_cron_scheduler', 'health', 20, 'Whether the pg_cron scheduler is running')
on conflict (name) do update set suite = excluded.suite, position = excluded.position, description = excluded.description;

-- Belt and braces: whatever the defaults were, nothing here is granted to the API roles.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

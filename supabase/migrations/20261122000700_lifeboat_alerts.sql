-- Lifeboat alerts: backup age against the RPO in lifeboat.health(), configurable alert rules
-- evaluated by pg_cron into lifeboat.alert_events, and incidents that open and close with
-- their alerts. Runs as the project's owner role (postgres, not a superuser). Idempotent.
--
-- Every time-dependent function takes `now timestamptz default now()`: tests pass an
-- injected clock to fire and resolve rules without waiting.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('backup.rpo', '"24 hours"'::jsonb,
   'Recovery point objective for scheduled logical backups: the newest completed full backup must be younger. '
   || 'The per-data-class RPOs (minutes) need continuous WAL capture, which a daily export cannot give.'),
  ('backup.rpo_warn_ratio', '0.8', 'health() warns when the newest full backup is older than this share of backup.rpo'),
  ('database.size_limit_bytes', '524288000',
   'Disk the database may use (Supabase free plan: 500 MB). The database_size alert compares against it.')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- ---------------------------------------------------------------------------------------
-- Backup age against the RPO.
-- ---------------------------------------------------------------------------------------

-- backup_rpo(): the RPO scheduled backups are measured against (setting backup.rpo).
create or replace function lifeboat.backup_rpo()
returns interval
language sql
stable
set search_path = ''
as $$
  select (lifeboat.setting('backup.rpo') #>> '{}')::interval
$$;
comment on function lifeboat.backup_rpo() is 'The RPO backups are measured against: setting backup.rpo (default 24 hours).';

-- has_exportable_tables(): whether the database has a table a full backup covers (outside
-- the managed, system and extension schemas). A backup of 0 tables then restores nothing.
create or replace function lifeboat.has_exportable_tables()
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (
    select from pg_catalog.pg_class c
    where c.relkind in ('r', 'p') and c.relpersistence <> 't'
      and c.relnamespace = any (lifeboat.ddl_scope())
      and not exists (select from pg_catalog.pg_depend d
        where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid and d.deptype = 'e'))
$$;
comment on function lifeboat.has_exportable_tables() is
  'Whether the database has a table a full backup covers; a backup of 0 tables then restores nothing.';

-- last_backup(kind, now): the newest completed backup of a kind finished by `now`, with its
-- recovery point (the snapshot it was read under; its start when no snapshot was recorded).
create or replace function lifeboat.last_backup(backup_kind text, now timestamptz default pg_catalog.now())
returns table (id bigint, kind text, recovery_point timestamptz, finished_at timestamptz,
  bytes bigint, duration_seconds double precision, consistent boolean)
language sql
stable
set search_path = ''
as $$
  select r.id, r.kind, coalesce(r.snapshot_at, r.started_at, r.finished_at), r.finished_at, r.bytes,
    extract(epoch from r.finished_at - coalesce(r.started_at, r.created_at))::double precision, r.consistent
  from lifeboat.backup_runs r
  where r.kind = backup_kind and r.state = 'completed' and r.finished_at <= $2
    -- A backup of 0 tables (runs record metadata.table_count) from a database that has tables
    -- recovers nothing (e.g. a mistyped --include-schema); runs without the count still count.
    and (coalesce((r.metadata ->> 'table_count')::int, 1) > 0 or not lifeboat.has_exportable_tables())
  order by r.finished_at desc, r.id desc
  limit 1
$$;
comment on function lifeboat.last_backup(text, timestamptz) is
  'The newest completed backup of a kind (full or tables) at a point in time, with its recovery point; a backup of 0 tables from a database that has tables does not count.';

-- check_backup_age(now): the newest full backup's age (now - its recovery point) against
-- the RPO. warn past backup.rpo_warn_ratio (80%) of it, error past 100%. No completed
-- backup yet is a warning, not an error: a fresh install is not an outage, and the
-- backup_age alert fires once backups were attempted and none completed within the RPO.
create or replace function lifeboat.check_backup_age(now timestamptz default pg_catalog.now())
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
as $$
  with cfg as (
    select lifeboat.backup_rpo() as rpo,
      (lifeboat.setting('backup.rpo_warn_ratio'))::text::numeric as warn_ratio
  ),
  b as (
    select c.rpo, c.warn_ratio, l.id, l.recovery_point, $1 - l.recovery_point as age
    from cfg c left join lifeboat.last_backup('full', $1) l on true
  )
  select 'backup_age',
    case when b.id is null then 'warn'
      when b.age > b.rpo then 'error'
      when b.age > b.rpo * b.warn_ratio then 'warn'
      else 'ok' end,
    'lifeboat.backup_runs',
    case when b.id is null then 'no completed full backup yet'
      else pg_catalog.format('the newest full backup is %s old; the RPO is %s',
        pg_catalog.date_trunc('second', b.age), b.rpo) end,
    case when b.id is null then 'Run a backup (lifeboat backup, or set export.target to schedule backup-export).'
      when b.age > b.rpo * b.warn_ratio
        then 'Backups are late: check lifeboat.backup_runs for failed runs and cron.job_run_details for the export job.'
      else '' end,
    pg_catalog.jsonb_build_object(
      'observed_value', case when b.id is null then null else pg_catalog.round(extract(epoch from b.age)) end,
      'observed_unit', 's',
      'rpo_seconds', extract(epoch from b.rpo)::bigint,
      'backup_id', b.id,
      'recovery_point', b.recovery_point)
  from b
$$;
comment on function lifeboat.check_backup_age(timestamptz) is
  'Age of the newest full backup against backup.rpo: warn past 80%, error past 100% (uniform check shape).';

insert into lifeboat.checks (name, suite, position, description) values
  ('check_backup_age', 'health', 40, 'Age of the newest full backup against backup.rpo')
on conflict (name) do update set suite = excluded.suite, position = excluded.position, description = excluded.description;

-- ---------------------------------------------------------------------------------------
-- Alert rules. Each rule <name> is evaluated by lifeboat.alert_<name>(now, rule), which
-- returns the conditions firing at `now` as (dedup_key, summary, details). A project can
-- add its own rule by inserting a row and creating that function.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.alert_rules (
  rule text primary key check (rule ~ '^[a-z][a-z0-9_]{0,50}$'),
  enabled boolean not null default true,
  severity text not null check (severity in ('critical', 'warning', 'info')),
  -- Fires above this value, in `unit`.
  threshold numeric,
  unit text not null default '',
  -- How far back measurements (metric snapshots) count; null = current state only.
  lookback interval,
  -- Rule-specific options, e.g. a minimum sample size.
  params jsonb not null default '{}',
  -- Severity of the incident a firing alert opens; null = no incident.
  incident_severity text check (incident_severity in ('critical', 'high', 'medium', 'low')),
  -- Who evaluates it: lifeboat.evaluate_alerts() itself, or lifeboat.record_cron_failures().
  evaluator text not null default 'evaluate_alerts' check (evaluator in ('evaluate_alerts', 'record_cron_failures')),
  description text not null default '',
  -- Where the measurement comes from.
  source text not null default '',
  remediation text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.alert_rules is
  'Alert rules with their thresholds (seed: alerting thresholds). Update a row to tune a rule; evaluated every minute.';

insert into lifeboat.alert_rules
  (rule, severity, threshold, unit, lookback, params, incident_severity, evaluator, description, source, remediation) values
  ('error_rate', 'critical', 0.05, 'ratio', interval '2 hours', '{"min_transactions": 100}', 'high', 'evaluate_alerts',
   'High error rate: more than 5% of transactions rolled back (seed: critical alert, error rates > 5%)',
   'lifeboat.metric_snapshots: xact_rollback / (xact_commit + xact_rollback) between the two newest snapshots in the lookback',
   'Look for failing statements in the Postgres logs and pg_stat_statements; a client that rolls back on purpose also counts.'),
  ('response_time', 'warning', 2000, 'ms', interval '2 hours', '{"min_calls": 50}', null, 'evaluate_alerts',
   'Slow responses: mean statement execution time above 2 s (seed: warning alert, response times > 2 seconds)',
   'lifeboat.metric_snapshots: pg_stat_statements total execution time / calls between the two newest snapshots',
   'Find the slowest statements in extensions.pg_stat_statements (order by mean_exec_time desc) and add indexes.'),
  ('connections', 'warning', 0.8, 'ratio', null, '{}', null, 'evaluate_alerts',
   'Connections above 80% of the usable maximum (seed: warning alert, usage > 80%)',
   'pg_stat_activity client backends / (max_connections - superuser_reserved_connections), live',
   'Use the connection pooler (port 6543), close idle clients, or move to a larger compute size.'),
  ('database_size', 'warning', 0.9, 'ratio', null, '{}', null, 'evaluate_alerts',
   'Database size above 90% of its limit (seed: warning alert, < 10% disk remaining)',
   'pg_database_size(current_database()) / setting database.size_limit_bytes, live',
   'Delete or archive data, vacuum bloated tables, or raise the disk size and database.size_limit_bytes.'),
  ('backup_age', 'critical', 1.0, 'ratio', null, '{}', 'critical', 'evaluate_alerts',
   'The newest full backup is older than its RPO (setting backup.rpo)',
   'lifeboat.backup_runs: now - recovery point of the newest completed full backup, against backup.rpo',
   'Check lifeboat.backup_runs for failed runs and cron.job_run_details for the export job, then run a backup.'),
  ('drill_failed', 'critical', null, '', null, '{}', 'high', 'evaluate_alerts',
   'The latest restore drill of a system failed or missed its RTO',
   'lifeboat.drills: the newest finished drill per system (success = false or met_objective = false)',
   'Read the drill''s details, fix the restore path, and run lifeboat drill again.'),
  ('verification_failed', 'critical', null, '', null, '{}', 'high', 'evaluate_alerts',
   'The latest verification of a kind failed',
   'lifeboat.verification_runs: the newest finished run per kind (success = false)',
   'Read the run''s findings and fix them; the alert resolves when a newer verification passes.'),
  ('cron_job_failed', 'warning', null, '', null, '{}', 'high', 'record_cron_failures',
   'A Lifeboat pg_cron job failed (an incident opens after cron.incident_after_failures consecutive failures)',
   'cron.job_run_details via lifeboat.record_cron_failures()',
   'Read return_message in cron.job_run_details for the job and fix the cause.'),
  ('replication_slot_wal', 'warning', 1073741824, 'bytes', null, '{}', null, 'evaluate_alerts',
   'A replication slot retains more WAL than its limit (an inactive slot retains WAL until the disk fills)',
   'pg_replication_slots: pg_current_wal_insert_lsn() - restart_lsn per slot',
   'Reconnect the slot''s consumer, or drop the slot with pg_drop_replication_slot(name) if it is abandoned.')
on conflict (rule) do nothing;

-- alert_error_rate: rolled-back share of transactions between the two newest snapshots.
create or replace function lifeboat.alert_error_rate(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  with s as (
    select m.taken_at, m.xact_commit, m.xact_rollback from lifeboat.metric_snapshots m
    where m.taken_at <= $1 and m.taken_at > $1 - coalesce(r.lookback, interval '2 hours')
      and m.xact_commit is not null and m.xact_rollback is not null
    order by m.taken_at desc
    limit 2
  ),
  d as (
    select prev.taken_at as since, cur.taken_at as until, cur.xact_commit - prev.xact_commit as commits,
      cur.xact_rollback - prev.xact_rollback as rollbacks
    from (select * from s order by s.taken_at desc limit 1) cur
    join (select * from s order by s.taken_at asc limit 1) prev on prev.taken_at < cur.taken_at
  )
  select 'error_rate',
    pg_catalog.format('%s%% of transactions rolled back between %s and %s (threshold %s%%)',
      pg_catalog.round(100.0 * d.rollbacks / (d.commits + d.rollbacks), 1), d.since, d.until,
      pg_catalog.round(100 * r.threshold, 1)),
    pg_catalog.jsonb_build_object('observed_value', pg_catalog.round(d.rollbacks::numeric / (d.commits + d.rollbacks), 4),
      'threshold', r.threshold, 'commits', d.commits, 'rollbacks', d.rollbacks, 'since', d.since, 'until', d.until)
  from d
  where d.commits >= 0 and d.rollbacks >= 0
    and d.commits + d.rollbacks >= coalesce((r.params ->> 'min_transactions')::bigint, 100)
    and d.rollbacks::numeric / (d.commits + d.rollbacks) > r.threshold
$$;

-- alert_response_time: mean statement time between the two newest snapshots that share a
-- pg_stat_statements reset (figures are cumulative since the reset).
create or replace function lifeboat.alert_response_time(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  with s as (
    select m.taken_at, m.statements_calls as calls, m.statements_total_exec_ms as total_ms,
      m.statements_reset_at as reset_at
    from lifeboat.metric_snapshots m
    where m.taken_at <= $1 and m.taken_at > $1 - coalesce(r.lookback, interval '2 hours')
      and m.statements_calls is not null
    order by m.taken_at desc
    limit 2
  ),
  d as (
    select cur.taken_at as until, prev.taken_at as since, cur.calls - prev.calls as calls,
      cur.total_ms - prev.total_ms as total_ms
    from (select * from s order by s.taken_at desc limit 1) cur
    join (select * from s order by s.taken_at asc limit 1) prev
      on prev.taken_at < cur.taken_at and prev.reset_at is not distinct from cur.reset_at
  )
  select 'response_time',
    pg_catalog.format('mean statement time %s ms between %s and %s (threshold %s ms)',
      pg_catalog.round((d.total_ms / d.calls)::numeric, 1), d.since, d.until, r.threshold),
    pg_catalog.jsonb_build_object('observed_value', pg_catalog.round((d.total_ms / d.calls)::numeric, 1),
      'threshold', r.threshold, 'calls', d.calls, 'since', d.since, 'until', d.until)
  from d
  where d.calls >= greatest(coalesce((r.params ->> 'min_calls')::bigint, 50), 1)
    and d.total_ms / d.calls > r.threshold
$$;

-- alert_connections: client connections against the usable maximum, live.
create or replace function lifeboat.alert_connections(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  with c as (
    select u.used, u.usable from lifeboat.connection_usage() u
  )
  select 'connections',
    pg_catalog.format('%s of %s usable connections in use (threshold %s%%)', c.used, c.usable,
      pg_catalog.round(100 * r.threshold, 1)),
    pg_catalog.jsonb_build_object('observed_value', pg_catalog.round(c.used::numeric / greatest(c.usable, 1), 4),
      'threshold', r.threshold, 'used', c.used, 'usable', c.usable)
  from c
  where c.used > c.usable * r.threshold
$$;

-- alert_database_size: database size against setting database.size_limit_bytes, live.
create or replace function lifeboat.alert_database_size(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  with s as (
    select pg_catalog.pg_database_size(pg_catalog.current_database()) as size,
      (lifeboat.setting('database.size_limit_bytes'))::text::bigint as size_limit
  )
  select 'database_size',
    pg_catalog.format('the database uses %s of its %s limit (threshold %s%%)',
      pg_catalog.pg_size_pretty(s.size), pg_catalog.pg_size_pretty(s.size_limit), pg_catalog.round(100 * r.threshold, 1)),
    pg_catalog.jsonb_build_object('observed_value', pg_catalog.round(s.size::numeric / greatest(s.size_limit, 1), 4),
      'threshold', r.threshold, 'size_bytes', s.size, 'limit_bytes', s.size_limit)
  from s
  where s.size > s.size_limit * r.threshold
$$;

-- alert_backup_age: the newest full backup older than threshold x RPO; with none completed,
-- fires once the first backup attempt is older than that (a fresh install stays quiet).
create or replace function lifeboat.alert_backup_age(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  with b as (
    select lifeboat.backup_rpo() * coalesce(r.threshold, 1) as rpo, l.id, l.recovery_point,
      (select min(x.created_at) from lifeboat.backup_runs x where x.created_at <= $1) as first_attempt
    from (select 1) one left join lifeboat.last_backup('full', $1) l on true
  )
  select 'backup_age:full',
    case when b.id is null
      then pg_catalog.format('no full backup has completed since the first attempt at %s (RPO %s)', b.first_attempt, b.rpo)
      else pg_catalog.format('the newest full backup is %s old (RPO %s)', pg_catalog.date_trunc('second', $1 - b.recovery_point), b.rpo)
    end,
    pg_catalog.jsonb_build_object('observed_value', pg_catalog.round(extract(epoch from $1 - coalesce(b.recovery_point, b.first_attempt))),
      'rpo_seconds', extract(epoch from b.rpo)::bigint, 'backup_id', b.id, 'recovery_point', b.recovery_point)
  from b
  where (b.id is not null and $1 - b.recovery_point > b.rpo)
     or (b.id is null and b.first_attempt is not null and $1 - b.first_attempt > b.rpo)
$$;

-- alert_drill_failed: per system, the newest finished drill failed or missed its RTO.
create or replace function lifeboat.alert_drill_failed(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select 'drill_failed:' || d.system,
    case when d.success is false
      then pg_catalog.format('the restore drill of %s at %s failed', d.system, d.started_at)
      else pg_catalog.format('the restore drill of %s at %s took %s, over its RTO of %s', d.system, d.started_at,
        d.measured_rto, d.objective) end,
    pg_catalog.jsonb_build_object('drill_id', d.id, 'system', d.system, 'success', d.success,
      'measured_rto_seconds', extract(epoch from d.measured_rto), 'objective_seconds', extract(epoch from d.objective))
  from (
    select distinct on (x.system) x.* from lifeboat.drills x
    where x.finished_at <= $1 and x.success is not null
    order by x.system, x.finished_at desc, x.id desc
  ) d
  where d.success is false or d.met_objective is false
$$;

-- alert_verification_failed: per kind, the newest finished verification failed.
create or replace function lifeboat.alert_verification_failed(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select 'verification_failed:' || v.kind,
    pg_catalog.format('the %s verification at %s failed with %s errors', v.kind, v.started_at, v.errors),
    pg_catalog.jsonb_build_object('verification_id', v.id, 'kind', v.kind, 'errors', v.errors,
      'warnings', v.warnings, 'backup_run_id', v.backup_run_id)
  from (
    select distinct on (x.kind) x.* from lifeboat.verification_runs x
    where x.finished_at <= $1 and x.success is not null
    order by x.kind, x.finished_at desc, x.id desc
  ) v
  where v.success is false
$$;

-- alert_replication_slot_wal: slots retaining more WAL than the threshold (bytes), or that
-- already lost WAL they needed.
create or replace function lifeboat.alert_replication_slot_wal(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select 'replication_slot_wal:' || s.slot_name,
    case when s.wal_status = 'lost'
      then pg_catalog.format('replication slot %s lost WAL it needed', s.slot_name)
      else pg_catalog.format('replication slot %s (%s) retains %s of WAL (limit %s)', s.slot_name,
        case when s.active then 'active' else 'inactive' end, pg_catalog.pg_size_pretty(w.retained),
        pg_catalog.pg_size_pretty(r.threshold)) end,
    pg_catalog.jsonb_build_object('observed_value', w.retained, 'threshold', r.threshold, 'slot', s.slot_name,
      'slot_type', s.slot_type, 'active', s.active, 'wal_status', s.wal_status)
  from pg_catalog.pg_replication_slots s
  cross join lateral (
    select pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), s.restart_lsn)::bigint as retained
  ) w
  where s.wal_status = 'lost' or (s.restart_lsn is not null and w.retained > r.threshold)
$$;

-- alert_conditions(now): every enabled rule's firing conditions, by calling alert_<rule>.
create or replace function lifeboat.alert_conditions(now timestamptz default pg_catalog.now())
returns table (rule text, severity text, dedup_key text, summary text, details jsonb)
language plpgsql
stable
set search_path = ''
as $$
declare
  r lifeboat.alert_rules;
  fn regprocedure;
begin
  for r in
    select * from lifeboat.alert_rules ar where ar.enabled and ar.evaluator = 'evaluate_alerts' order by ar.rule
  loop
    fn := pg_catalog.to_regprocedure(pg_catalog.format('lifeboat.%I(timestamptz, lifeboat.alert_rules)', 'alert_' || r.rule));
    if fn is null then
      raise warning 'alert rule % has no function lifeboat.alert_%(timestamptz, lifeboat.alert_rules); skipped', r.rule, r.rule;
      continue;
    end if;
    return query execute pg_catalog.format(
      'select $2, $3, c.dedup_key, c.summary, c.details from %s($1, $4) c', fn::regproc)
      using $1, r.rule, r.severity, r;
  end loop;
end
$$;
comment on function lifeboat.alert_conditions(timestamptz) is
  'The conditions every enabled rule sees at a point in time (rule, severity, dedup_key, summary, details); changes nothing.';

-- open_alert_incident(alert, now): opens (or joins) the incident of a firing alert whose
-- rule asks for one, and writes the opening to its timeline.
create or replace function lifeboat.open_alert_incident(alert_id bigint, now timestamptz)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  a lifeboat.alert_events;
  r lifeboat.alert_rules;
  inc bigint;
begin
  select * into a from lifeboat.alert_events x where x.id = alert_id;
  select * into r from lifeboat.alert_rules ar where ar.rule = a.rule;
  if a.id is null or a.state <> 'firing' or a.incident_id is not null or r.incident_severity is null then
    return a.incident_id;
  end if;
  insert into lifeboat.incidents (severity, title, impact, dedup_key, source, opened_at, updated_at, follow_up_actions)
  values (r.incident_severity, a.summary, r.description, a.dedup_key, 'alert', $2, $2,
    pg_catalog.array_remove(array[nullif(r.remediation, '')], null))
  on conflict (dedup_key) where status = 'open' and dedup_key is not null do nothing
  returning id into inc;
  if inc is not null then
    insert into lifeboat.incident_events (incident_id, at, kind, message, details)
    values (inc, $2, 'opened', pg_catalog.format('alert %s fired: %s', a.rule, a.summary),
      pg_catalog.jsonb_build_object('alert_id', a.id, 'dedup_key', a.dedup_key, 'details', a.details));
  else
    -- Someone (a person, another rule) already has an open incident for this key: join it.
    select i.id into inc from lifeboat.incidents i where i.dedup_key = a.dedup_key and i.status = 'open';
    insert into lifeboat.incident_events (incident_id, at, kind, message, details)
    values (inc, $2, 'update', pg_catalog.format('alert %s fired: %s', a.rule, a.summary),
      pg_catalog.jsonb_build_object('alert_id', a.id));
  end if;
  update lifeboat.alert_events x set incident_id = inc where x.id = a.id;
  return inc;
end
$$;

-- close_alert_incident(alert, now): resolves the incident an alert opened once the alert
-- resolved, unless another firing alert still holds it.
create or replace function lifeboat.close_alert_incident(alert_id bigint, now timestamptz)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  a lifeboat.alert_events;
  inc bigint;
begin
  select * into a from lifeboat.alert_events x where x.id = alert_id;
  if a.id is null or a.state <> 'resolved' or a.incident_id is null
    or exists (select from lifeboat.alert_events o where o.incident_id = a.incident_id and o.state = 'firing') then
    return null;
  end if;
  update lifeboat.incidents i
  set status = 'resolved', resolved_at = $2, updated_at = $2,
      resolution = coalesce(i.resolution, pg_catalog.format('alert %s cleared at %s', a.dedup_key, $2))
  where i.id = a.incident_id and i.status = 'open' and i.source = 'alert'
  returning i.id into inc;
  if inc is not null then
    insert into lifeboat.incident_events (incident_id, at, kind, message, details)
    values (inc, $2, 'resolved', pg_catalog.format('alert %s resolved', a.dedup_key),
      pg_catalog.jsonb_build_object('alert_id', a.id, 'occurrences', a.occurrences));
  end if;
  return inc;
end
$$;

-- evaluate_alerts(now): fires, refreshes and resolves alert_events from the rules' current
-- conditions (one firing row per dedup_key; resolved when its condition clears or its rule
-- is disabled), opens and closes incidents, runs the cron rule, and queues notifications.
create or replace function lifeboat.evaluate_alerts(now timestamptz default pg_catalog.now())
returns table (alert_rule text, alert_key text, action text)
language plpgsql
volatile
set search_path = ''
as $$
declare
  c record;
  a record;
  inc bigint;
  firing text[] := '{}';
begin
  -- One evaluation at a time: two overlapping runs would both fire the same key.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('lifeboat.evaluate_alerts'));

  for c in select * from lifeboat.alert_conditions($1) k order by k.rule, k.dedup_key loop
    firing := firing || c.dedup_key;
    insert into lifeboat.alert_events as x (rule, severity, dedup_key, summary, first_seen, last_seen, details)
    values (c.rule, c.severity, c.dedup_key, c.summary, $1, $1, c.details)
    on conflict (dedup_key) where state = 'firing' do update
      set last_seen = greatest(x.last_seen, excluded.last_seen), occurrences = x.occurrences + 1,
          summary = excluded.summary, severity = excluded.severity, details = excluded.details
    returning x.id, (x.xmax = 0) as inserted into a;
    alert_rule := c.rule;
    alert_key := c.dedup_key;
    action := case when a.inserted then 'fired' else 'refreshed' end;
    return next;
    inc := lifeboat.open_alert_incident(a.id, $1);
    if a.inserted and inc is not null then
      action := 'incident_opened';
      return next;
    end if;
  end loop;

  -- Resolve what no longer fires: cleared conditions and disabled rules (the cron rule's
  -- alerts belong to record_cron_failures()).
  for a in
    update lifeboat.alert_events x set state = 'resolved', resolved_at = greatest($1, x.last_seen), last_seen = greatest($1, x.last_seen)
    from lifeboat.alert_rules ar
    where x.state = 'firing' and ar.rule = x.rule and ar.evaluator = 'evaluate_alerts'
      and not (x.dedup_key = any (firing))
    returning x.id, x.rule, x.dedup_key
  loop
    alert_rule := a.rule;
    alert_key := a.dedup_key;
    action := 'resolved';
    return next;
    if lifeboat.close_alert_incident(a.id, $1) is not null then
      action := 'incident_resolved';
      return next;
    end if;
  end loop;

  if exists (select from lifeboat.alert_rules ar where ar.rule = 'cron_job_failed' and ar.enabled)
     and pg_catalog.to_regprocedure('lifeboat.record_cron_failures()') is not null then
    for a in execute 'select f.jobname, f.action from lifeboat.record_cron_failures() f' loop
      alert_rule := 'cron_job_failed';
      alert_key := 'cron_job_failed:' || a.jobname;
      action := a.action;
      return next;
    end loop;
  end if;

  if pg_catalog.to_regprocedure('lifeboat.queue_notifications(timestamptz)') is not null then
    execute 'select lifeboat.queue_notifications($1)' using $1;
  end if;
end
$$;
comment on function lifeboat.evaluate_alerts(timestamptz) is
  'Evaluates every alert rule at a point in time: fires, refreshes and resolves alert_events, opens and closes incidents, queues notifications.';

insert into lifeboat.schedules (name, schedule, command, description) values
  ('alerts-evaluate', '* * * * *', 'select count(*) from lifeboat.evaluate_alerts()',
   'Every minute: evaluate the alert rules into alert_events and incidents, and queue notifications')
on conflict (name) do nothing;
select jobname, action from lifeboat.apply_schedules() where jobname = 'lifeboat-alerts-evaluate';

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

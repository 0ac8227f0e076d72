-- Objectives in one place, and a status that tells the truth (issue 19).
--
-- lifeboat.drill_objectives: how often a restore drill must pass (seed: the backup testing
-- schedule's monthly "test backup restoration" and quarterly "full disaster recovery
-- simulation"). lifeboat.objectives: the one relation listing every objective: the backup
-- RPO (setting backup.rpo), the RPO per data class, the RTO per system, and the drill
-- objectives. The drill_overdue alert rule fires per objective that is not met.
--
-- lifeboat.status_report() now says `recoverable` only when the newest full backup is within
-- the RPO and has passed verification, and every drill objective that gates recoverability
-- has a passing drill within its interval, of a backup no older than that interval (and the
-- newest drill did not fail); each condition is a reason with its own check name and detail.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

create table if not exists lifeboat.drill_objectives (
  name text primary key check (name ~ '^[a-z][a-z0-9_]{0,50}$'),
  -- A drill must pass at least this often, of a backup no older than this.
  every interval not null check (every > interval '0'),
  -- Only drills that restored every table (not sampled) into a database or a new project count.
  requires_full boolean not null default false,
  -- Whether `recoverable` depends on it (the others alert when overdue, and status lists them).
  gates_recoverable boolean not null default true,
  description text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.drill_objectives is
  'How often a restore drill must pass (seed: monthly restoration test, quarterly full DR simulation).';

insert into lifeboat.drill_objectives (name, every, requires_full, gates_recoverable, description) values
  ('restore_test', interval '1 month', false, true,
   'Monthly: test backup restoration (any passing drill: in the project, from the CLI or CI)'),
  ('dr_simulation', interval '3 months', true, false,
   'Quarterly: full disaster recovery simulation (every table restored into a scratch database or a new project)')
on conflict (name) do nothing;

-- objectives: RPO, RTO and drill objectives in one relation.
create or replace view lifeboat.objectives as
  select 'rpo'::text as kind, 'backup'::text as name, lifeboat.backup_rpo() as target,
    'Scheduled full backups: the newest completed one must be younger (setting backup.rpo)'::text as description,
    'lifeboat.settings backup.rpo'::text as defined_in
  union all
  select 'rpo_data_class', o.data_class, o.rpo, o.description, 'lifeboat.recovery_point_objectives'
  from lifeboat.recovery_point_objectives o
  union all
  select 'rto', o.system, o.rto, o.description, 'lifeboat.recovery_time_objectives'
  from lifeboat.recovery_time_objectives o
  union all
  select 'drill', o.name, o.every, o.description, 'lifeboat.drill_objectives'
  from lifeboat.drill_objectives o;
comment on view lifeboat.objectives is
  'Every objective in one place: the backup RPO, RPO per data class, RTO per system, drill objectives (kind, name, target interval).';

-- drill_objective_status(now): per drill objective, whether it is met at `now`: a drill of
-- the database passed (success, within its RTO) within `every`, of a backup taken within
-- `every` (and, when requires_full, restoring every table into a database or project).
create or replace function lifeboat.drill_objective_status(now timestamptz default pg_catalog.now())
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
      'name', o.name, 'every_seconds', extract(epoch from o.every)::bigint, 'requires_full', o.requires_full,
      'gates_recoverable', o.gates_recoverable, 'met', p.id is not null,
      'drill_id', p.id, 'drill_finished_at', p.finished_at, 'ran_in', p.ran_in, 'backup_taken_at', p.taken,
      'last_drill_id', l.id, 'last_drill_success', l.success, 'last_drill_met_rto', l.met_objective,
      'detail', case
        when p.id is not null then pg_catalog.format('%s: drill %s (%s) passed at %s, of a backup taken %s',
          o.name, p.id, p.ran_in, pg_catalog.to_char(p.finished_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
          pg_catalog.to_char(p.taken at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
        when l.id is null then pg_catalog.format('%s: no %srestore drill has passed within %s', o.name,
          case when o.requires_full then 'full ' else '' end, o.every)
        when l.success is false then pg_catalog.format('%s: the last drill (%s, %s) failed, and none passed within %s',
          o.name, l.id, l.ran_in, o.every)
        when l.met_objective is false then pg_catalog.format('%s: the last drill (%s) took %s, over its RTO of %s, and none passed within %s',
          o.name, l.id, pg_catalog.date_trunc('second', l.measured_rto), l.objective, o.every)
        when l.finished_at <= $1 - o.every then pg_catalog.format('%s: the last passing drill (%s) is older than %s', o.name, l.id, o.every)
        else pg_catalog.format('%s: the last drill (%s) restored a backup older than %s%s', o.name, l.id, o.every,
          case when o.requires_full and (l.sampled or l.restored_into = 'scratch_schema') then ', or not every table' else '' end)
      end) order by o.every, o.name), '[]'::jsonb)
  from lifeboat.drill_objectives o
  left join lateral (
    select d.id, d.finished_at, d.ran_in, lifeboat.drill_backup_taken_at(d) as taken
    from lifeboat.drills d
    where d.system = 'database' and d.success and d.met_objective is not false
      and d.finished_at <= $1 and d.finished_at > $1 - o.every
      and lifeboat.drill_backup_taken_at(d) > $1 - o.every
      and (not o.requires_full or (not d.sampled and coalesce(d.restored_into, 'scratch_database') <> 'scratch_schema'))
    order by d.finished_at desc, d.id desc limit 1
  ) p on true
  left join lateral (
    select d.* from lifeboat.drills d
    where d.system = 'database' and d.finished_at <= $1 and d.success is not null
    order by d.finished_at desc, d.id desc limit 1
  ) l on true
$$;
comment on function lifeboat.drill_objective_status(timestamptz) is
  'Per drill objective at a point in time: met or not, the drill that meets it, and a detail saying why not.';

-- status_reasons(now): the conditions of the `recoverable` verdict, each {check, ok, detail}.
-- drill_passed also fails while the newest drill failed: an older pass does not outweigh it.
create or replace function lifeboat.status_reasons(now timestamptz default pg_catalog.now())
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  rpo interval := lifeboat.backup_rpo();
  b record;
  -- The newest finished verification of that backup (all null when there is none).
  v_id bigint;
  v_success boolean;
  v_errors integer;
  gating jsonb;
  unmet jsonb;
  -- The newest finished drill of the database: when it failed, restores do not work now.
  d_id bigint;
  d_failed boolean;
  d_ran_in text;
begin
  select x.id, not x.success or x.met_objective is false, x.ran_in into d_id, d_failed, d_ran_in
  from lifeboat.drills x where x.system = 'database' and x.finished_at <= $1 and x.success is not null
  order by x.finished_at desc, x.id desc limit 1;
  select * into b from lifeboat.last_backup('full', $1);
  if b.id is not null then
    select x.id, x.success, x.errors into v_id, v_success, v_errors from lifeboat.verification_runs x
    where x.backup_run_id = b.id and x.finished_at <= $1 and x.success is not null
    order by x.finished_at desc, x.id desc limit 1;
  end if;
  select coalesce(pg_catalog.jsonb_agg(o), '[]') into gating
  from pg_catalog.jsonb_array_elements(lifeboat.drill_objective_status($1)) o where (o ->> 'gates_recoverable')::boolean;
  select coalesce(pg_catalog.jsonb_agg(o), '[]') into unmet
  from pg_catalog.jsonb_array_elements(gating) o where not (o ->> 'met')::boolean;

  return pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('check', 'backup_exists', 'ok', b.id is not null,
      'detail', case when b.id is null then 'no completed full backup'
        else pg_catalog.format('full backup %s finished at %s', b.id,
          pg_catalog.to_char(b.finished_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')) end),
    pg_catalog.jsonb_build_object('check', 'backup_within_rpo', 'ok', coalesce($1 - b.recovery_point <= rpo, false),
      'detail', case when b.id is null then 'no backup to measure'
        else pg_catalog.format('newest full backup is %s old; the RPO is %s',
          pg_catalog.date_trunc('second', $1 - b.recovery_point), rpo) end),
    pg_catalog.jsonb_build_object('check', 'backup_verified', 'ok', coalesce(v_success, false),
      'detail', case when b.id is null then 'no backup to verify'
        when v_id is null then pg_catalog.format('the newest full backup (%s) has not been verified yet', b.id)
        when v_success then pg_catalog.format('verification %s of the newest full backup (%s) passed', v_id, b.id)
        else pg_catalog.format('verification %s of the newest full backup (%s) failed with %s errors', v_id, b.id, v_errors) end),
    pg_catalog.jsonb_build_object('check', 'drill_passed',
      'ok', pg_catalog.jsonb_array_length(unmet) = 0 and d_failed is not true,
      'detail', case when d_failed
          then pg_catalog.format('the newest restore drill (%s, %s) failed or missed its RTO: restores do not work now', d_id, d_ran_in)
        when pg_catalog.jsonb_array_length(gating) = 0 then 'no drill objective gates recoverability (lifeboat.drill_objectives)'
        when pg_catalog.jsonb_array_length(unmet) = 0
          then (select pg_catalog.string_agg(o ->> 'detail', '; ') from pg_catalog.jsonb_array_elements(gating) o)
        else (select pg_catalog.string_agg(o ->> 'detail', '; ') from pg_catalog.jsonb_array_elements(unmet) o) end));
end
$$;
comment on function lifeboat.status_reasons(timestamptz) is
  'The recoverable verdict''s conditions: backup exists, within the RPO, verified, drill objectives met ({check, ok, detail}).';

-- alert_drill_overdue: per drill objective, no passing drill within its interval; quiet on a
-- fresh install until its first completed backup is older than the interval.
insert into lifeboat.alert_rules
  (rule, severity, threshold, unit, lookback, params, incident_severity, evaluator, description, source, remediation) values
  ('drill_overdue', 'warning', null, '', null, '{}', 'medium', 'evaluate_alerts',
   'A drill objective is overdue: no restore drill passed within its interval for a recent enough backup (one alert per objective)',
   'lifeboat.drill_objective_status(): lifeboat.drills against lifeboat.drill_objectives',
   'Run a drill (lifeboat drill, or the project''s scheduled drill) of a recent backup; read why in the alert''s summary.')
on conflict (rule) do nothing;

create or replace function lifeboat.alert_drill_overdue(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select 'drill_overdue:' || (o ->> 'name'), o ->> 'detail', o
  from pg_catalog.jsonb_array_elements(lifeboat.drill_objective_status($1)) o
  where not (o ->> 'met')::boolean
    and exists (select from lifeboat.backup_runs b
                where b.state in ('completed', 'pruned') and b.finished_at <= $1 - (o ->> 'every_seconds')::bigint * interval '1 second')
$$;

-- status_report(now): as in 20261122000710, with the reasons from lifeboat.status_reasons()
-- and the drill objectives' state.
create or replace function lifeboat.status_report(now timestamptz default pg_catalog.now())
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  rpo interval := lifeboat.backup_rpo();
  full_backup jsonb := lifeboat.status_backup('full', $1);
  tables_backup jsonb := lifeboat.status_backup('tables', $1);
  last_verification jsonb;
  backup_verification jsonb;
  last_drill jsonb;
  drills jsonb;
  trend jsonb;
  cron jsonb := lifeboat.status_cron();
  incidents jsonb;
  alerts jsonb;
  runs jsonb;
  reasons jsonb := '[]';
  rto interval := (select o.rto from lifeboat.recovery_time_objectives o where o.system = 'database');
  trend_n integer := (lifeboat.setting('status.trend_points'))::text::integer;
  drill_n integer := (lifeboat.setting('status.drill_points'))::text::integer;
begin
  select pg_catalog.to_jsonb(v) into last_verification from (
    select x.id, x.kind, x.backup_run_id, x.started_at, x.finished_at, x.success, x.checks_total, x.warnings, x.errors,
      pg_catalog.round(extract(epoch from $1 - x.finished_at)) as age_seconds
    from lifeboat.verification_runs x where x.finished_at <= $1 and x.success is not null
    order by x.finished_at desc, x.id desc limit 1) v;
  select pg_catalog.to_jsonb(v) into backup_verification from (
    select x.id, x.kind, x.backup_run_id, x.started_at, x.finished_at, x.success, x.checks_total, x.warnings, x.errors,
      pg_catalog.round(extract(epoch from $1 - x.finished_at)) as age_seconds
    from lifeboat.verification_runs x
    where x.finished_at <= $1 and x.success is not null and x.backup_run_id is not null
    order by x.finished_at desc, x.id desc limit 1) v;

  select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(d) order by d.started_at), '[]') into drills from (
    select x.id, x.system, x.backup_run_id, x.backup_id, x.ran_in, x.restored_into, x.sampled,
      x.started_at, x.finished_at, x.success, x.met_objective,
      extract(epoch from x.measured_rto)::double precision as measured_rto_seconds,
      extract(epoch from coalesce(x.objective, rto))::double precision as objective_seconds
    from lifeboat.drills x
    where x.system = 'database' and x.finished_at <= $1 and x.success is not null
    order by x.finished_at desc, x.id desc limit drill_n) d;
  last_drill := drills -> -1;

  select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) order by t.finished_at), '[]') into trend from (
    select r.id, r.finished_at, coalesce(r.snapshot_at, r.started_at, r.finished_at) as recovery_point, r.bytes,
      pg_catalog.round(extract(epoch from r.finished_at - coalesce(r.started_at, r.created_at))::numeric, 3) as duration_seconds
    from lifeboat.backup_runs r
    where r.kind = 'full' and r.state in ('completed', 'pruned') and r.finished_at <= $1
    order by r.finished_at desc limit trend_n) t;

  select pg_catalog.jsonb_build_object(
      'running', count(*) filter (where r.state in ('planned', 'running')),
      'failed_24h', count(*) filter (where r.state = 'failed' and r.finished_at > $1 - interval '24 hours'),
      'completed_24h', count(*) filter (where r.state = 'completed' and r.finished_at > $1 - interval '24 hours'))
  into runs
  from lifeboat.backup_runs r where r.created_at <= $1;

  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', i.id, 'severity', i.severity, 'title', i.title,
      'opened_at', i.opened_at, 'source', i.source) order by i.opened_at desc), '[]')
  into incidents from lifeboat.incidents i where i.status = 'open';

  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('rule', x.rule, 'severity', x.severity,
      'dedup_key', x.dedup_key, 'summary', x.summary, 'first_seen', x.first_seen, 'last_seen', x.last_seen,
      'occurrences', x.occurrences, 'incident_id', x.incident_id) order by x.first_seen desc), '[]')
  into alerts from lifeboat.alert_events x where x.state = 'firing';

  reasons := lifeboat.status_reasons($1);

  return pg_catalog.jsonb_build_object(
    'generated_at', $1,
    'recoverable', not pg_catalog.jsonb_path_exists(reasons, '$[*] ? (@.ok == false)'),
    'reasons', reasons,
    'rpo', pg_catalog.jsonb_build_object('seconds', extract(epoch from rpo)::bigint,
      'warn_ratio', (lifeboat.setting('backup.rpo_warn_ratio'))::text::numeric, 'setting', 'backup.rpo'),
    'rto', pg_catalog.jsonb_build_object('system', 'database', 'seconds', extract(epoch from rto)::bigint),
    'data_classes', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('data_class', o.data_class,
        'rpo_seconds', extract(epoch from o.rpo)::bigint,
        'met', coalesce((full_backup ->> 'age_seconds')::numeric <= extract(epoch from o.rpo), false)) order by o.rpo), '[]')
      from lifeboat.recovery_point_objectives o),
    'backups', pg_catalog.jsonb_build_object('full', full_backup, 'tables', tables_backup),
    'backup_runs', runs,
    'verification', pg_catalog.jsonb_build_object('last', last_verification, 'last_backup', backup_verification),
    'drill', pg_catalog.jsonb_build_object('last', last_drill),
    'drills', drills,
    'drill_objectives', lifeboat.drill_objective_status($1),
    'retention', lifeboat.status_retention($1),
    'cron', pg_catalog.jsonb_build_object('jobs', cron,
      'failing', (select count(*) from pg_catalog.jsonb_array_elements(cron) j where not (j ->> 'healthy')::boolean)),
    'trend', trend,
    'incidents', pg_catalog.jsonb_build_object('open', incidents),
    'alerts', pg_catalog.jsonb_build_object('firing', alerts));
end
$$;
comment on function lifeboat.status_report(timestamptz) is
  'Backup status at a point in time as jsonb: newest backups against the RPO, verification, drills against the RTO and the drill objectives, GFS inventory, cron jobs, trend, incidents, alerts, and the recoverable verdict with its reasons (lifeboat.status_reasons).';

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

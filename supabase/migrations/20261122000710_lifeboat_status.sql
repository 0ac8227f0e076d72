-- Lifeboat status: everything the backup-status function, its page, its metrics and
-- `lifeboat report` show, gathered in one call (one round trip): lifeboat.status_report().
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.
--
-- Nothing here returns a backup's target, an error message or a cron command: those can
-- name hosts or carry secrets, and the report is shown to holders of the status token.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('status.trend_points', '60'::jsonb, 'How many completed full backups the status trend shows'),
  ('status.drill_points', '20', 'How many drills the status drill history shows')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- status_backup(kind, now): the newest completed backup of a kind as status jsonb (null if none).
create or replace function lifeboat.status_backup(backup_kind text, now timestamptz default pg_catalog.now())
returns jsonb
language sql
stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'id', l.id, 'kind', l.kind, 'recovery_point', l.recovery_point, 'finished_at', l.finished_at,
    'age_seconds', pg_catalog.round(extract(epoch from $2 - l.recovery_point)),
    'rpo_seconds', extract(epoch from lifeboat.backup_rpo())::bigint,
    'within_rpo', $2 - l.recovery_point <= lifeboat.backup_rpo(),
    'bytes', l.bytes, 'duration_seconds', pg_catalog.round(l.duration_seconds::numeric, 3), 'consistent', l.consistent)
  from lifeboat.last_backup(backup_kind, $2) l
$$;

-- status_retention(now): which GFS slots (settings retention.gfs.*, read with the export
-- migration's lifeboat.gfs_count) completed full backups fill. A slot is a UTC day, ISO
-- week, month or year counted back from `now`; a tier kept "all" shows every slot since
-- the oldest completed backup.
create or replace function lifeboat.status_retention(now timestamptz default pg_catalog.now())
returns jsonb
language sql
stable
set search_path = ''
as $$
  with oldest as (
    select min(r.finished_at) as at from lifeboat.backup_runs r
    where r.kind = 'full' and r.state = 'completed' and r.finished_at <= $1
  ),
  policy as (
    select t.tier, t.unit, t.ord, lifeboat.gfs_count('retention.gfs.' || t.tier) is null as keep_all,
      coalesce(lifeboat.gfs_count('retention.gfs.' || t.tier),
        1 + coalesce(extract(year from $1 at time zone 'UTC')::integer
          - extract(year from o.at at time zone 'UTC')::integer, 0)) as keep
    from (values ('daily', 'day', 1), ('weekly', 'week', 2), ('monthly', 'month', 3), ('yearly', 'year', 4))
      as t(tier, unit, ord)
    cross join oldest o
  ),
  slots as (
    select p.tier, p.ord, p.keep, i,
      pg_catalog.date_trunc(p.unit, $1, 'UTC') - (i || ' ' || p.unit)::interval as slot_start,
      pg_catalog.date_trunc(p.unit, $1, 'UTC') - ((i - 1) || ' ' || p.unit)::interval as slot_end
    from policy p cross join lateral pg_catalog.generate_series(0, p.keep - 1) i
  ),
  filled as (
    select s.*, b.id as backup_id, b.finished_at
    from slots s
    left join lateral (
      select r.id, r.finished_at from lifeboat.backup_runs r
      where r.kind = 'full' and r.state = 'completed'
        and r.finished_at >= s.slot_start and r.finished_at < s.slot_end and r.finished_at <= $1
      order by r.finished_at desc limit 1
    ) b on true
  )
  select pg_catalog.jsonb_build_object(
    'policy', (select pg_catalog.jsonb_object_agg(p.tier, case when p.keep_all then pg_catalog.to_jsonb('all'::text)
      else pg_catalog.to_jsonb(p.keep) end) from policy p),
    'tiers', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'tier', t.tier, 'keep', t.keep, 'keep_all', t.keep_all, 'filled', t.filled, 'slots', t.slots) order by t.ord)
      from (
        select p.tier, p.ord, p.keep, p.keep_all,
          (select count(*) from filled f where f.tier = p.tier and f.backup_id is not null) as filled,
          coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
              'slot', pg_catalog.to_char(f.slot_start at time zone 'UTC',
                case p.unit when 'day' then 'YYYY-MM-DD' when 'week' then 'IYYY-"W"IW' when 'month' then 'YYYY-MM' else 'YYYY' end),
              'backup_id', f.backup_id, 'finished_at', f.finished_at) order by f.i)
            from filled f where f.tier = p.tier), '[]'::jsonb) as slots
        from policy p
      ) t), '[]'::jsonb))
$$;

-- status_cron(): each watched pg_cron job with its last outcome (no commands or messages).
create or replace function lifeboat.status_cron()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
      'job', s.jobname, 'schedule', j.schedule, 'active', j.active, 'last_status', s.last_status,
      'last_run_at', s.last_run_at, 'last_success_at', s.last_success_at,
      'consecutive_failures', s.consecutive_failures,
      'healthy', coalesce(s.last_status, 'succeeded') = 'succeeded' and j.active) order by s.jobname), '[]'::jsonb)
  from lifeboat.cron_job_status() s
  join cron.job j on j.jobname = s.jobname and j.username = current_user
$$;

-- status_report(now): the whole status as jsonb, with the `recoverable` verdict and its
-- reasons. Recoverable means: a completed full backup exists, it is within the RPO, the
-- newest backup verification passed, and the newest restore drill of the database
-- succeeded within its RTO. Missing proof counts as not recoverable: a backup that was
-- never verified or restored is an assumption.
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
    select x.id, x.system, x.backup_run_id, x.started_at, x.finished_at, x.success, x.met_objective,
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

  reasons := pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('check', 'backup_exists', 'ok', full_backup is not null,
      'detail', case when full_backup is null then 'no completed full backup'
        else pg_catalog.format('full backup %s finished at %s', full_backup ->> 'id',
          pg_catalog.to_char((full_backup ->> 'finished_at')::timestamptz at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')) end),
    pg_catalog.jsonb_build_object('check', 'backup_within_rpo', 'ok', coalesce((full_backup ->> 'within_rpo')::boolean, false),
      'detail', case when full_backup is null then 'no backup to measure'
        else pg_catalog.format('newest full backup is %s old; the RPO is %s',
          pg_catalog.make_interval(secs => (full_backup ->> 'age_seconds')::double precision), rpo) end),
    pg_catalog.jsonb_build_object('check', 'backup_verified', 'ok', coalesce((backup_verification ->> 'success')::boolean, false),
      'detail', case when backup_verification is null then 'no backup has been verified'
        when (backup_verification ->> 'success')::boolean
          then pg_catalog.format('verification %s of backup %s passed', backup_verification ->> 'id', backup_verification ->> 'backup_run_id')
        else pg_catalog.format('verification %s of backup %s failed with %s errors', backup_verification ->> 'id',
          backup_verification ->> 'backup_run_id', backup_verification ->> 'errors') end),
    pg_catalog.jsonb_build_object('check', 'drill_passed',
      'ok', coalesce((last_drill ->> 'success')::boolean and coalesce((last_drill ->> 'met_objective')::boolean, true), false),
      'detail', case when last_drill is null then 'no restore drill has been run'
        when not (last_drill ->> 'success')::boolean then pg_catalog.format('drill %s failed', last_drill ->> 'id')
        when (last_drill ->> 'met_objective')::boolean is false
          then pg_catalog.format('drill %s took %s s, over the RTO of %s s', last_drill ->> 'id',
            pg_catalog.round((last_drill ->> 'measured_rto_seconds')::numeric), pg_catalog.round((last_drill ->> 'objective_seconds')::numeric))
        else pg_catalog.format('drill %s restored in %s s (RTO %s s)', last_drill ->> 'id',
          pg_catalog.round((last_drill ->> 'measured_rto_seconds')::numeric), pg_catalog.round((last_drill ->> 'objective_seconds')::numeric)) end));

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
    'retention', lifeboat.status_retention($1),
    'cron', pg_catalog.jsonb_build_object('jobs', cron,
      'failing', (select count(*) from pg_catalog.jsonb_array_elements(cron) j where not (j ->> 'healthy')::boolean)),
    'trend', trend,
    'incidents', pg_catalog.jsonb_build_object('open', incidents),
    'alerts', pg_catalog.jsonb_build_object('firing', alerts));
end
$$;
comment on function lifeboat.status_report(timestamptz) is
  'Backup status at a point in time as jsonb: newest backups against the RPO, verification, drills against the RTO, GFS inventory, cron jobs, trend, incidents, alerts, and the recoverable verdict with its reasons.';

-- The backup-status function and `lifeboat report` read it as the owner role (SUPABASE_DB_URL);
-- no API role is granted anything.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

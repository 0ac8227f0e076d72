-- Schedules: lifeboat.schedules → pg_cron through apply_schedules(), idempotently; the daily
-- export stays off until an export target is set; the jobs' own functions.
-- cron.job changes are transactional, so everything here rolls back with the test.
begin;
select plan(30);

select has_table('lifeboat', 'schedules', 'schedules table exists');
-- Later migrations add their own rows (export resume, alerts, notifications): check ours are there.
select ok((select array_agg(name) from lifeboat.schedules) @>
  array['export-daily', 'verify-daily', 'analyze-weekly', 'bloat-check-weekly', 'metrics-hourly', 'purge-monthly', 'cron-failures'],
  'default schedules come from the seed documents');
select results_eq(
  $$select name, schedule from lifeboat.schedules
    where name in ('analyze-weekly', 'bloat-check-weekly', 'cron-failures', 'export-daily', 'metrics-hourly',
                   'purge-monthly', 'verify-daily')
    order by name$$,
  $$values ('analyze-weekly', '0 3 * * 0'), ('bloat-check-weekly', '30 3 * * 0'), ('cron-failures', '*/5 * * * *'),
           ('export-daily', '0 0 * * *'), ('metrics-hourly', '7 * * * *'), ('purge-monthly', '0 4 1 * *'),
           ('verify-daily', '30 1 * * *')$$,
  'daily, weekly, hourly and monthly jobs at spread-out UTC times');
select is((select command from lifeboat.schedules where name = 'export-daily'),
  $$select lifeboat.invoke('backup-export', '{"mode":"full"}')$$, 'the daily export goes through lifeboat.invoke()');

-- Start from the settings the migration ships with.
update lifeboat.settings set value = 'null' where key = 'export.target';
create temp table t_apply on commit drop as select * from lifeboat.apply_schedules();
select is((select action from t_apply where jobname = 'lifeboat-export-daily'), 'not scheduled',
  'the daily export is not scheduled while export.target is null');
select ok(not exists (select from cron.job where jobname = 'lifeboat-export-daily'), 'so pg_cron has no export job');
select ok((select array_agg(jobname::text) from cron.job where jobname like 'lifeboat-%' and active) @>
  array['lifeboat-verify-daily', 'lifeboat-analyze-weekly', 'lifeboat-bloat-check-weekly', 'lifeboat-metrics-hourly',
        'lifeboat-purge-monthly', 'lifeboat-cron-failures'],
  'every other default job is installed and active, prefixed lifeboat-');
select is((select count(*)::int from lifeboat.apply_schedules() where action <> 'unchanged' and action <> 'not scheduled'), 0,
  'applying again changes nothing');
select is((select count(*)::int from cron.job where jobname like 'lifeboat-%'),
  (select count(distinct jobname)::int from cron.job where jobname like 'lifeboat-%'), 'and creates no duplicates');
select is((select command from cron.job where jobname = 'lifeboat-verify-daily'),
  'select lifeboat.run_daily_verification()', 'the job runs the row''s command');

-- Configuring an export target turns the export on.
update lifeboat.settings set value = '"s3://backups/lifeboat"' where key = 'export.target';
select is((select action from lifeboat.apply_schedules() where jobname = 'lifeboat-export-daily'), 'scheduled',
  'with export.target set, the daily export is scheduled');
select results_eq($$select schedule, command, active from cron.job where jobname = 'lifeboat-export-daily'$$,
  $$values ('0 0 * * *'::text, $c$select lifeboat.invoke('backup-export', '{"mode":"full"}')$c$::text, true)$$,
  'as the schedules row says');
update lifeboat.settings set value = '""' where key = 'export.target';
select is((select action from lifeboat.apply_schedules() where jobname = 'lifeboat-export-daily'), 'unscheduled',
  'an empty export.target turns it off again');

-- Editing a row and re-applying updates the job in place.
update lifeboat.schedules set schedule = '17 * * * *' where name = 'metrics-hourly';
create temp table t_before on commit drop as select jobid from cron.job where jobname = 'lifeboat-metrics-hourly';
select is((select action from lifeboat.apply_schedules() where jobname = 'lifeboat-metrics-hourly'), 'updated',
  'a changed schedule is applied');
select results_eq($$select jobid, schedule from cron.job where jobname = 'lifeboat-metrics-hourly'$$,
  $$select jobid, '17 * * * *'::text from t_before$$, 'the same job now has the new schedule');

-- A job someone deactivated in pg_cron is reactivated: the table is the source of truth.
do $$ begin
  perform cron.alter_job((select jobid from cron.job where jobname = 'lifeboat-purge-monthly'), active => false);
end $$;
select is((select action from lifeboat.apply_schedules() where jobname = 'lifeboat-purge-monthly'), 'updated',
  'an inactive job is updated');
select ok((select active from cron.job where jobname = 'lifeboat-purge-monthly'), 'and active again');

-- Disabling unschedules; applying a disabled, absent job again does not error.
update lifeboat.schedules set enabled = false where name = 'purge-monthly';
select is((select action from lifeboat.apply_schedules() where jobname = 'lifeboat-purge-monthly'), 'unscheduled',
  'a disabled schedule is unscheduled');
select ok(not exists (select from cron.job where jobname = 'lifeboat-purge-monthly'), 'its job is gone');
select lives_ok($$select * from lifeboat.apply_schedules()$$, 'applying with a disabled, absent job does not raise');

-- Stray lifeboat- jobs and removed rows are cleaned up; other jobs are left alone.
do $$ begin
  perform cron.schedule('lifeboat-stray', '0 5 * * *', 'select 1');
  perform cron.schedule('someone-elses-job', '0 5 * * *', 'select 1');
end $$;
delete from lifeboat.schedules where name = 'bloat-check-weekly';
select set_eq($$select jobname from lifeboat.apply_schedules() where action = 'removed'$$,
  array['lifeboat-stray', 'lifeboat-bloat-check-weekly'], 'jobs with the lifeboat- prefix and no row are removed');
select ok(exists (select from cron.job where jobname = 'someone-elses-job'), 'other jobs are not touched');

-- A bad cron expression fails the whole apply (pg_cron validates it).
update lifeboat.schedules set schedule = 'every tuesday' where name = 'verify-daily';
select throws_like($$select * from lifeboat.apply_schedules()$$, '%invalid schedule%',
  'an invalid schedule is reported by pg_cron');
update lifeboat.schedules set schedule = '30 1 * * *' where name = 'verify-daily';

-- The jobs' own functions.
create temp table t_ver on commit drop as select * from lifeboat.run_daily_verification();
select ok((select source in ('lifeboat.diagnose()', 'lifeboat.health()') from t_ver),
  'daily verification runs diagnose() where installed, else health()');
select ok((select finished_at >= started_at and checks_total > 0 from t_ver), 'it records a finished run with its checks');
select ok((select success = (errors = 0) from t_ver), 'success means no check reported an error');
select is((select jsonb_array_length(findings) from t_ver), (select warnings + errors from t_ver),
  'findings hold exactly the warn and error rows');
select is((select count(*)::int from lifeboat.verification_runs where id = (select id from t_ver)), 1,
  'the run is kept in verification_runs');
select ok((select type = 'bloat_check' and outcome in ('success', 'skipped') from lifeboat.run_bloat_check()),
  'the bloat check logs its result (skipped where diagnose_bloat() is not installed)');
select ok(exists (select from pg_catalog.pg_proc where oid = 'lifeboat.run_analyze'::regproc and prokind = 'p'),
  'run_analyze is a procedure, so it can commit per table (tested end to end in tests/stack/outbox.test.ts)');

select * from finish();
rollback;

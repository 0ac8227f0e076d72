-- Failed pg_cron runs reach the alert and incident tables and health(): a failing lifeboat
-- job fires one deduplicated alert, persistent failures open an incident with a timeline,
-- success resolves both. Run history is written into cron.job_run_details (postgres may,
-- as on Supabase) and rolled back with the test.
begin;
select plan(34);

update lifeboat.settings set value = '3' where key = 'cron.incident_after_failures';
do $$ begin
  perform cron.schedule('lifeboat-test-failing', '0 0 1 1 *', 'select 1/0');
  perform cron.schedule('not-lifeboat-job', '0 0 1 1 *', 'select 1/0');
end $$;

-- Adds one finished run of a job: status, message, minutes ago. Its run id is above every real
-- one, as pg_cron's would be: postgres may not use cron.runid_seq on Supabase.
create function pg_temp.run(job text, st text, msg text, ago int default 0) returns void language sql as $$
  insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
  select j.jobid, (select coalesce(max(d.runid), 0) + 1000000 from cron.job_run_details d), 0, 'postgres', 'postgres', j.command, st, msg,
    now() - make_interval(mins => ago), now() - make_interval(mins => ago)
  from cron.job j where j.jobname = job
$$;
create function pg_temp.alert() returns lifeboat.alert_events language sql as $$
  select * from lifeboat.alert_events where dedup_key = 'cron_job_failed:lifeboat-test-failing' order by id desc limit 1
$$;
create function pg_temp.incident() returns lifeboat.incidents language sql as $$
  select * from lifeboat.incidents where dedup_key = 'cron_job_failed:lifeboat-test-failing' order by id desc limit 1
$$;
create function pg_temp.outcome() returns text language sql as $$
  select action from lifeboat.record_cron_failures() where jobname = 'lifeboat-test-failing'
$$;

select pg_temp.run('lifeboat-test-failing', 'succeeded', '1 row', 30);
select is(pg_temp.outcome(), null, 'a job that succeeds raises nothing');

-- First failure: one firing alert.
select pg_temp.run('lifeboat-test-failing', 'failed', 'ERROR:  division by zero', 20);
select pg_temp.run('not-lifeboat-job', 'failed', 'ERROR:  division by zero', 20);
select results_eq($$select last_status, consecutive_failures, last_message from lifeboat.cron_job_status()
    where jobname = 'lifeboat-test-failing'$$,
  $$values ('failed'::text, 1, 'ERROR:  division by zero'::text)$$, 'cron_job_status() sees the failed run');
select is(pg_temp.outcome(), 'fired', 'the first failure fires an alert');
select results_eq($$select rule, severity, state, occurrences, details ->> 'last_message' from pg_temp.alert()$$,
  $$values ('cron_job_failed'::text, 'warning'::text, 'firing'::text, 1, 'ERROR:  division by zero'::text)$$,
  'the alert names the rule, severity and the failure message');
select is((select count(*)::int from lifeboat.alert_events where dedup_key like '%not-lifeboat-job%'), 0,
  'jobs outside cron.watch_jobs raise no alert');
select is((select level from lifeboat.health() where "check" = 'cron_failures'), 'warn', 'health() warns');
select ok((select metadata -> 'alerting_jobs' ? 'lifeboat-test-failing' from lifeboat.health() where "check" = 'cron_failures'),
  'and lists the alerting job');

-- Re-checking without new runs deduplicates.
select is(pg_temp.outcome(), 'refreshed', 're-checking refreshes the same alert');
select is((select count(*)::int from lifeboat.alert_events where dedup_key = 'cron_job_failed:lifeboat-test-failing'), 1,
  'still one alert for the job');

-- Second failure: still an alert only.
select pg_temp.run('lifeboat-test-failing', 'failed', 'ERROR:  division by zero', 10);
select is(pg_temp.outcome(), 'refreshed', 'a second failure refreshes the alert');
select is((pg_temp.alert()).occurrences, 2, 'counting consecutive failures');
select is(pg_temp.incident(), null, 'no incident below cron.incident_after_failures');

-- Third consecutive failure: an incident, linked to the alert.
select pg_temp.run('lifeboat-test-failing', 'failed', 'connection failed', 5);
select is(pg_temp.outcome(), 'incident_opened', 'the third consecutive failure opens an incident');
select results_eq($$select severity, status, source from pg_temp.incident()$$,
  $$values ('high'::text, 'open'::text, 'cron'::text)$$, 'an open, high-severity incident from cron');
select is((pg_temp.alert()).incident_id, (pg_temp.incident()).id, 'the alert points at the incident');
select is((pg_temp.alert()).severity, 'critical', 'and is escalated to critical');
select is((select array_agg(kind order by id) from lifeboat.incident_events where incident_id = (pg_temp.incident()).id),
  array['opened'], 'the timeline starts with opened');
select is((select level from lifeboat.health() where "check" = 'cron_failures'), 'error', 'an open incident is a health error');
select ok((select metadata -> 'open_incidents' @> to_jsonb(array[(pg_temp.incident()).id])
  from lifeboat.health() where "check" = 'cron_failures'), 'health() lists the open incident');

select is(pg_temp.outcome(), 'refreshed', 'no new run: no new timeline event');
select pg_temp.run('lifeboat-test-failing', 'failed', 'ERROR:  division by zero', 1);
select is(pg_temp.outcome(), 'incident_updated', 'a further failure updates the incident');
select is((select array_agg(kind order by id) from lifeboat.incident_events where incident_id = (pg_temp.incident()).id),
  array['opened', 'update'], 'with one timeline event per new failed run');

-- Success resolves both.
select pg_temp.run('lifeboat-test-failing', 'succeeded', '1 row', 0);
select is(pg_temp.outcome(), 'resolved', 'a successful run resolves');
select results_eq($$select state, resolved_at is not null from pg_temp.alert()$$, $$values ('resolved'::text, true)$$,
  'the alert is resolved');
select results_eq($$select status, resolution like '%succeeded again%' from pg_temp.incident()$$,
  $$values ('resolved'::text, true)$$, 'the incident is resolved with a resolution');
select is((select array_agg(kind order by id) from lifeboat.incident_events where incident_id = (pg_temp.incident()).id),
  array['opened', 'update', 'resolved'], 'and the timeline ends resolved');
select is(pg_temp.outcome(), null, 'nothing more to do once resolved');

-- A new failure is a new episode; unscheduling the job closes it.
select pg_temp.run('lifeboat-test-failing', 'failed', 'ERROR:  again', 0);
select is(pg_temp.outcome(), 'fired', 'a later failure fires a new alert');
select is((select count(*)::int from lifeboat.alert_events where dedup_key = 'cron_job_failed:lifeboat-test-failing'), 2,
  'kept apart from the resolved one');
do $$ begin perform cron.unschedule((select jobid from cron.job where jobname = 'lifeboat-test-failing')); end $$;
select is(pg_temp.outcome(), 'resolved (job no longer scheduled)', 'an unscheduled job''s alert is resolved');

-- pg_cron leaves a run it could not connect for without start and end time; runids follow
-- start order, so it counts when it follows the last run dated before the window.
do $$ begin perform cron.schedule('lifeboat-test-undated', '0 0 1 1 *', 'select 1'); end $$;
select pg_temp.run('lifeboat-test-undated', 'succeeded', '1 row', 60 * 24 * 10);  -- before both windows
insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message)
select jobid, (select coalesce(max(d.runid), 0) + 1000000 from cron.job_run_details d), 0, 'postgres', 'postgres', command, 'failed', 'connection failed'
from cron.job where jobname = 'lifeboat-test-undated';
select results_eq($$select last_status, consecutive_failures, last_message from lifeboat.cron_job_status()
    where jobname = 'lifeboat-test-undated'$$,
  $$values ('failed'::text, 1, 'connection failed'::text)$$, 'an undated failed run (connection failed) is seen');
select ok((select metadata -> 'jobs' ? 'lifeboat-test-undated' from lifeboat.health() where "check" = 'cron_failures'),
  'health() counts it');
select is((select action from lifeboat.record_cron_failures() where jobname = 'lifeboat-test-undated'), 'fired',
  'and it raises an alert');
-- A later run dated before the window (a clock that was reset, say) puts it outside.
select pg_temp.run('lifeboat-test-undated', 'succeeded', '1 row', 60 * 24 * 10);
select ok(not (select metadata -> 'jobs' ? 'lifeboat-test-undated' from lifeboat.health() where "check" = 'cron_failures'),
  'an undated run before a run dated before the window is not counted');

select * from finish();
rollback;

-- Alert rules: each one fires and then resolves on an injected clock; firing is deduplicated,
-- disabled rules resolve, and incidents open and close with their alerts.
begin;
select plan(45);

-- A clean slate inside this transaction, and every rule off until its test turns it on.
delete from lifeboat.alert_events;
delete from lifeboat.incidents;
delete from lifeboat.metric_snapshots;
delete from lifeboat.backup_runs;
delete from lifeboat.drills;
delete from lifeboat.verification_runs;
delete from lifeboat.notification_channels;
update lifeboat.alert_rules set enabled = false;

create temporary table t0 as select timestamptz '2030-01-01 12:00:00+00' as at;
create function pg_temp.firing(key text) returns boolean language sql as
  $$ select exists (select from lifeboat.alert_events where dedup_key = key and state = 'firing') $$;
create function pg_temp.resolved(key text) returns boolean language sql as
  $$ select exists (select from lifeboat.alert_events where dedup_key = key and state = 'resolved')
       and not exists (select from lifeboat.alert_events where dedup_key = key and state = 'firing') $$;
create function pg_temp.snap(at timestamptz, commits bigint, rollbacks bigint, calls bigint, total_ms double precision)
returns void language sql as $$
  insert into lifeboat.metric_snapshots (taken_at, connections, active_connections, max_connections, database_size_bytes,
    xact_commit, xact_rollback, statements_calls, statements_total_exec_ms, statements_reset_at)
  values (at, 1, 1, 100, 1000, commits, rollbacks, calls, total_ms, timestamptz '2029-12-31 00:00:00+00')
$$;

-- The rules table holds the seeds' thresholds.
select is((select threshold from lifeboat.alert_rules where rule = 'error_rate'), 0.05, 'error rate threshold is 5%');
select is((select threshold from lifeboat.alert_rules where rule = 'response_time'), 2000::numeric, 'response time threshold is 2 s');
select is((select threshold from lifeboat.alert_rules where rule = 'connections'), 0.8, 'connections threshold is 80%');
select set_eq($$select rule from lifeboat.alert_rules$$,
  array['error_rate', 'response_time', 'connections', 'database_size', 'backup_age', 'drill_failed',
        'verification_failed', 'cron_job_failed', 'replication_slot_wal', 'drill_overdue',
        'stream_wal_warning', 'stream_wal_critical', 'stream_slot_dropped', 'rpo', 'locations'], 'all fifteen rules exist');

-- error_rate: 100 of 1000 transactions rolled back between two snapshots.
update lifeboat.alert_rules set enabled = true where rule = 'error_rate';
select pg_temp.snap((select at from t0) - interval '1 hour', 1000, 0, 100, 100);
select pg_temp.snap((select at from t0), 1900, 100, 200, 200);
select lifeboat.evaluate_alerts((select at from t0));
select ok(pg_temp.firing('error_rate'), 'error_rate fires at 10%');
select is((select first_seen from lifeboat.alert_events where dedup_key = 'error_rate'), (select at from t0),
  'first_seen is the injected clock');
select is((select severity from lifeboat.alert_events where dedup_key = 'error_rate'), 'critical', 'error_rate is critical');
select ok(exists (select from lifeboat.incidents i join lifeboat.incident_events e on e.incident_id = i.id
  where i.dedup_key = 'error_rate' and i.status = 'open' and i.source = 'alert' and e.kind = 'opened'),
  'a critical alert opens an incident with an opening event');
select lifeboat.evaluate_alerts((select at from t0) + interval '1 minute');
select is((select count(*)::int from lifeboat.alert_events where dedup_key = 'error_rate'), 1, 'a repeat is one alert row');
select is((select occurrences from lifeboat.alert_events where dedup_key = 'error_rate'), 2, 'counted as a second occurrence');
select is((select count(*)::int from lifeboat.incidents where dedup_key = 'error_rate'), 1, 'and still one incident');
select pg_temp.snap((select at from t0) + interval '1 hour', 2900, 101, 300, 300);
select lifeboat.evaluate_alerts((select at from t0) + interval '1 hour');
select ok(pg_temp.resolved('error_rate'), 'error_rate resolves at 0.1%');
select is((select resolved_at from lifeboat.alert_events where dedup_key = 'error_rate'), (select at from t0) + interval '1 hour',
  'resolved_at is the injected clock');
select ok(exists (select from lifeboat.incidents i join lifeboat.incident_events e on e.incident_id = i.id
  where i.dedup_key = 'error_rate' and i.status = 'resolved' and e.kind = 'resolved'),
  'the incident closes with a resolved event');
select is((select array_agg(e.kind order by e.id) from lifeboat.incident_events e
  join lifeboat.incidents i on i.id = e.incident_id where i.dedup_key = 'error_rate'), array['opened', 'resolved'],
  'the timeline reads opened, resolved');
update lifeboat.alert_rules set enabled = false where rule = 'error_rate';
delete from lifeboat.metric_snapshots;

-- response_time: mean 3 s per call between snapshots, then 10 ms.
update lifeboat.alert_rules set enabled = true where rule = 'response_time';
select pg_temp.snap((select at from t0) - interval '1 hour', 0, 0, 100, 1000);
select pg_temp.snap((select at from t0), 0, 0, 200, 301000);
select lifeboat.evaluate_alerts((select at from t0));
select ok(pg_temp.firing('response_time'), 'response_time fires at 3 s mean');
select is((select (details ->> 'observed_value')::numeric from lifeboat.alert_events where dedup_key = 'response_time'),
  3000.0, 'it reports the mean in ms');
select ok(not exists (select from lifeboat.incidents where dedup_key = 'response_time'), 'a warning opens no incident');
select pg_temp.snap((select at from t0) + interval '1 hour', 0, 0, 1200, 311000);
select lifeboat.evaluate_alerts((select at from t0) + interval '1 hour');
select ok(pg_temp.resolved('response_time'), 'response_time resolves at 10 ms');
update lifeboat.alert_rules set enabled = false where rule = 'response_time';

-- connections: this session is one connection, so a zero threshold fires.
update lifeboat.alert_rules set enabled = true, threshold = 0 where rule = 'connections';
select lifeboat.evaluate_alerts((select at from t0));
select ok(pg_temp.firing('connections'), 'connections fires above the threshold');
update lifeboat.alert_rules set threshold = 0.8 where rule = 'connections';
select lifeboat.evaluate_alerts((select at from t0) + interval '1 minute');
select ok(pg_temp.resolved('connections'), 'connections resolves below 80%');
update lifeboat.alert_rules set enabled = false where rule = 'connections';

-- database_size: against the configured limit.
update lifeboat.alert_rules set enabled = true where rule = 'database_size';
update lifeboat.settings set value = '1000000' where key = 'database.size_limit_bytes';
select lifeboat.evaluate_alerts((select at from t0));
select ok(pg_temp.firing('database_size'), 'database_size fires above 90% of a 1 MB limit');
update lifeboat.settings set value = '1000000000000000' where key = 'database.size_limit_bytes';
select lifeboat.evaluate_alerts((select at from t0) + interval '1 minute');
select ok(pg_temp.resolved('database_size'), 'database_size resolves under a large limit');
update lifeboat.alert_rules set enabled = false where rule = 'database_size';

-- backup_age: a failed first attempt older than the RPO fires; a backup 30 h old fires; a fresh one resolves.
update lifeboat.alert_rules set enabled = true where rule = 'backup_age';
select lifeboat.evaluate_alerts((select at from t0));
select ok(not exists (select from lifeboat.alert_events where rule = 'backup_age'), 'no backups ever attempted: quiet');
insert into lifeboat.backup_runs (kind, state, created_at, started_at, finished_at, error)
values ('full', 'failed', (select at from t0) - interval '25 hours', (select at from t0) - interval '25 hours',
  (select at from t0) - interval '25 hours', 'boom');
select lifeboat.evaluate_alerts((select at from t0));
select ok(pg_temp.firing('backup_age:full'), 'an attempt 25 h ago and no completed backup fires');
insert into lifeboat.backup_runs (kind, state, created_at, started_at, snapshot_at, finished_at, manifest_key, bytes)
values ('full', 'completed', (select at from t0) - interval '30 hours', (select at from t0) - interval '30 hours',
  (select at from t0) - interval '30 hours', (select at from t0) - interval '29 hours', 'a/manifest.json', 1000);
select lifeboat.evaluate_alerts((select at from t0) + interval '1 minute');
select ok(pg_temp.firing('backup_age:full'), 'a 30 h old backup against a 24 h RPO keeps it firing');
select is((select (details ->> 'rpo_seconds')::int from lifeboat.alert_events where dedup_key = 'backup_age:full' and state = 'firing'),
  86400, 'measured against backup.rpo (24 h)');
select ok(exists (select from lifeboat.incidents where dedup_key = 'backup_age:full' and severity = 'critical' and status = 'open'),
  'a late backup opens a critical incident');
insert into lifeboat.backup_runs (kind, state, created_at, started_at, snapshot_at, finished_at, manifest_key, bytes)
values ('full', 'completed', (select at from t0) + interval '30 minutes', (select at from t0) + interval '30 minutes',
  (select at from t0) + interval '30 minutes', (select at from t0) + interval '50 minutes', 'b/manifest.json', 1100);
select lifeboat.evaluate_alerts((select at from t0) + interval '1 hour');
select ok(pg_temp.resolved('backup_age:full'), 'a fresh backup resolves backup_age');
select ok(exists (select from lifeboat.incidents where dedup_key = 'backup_age:full' and status = 'resolved'),
  'and closes its incident');
update lifeboat.alert_rules set enabled = false where rule = 'backup_age';

-- drill_failed: a failed drill, then one over its RTO, then a good one.
update lifeboat.alert_rules set enabled = true where rule = 'drill_failed';
insert into lifeboat.drills (system, started_at, finished_at, measured_rto, objective, success)
values ('database', (select at from t0) - interval '1 hour', (select at from t0) - interval '50 minutes', null, interval '1 hour', false);
select lifeboat.evaluate_alerts((select at from t0));
select ok(pg_temp.firing('drill_failed:database'), 'a failed drill fires');
insert into lifeboat.drills (system, started_at, finished_at, measured_rto, objective, success)
values ('database', (select at from t0), (select at from t0) + interval '2 hours', interval '2 hours', interval '1 hour', true);
select lifeboat.evaluate_alerts((select at from t0) + interval '2 hours');
select ok(pg_temp.firing('drill_failed:database'), 'a drill over its RTO keeps it firing');
insert into lifeboat.drills (system, started_at, finished_at, measured_rto, objective, success)
values ('database', (select at from t0) + interval '3 hours', (select at from t0) + interval '3 hours 10 minutes',
  interval '10 minutes', interval '1 hour', true);
select lifeboat.evaluate_alerts((select at from t0) + interval '4 hours');
select ok(pg_temp.resolved('drill_failed:database'), 'a drill within its RTO resolves it');
update lifeboat.alert_rules set enabled = false where rule = 'drill_failed';

-- verification_failed.
update lifeboat.alert_rules set enabled = true where rule = 'verification_failed';
insert into lifeboat.verification_runs (kind, source, started_at, finished_at, success, errors)
values ('manual', 'test', (select at from t0), (select at from t0) + interval '1 minute', false, 2);
select lifeboat.evaluate_alerts((select at from t0) + interval '2 minutes');
select ok(pg_temp.firing('verification_failed:manual'), 'a failed verification fires');
insert into lifeboat.verification_runs (kind, source, started_at, finished_at, success)
values ('manual', 'test', (select at from t0) + interval '1 hour', (select at from t0) + interval '61 minutes', true);
select lifeboat.evaluate_alerts((select at from t0) + interval '2 hours');
select ok(pg_temp.resolved('verification_failed:manual'), 'a passing verification resolves it');
update lifeboat.alert_rules set enabled = false where rule = 'verification_failed';

-- replication_slot_wal: a slot retaining any WAL against a zero limit.
update lifeboat.alert_rules set enabled = true, threshold = 0 where rule = 'replication_slot_wal';
select lives_ok($$select pg_create_physical_replication_slot('lifeboat_alert_test', true, true)$$, 'a test slot');
insert into lifeboat.maintenance_log (type, description, outcome) select 'test', repeat('x', 500), 'success' from generate_series(1, 50);
select lifeboat.evaluate_alerts((select at from t0));
select ok(pg_temp.firing('replication_slot_wal:lifeboat_alert_test'), 'a slot retaining WAL over its limit fires');
update lifeboat.alert_rules set threshold = 1e15 where rule = 'replication_slot_wal';
select lifeboat.evaluate_alerts((select at from t0) + interval '1 minute');
select ok(pg_temp.resolved('replication_slot_wal:lifeboat_alert_test'), 'under a large limit it resolves');
select pg_drop_replication_slot('lifeboat_alert_test');

-- cron_job_failed: evaluated through record_cron_failures() from the schedules migration.
update lifeboat.alert_rules set enabled = true where rule = 'cron_job_failed';
select cron.schedule('lifeboat-alert-rule-test', '0 0 1 1 *', 'select 1');
insert into cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
select jobid, (select coalesce(max(d.runid), 0) + 1000000 from cron.job_run_details d), 'postgres', current_user, 'select 1', 'failed', 'ERROR: boom', now() - interval '2 minutes', now() - interval '2 minutes'
from cron.job where jobname = 'lifeboat-alert-rule-test';
select lifeboat.evaluate_alerts((select at from t0));
select ok(pg_temp.firing('cron_job_failed:lifeboat-alert-rule-test'), 'a failed cron run fires cron_job_failed');
insert into cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
select jobid, (select coalesce(max(d.runid), 0) + 1000000 from cron.job_run_details d), 'postgres', current_user, 'select 1', 'succeeded', 'SELECT 1', now() - interval '1 minute', now() - interval '1 minute'
from cron.job where jobname = 'lifeboat-alert-rule-test';
select lifeboat.evaluate_alerts((select at from t0) + interval '1 minute');
select ok(pg_temp.resolved('cron_job_failed:lifeboat-alert-rule-test'), 'the next success resolves it');
update lifeboat.alert_rules set enabled = false where rule = 'cron_job_failed';

-- Disabling a rule resolves what it had firing; a rule without its function is skipped.
update lifeboat.alert_rules set enabled = true, threshold = 0 where rule = 'connections';
select lifeboat.evaluate_alerts((select at from t0) + interval '5 hours');
select ok(pg_temp.firing('connections'), 'connections fires again (a new episode)');
select is((select count(*)::int from lifeboat.alert_events where dedup_key = 'connections'), 2, 'as a second alert row');
update lifeboat.alert_rules set enabled = false where rule = 'connections';
select lifeboat.evaluate_alerts((select at from t0) + interval '6 hours');
select ok(pg_temp.resolved('connections'), 'disabling the rule resolves it');
insert into lifeboat.alert_rules (rule, severity, threshold) values ('no_such_rule_fn', 'info', 1);
select lives_ok($$select lifeboat.evaluate_alerts()$$, 'a rule without its function does not break evaluation');

-- Incidents that a person opened for the same key are joined, not duplicated.
update lifeboat.alert_rules set enabled = true where rule = 'verification_failed';
insert into lifeboat.incidents (severity, title, dedup_key) values ('high', 'manual', 'verification_failed:restore');
insert into lifeboat.verification_runs (kind, source, started_at, finished_at, success, errors)
values ('restore', 'test', (select at from t0) + interval '7 hours', (select at from t0) + interval '7 hours', false, 1);
select lifeboat.evaluate_alerts((select at from t0) + interval '8 hours');
select is((select count(*)::int from lifeboat.incidents where dedup_key = 'verification_failed:restore'), 1,
  'the alert joins the open incident for its key');

select * from finish();
rollback;

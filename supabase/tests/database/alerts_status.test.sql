-- status_report(): the recoverable verdict and its reasons, backups against the RPO, drills
-- against the RTO, the GFS inventory and the trend; check_backup_age() in health(); and the
-- privilege boundary of everything the alerts migrations add.
begin;
select plan(32);

delete from lifeboat.backup_runs;
delete from lifeboat.drills;
delete from lifeboat.verification_runs;
delete from lifeboat.alert_events;
delete from lifeboat.incidents;
create temporary table t0 as select timestamptz '2030-06-15 12:00:00+00' as at;
create function pg_temp.at(offset_text text) returns timestamptz language sql as
  $$ select (select at from t0) + offset_text::interval $$;
create function pg_temp.reason(r jsonb, name text) returns boolean language sql as
  $$ select (e ->> 'ok')::boolean from jsonb_array_elements(r -> 'reasons') e where e ->> 'check' = name $$;

-- Nothing yet: not recoverable, for every reason, and health warns (a fresh install is no outage).
create temporary table r0 as select lifeboat.status_report(pg_temp.at('0 minutes')) as r;
select is((select r ->> 'recoverable' from r0), 'false', 'no backup: not recoverable');
select is((select jsonb_agg(e ->> 'check' order by e ->> 'check') from r0, jsonb_array_elements(r -> 'reasons') e where not (e ->> 'ok')::boolean),
  '["backup_exists", "backup_verified", "backup_within_rpo", "drill_passed"]'::jsonb, 'and every reason says why');
select is((select r #>> '{backups,full}' from r0), null, 'no full backup');
select is((select level from lifeboat.check_backup_age(pg_temp.at('0 minutes'))), 'warn', 'check_backup_age warns with no backup');
select ok((select r ? 'generated_at' and r ? 'retention' and r ? 'cron' and r ? 'trend' and r ? 'incidents' and r ? 'alerts'
  and r ? 'drills' and r ? 'data_classes' from r0), 'the report has every section');

-- Daily backups for ten days (the last one 2 h before t0), each taking longer and growing.
insert into lifeboat.backup_runs (kind, state, created_at, started_at, snapshot_at, finished_at, manifest_key, bytes, consistent, target, error)
select 'full', 'completed', pg_temp.at('-2 hours') - (i || ' days')::interval, pg_temp.at('-2 hours') - (i || ' days')::interval,
  pg_temp.at('-2 hours') - (i || ' days')::interval, pg_temp.at('-2 hours') - (i || ' days')::interval + ((60 + i) || ' seconds')::interval,
  'k' || i || '/manifest.json', 1000000 - i * 1000, true, 's3://secret-bucket.internal.example/prefix', null
from generate_series(0, 9) i;
insert into lifeboat.backup_runs (kind, state, created_at, started_at, finished_at, error)
values ('full', 'failed', pg_temp.at('-1 hour'), pg_temp.at('-1 hour'), pg_temp.at('-50 minutes'), 'could not reach db.internal.example:5432 password=hunter2');
create temporary table r1 as select lifeboat.status_report(pg_temp.at('0 minutes')) as r;
select ok(pg_temp.reason((select r from r1), 'backup_exists'), 'a completed full backup exists');
select ok(pg_temp.reason((select r from r1), 'backup_within_rpo'), 'it is within the RPO');
select is((select (r #>> '{backups,full,age_seconds}')::int from r1), 7200, 'its age is measured from its recovery point');
select is((select (r #>> '{backups,full,bytes}')::bigint from r1), 1000000::bigint, 'the newest backup''s size');
select is((select r ->> 'recoverable' from r1), 'false', 'unverified and never drilled: still not recoverable');
select is((select jsonb_array_length(r -> 'trend') from r1), 10, 'the trend has the ten completed backups');
select ok((select (r #>> '{trend,0,finished_at}')::timestamptz < (r #>> '{trend,9,finished_at}')::timestamptz from r1),
  'oldest first');
select is((select (r #>> '{backup_runs,failed_24h}')::int from r1), 1, 'the failed run is counted');
select ok((select position('secret-bucket' in r::text) = 0 and position('hunter2' in r::text) = 0
  and position('internal.example' in r::text) = 0 from r1), 'no target, host or error text in the report');

-- GFS inventory: 7 daily slots filled by ten daily backups, 2 ISO weeks touched, 1 month.
select is((select (t ->> 'filled')::int from r1, jsonb_array_elements(r #> '{retention,tiers}') t where t ->> 'tier' = 'daily'), 7,
  'all seven daily slots are filled');
select is((select jsonb_array_length(t -> 'slots') from r1, jsonb_array_elements(r #> '{retention,tiers}') t where t ->> 'tier' = 'weekly'), 4,
  'four weekly slots');
select ok((select (t ->> 'filled')::int between 2 and 3 from r1, jsonb_array_elements(r #> '{retention,tiers}') t where t ->> 'tier' = 'weekly'),
  'ten days of backups fill two or three ISO weeks');
select is((select (t ->> 'filled')::int from r1, jsonb_array_elements(r #> '{retention,tiers}') t where t ->> 'tier' = 'monthly'), 1,
  'one monthly slot (June)');
select is((select t #>> '{slots,0,slot}' from r1, jsonb_array_elements(r #> '{retention,tiers}') t where t ->> 'tier' = 'daily'),
  '2030-06-15', 'slots are named by UTC day');

-- The newest backup verified and drilled: recoverable.
insert into lifeboat.verification_runs (kind, backup_run_id, source, started_at, finished_at, success, checks_total)
select 'manual', b.id, 'test', pg_temp.at('-90 minutes'), pg_temp.at('-89 minutes'), true, 12 from lifeboat.backup_runs b
where b.state = 'completed' order by b.finished_at desc limit 1;
-- A drill of that backup (the monthly drill objective counts drills of a backup no older than a month).
insert into lifeboat.drills (system, started_at, finished_at, measured_rto, objective, success, backup_run_id)
select 'database', pg_temp.at('-80 minutes'), pg_temp.at('-70 minutes'), interval '10 minutes', interval '1 hour', true, b.id
from lifeboat.backup_runs b where b.state = 'completed' order by b.finished_at desc limit 1;
create temporary table r2 as select lifeboat.status_report(pg_temp.at('0 minutes')) as r;
select is((select r ->> 'recoverable' from r2), 'true', 'verified, drilled, within the RPO: recoverable');
select is((select (r #>> '{drill,last,measured_rto_seconds}')::int from r2), 600, 'the drill''s measured RTO');
select is((select (r #>> '{drill,last,objective_seconds}')::int from r2), 3600, 'against its objective');

-- Time passes: 20 h (warn), 25 h (error, not recoverable) after the last backup.
select is((select level from lifeboat.check_backup_age(pg_temp.at('18 hours'))), 'warn', 'past 80% of the RPO: warn');
select is((select level from lifeboat.check_backup_age(pg_temp.at('23 hours'))), 'error', 'past the RPO: error');
select is((select level from lifeboat.check_backup_age(pg_temp.at('0 minutes'))), 'ok', 'within 80%: ok');
select is((select lifeboat.status_report(pg_temp.at('23 hours')) ->> 'recoverable'), 'false', 'past the RPO: not recoverable');
select ok(not pg_temp.reason(lifeboat.status_report(pg_temp.at('23 hours')), 'backup_within_rpo'), 'because of the RPO');

-- A failed drill makes it unrecoverable again.
insert into lifeboat.drills (system, started_at, finished_at, success)
values ('database', pg_temp.at('-10 minutes'), pg_temp.at('-5 minutes'), false);
select ok(not pg_temp.reason(lifeboat.status_report(pg_temp.at('0 minutes')), 'drill_passed'), 'a failed drill fails drill_passed');

-- health() carries the backup age, in the uniform shape.
select ok(exists (select from lifeboat.health() where "check" = 'backup_age' and object = 'lifeboat.backup_runs'),
  'health() includes backup_age');

-- Privileges: nothing for the API roles.
select ok(not has_function_privilege('anon', 'lifeboat.status_report(timestamptz)', 'execute'), 'anon cannot read the status');
select ok(not has_function_privilege('authenticated', 'lifeboat.evaluate_alerts(timestamptz)', 'execute'),
  'authenticated cannot evaluate alerts');
select ok(not has_table_privilege('service_role', 'lifeboat.notification_channels', 'select')
  and not has_table_privilege('anon', 'lifeboat.notification_deliveries', 'select'), 'channels and deliveries are private');

select * from finish();
rollback;

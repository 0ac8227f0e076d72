-- Foundation: the lifeboat schema, recovery objectives, health(), and the privilege boundary.
begin;
select plan(30);

-- The owner role is not a superuser, as on hosted Supabase.
select ok(not (select rolsuper from pg_catalog.pg_roles where rolname = current_user),
  'migrations run as a non-superuser owner');
select throws_ok($$create extension file_fdw$$, '42501', null,
  'work that needs superuser fails here as it would on hosted Supabase');
select throws_ok($$set log_statement = 'all'$$, '42501', null,
  'superuser-only settings that supautils does not allow are refused');

select has_schema('lifeboat');
select has_table('lifeboat', 'recovery_point_objectives', 'RPO table exists');
select has_table('lifeboat', 'recovery_time_objectives', 'RTO table exists');
select has_table('lifeboat', 'settings', 'settings table exists');

-- Seed documents' defaults.
select results_eq(
  $$select data_class, rpo from lifeboat.recovery_point_objectives
    where data_class in ('transaction_data', 'user_data', 'analytics_data', 'reporting_data')
    order by rpo$$,
  $$values ('transaction_data', interval '0'), ('user_data', interval '5 minutes'),
           ('analytics_data', interval '1 hour'), ('reporting_data', interval '4 hours')$$,
  'RPO defaults come from the seed documents');
select results_eq(
  $$select system, rto from lifeboat.recovery_time_objectives
    where system in ('database', 'api_services', 'user_auth') order by rto$$,
  $$values ('user_auth', interval '30 minutes'), ('database', interval '1 hour'),
           ('api_services', interval '2 hours')$$,
  'RTO defaults come from the seed documents');
select throws_ok($$insert into lifeboat.recovery_point_objectives (data_class, rpo) values ('x', interval '-1 hour')$$,
  '23514', null, 'a negative RPO is refused');

-- health(): one uniform row per check.
select has_function('lifeboat', 'health', array[]::text[]);
select set_eq($$select "check" from lifeboat.health()$$,
  array['connections', 'cron_scheduler', 'cron_failures', 'backup_age'], 'health() reports its four checks');
select is((select count(*)::int from lifeboat.health() where level not in ('ok', 'warn', 'error')), 0,
  'every level is ok, warn or error');
select is((select level from lifeboat.health() where "check" = 'cron_scheduler'), 'ok',
  'the pg_cron scheduler is seen running');
select ok((select (metadata ->> 'observed_value')::numeric between 0 and 100 from lifeboat.health()
  where "check" = 'connections'), 'connections are reported as a percentage');

-- Failed cron runs in the window turn the check to warn, then error at the threshold.
-- (job_run_details rows need a job; both are rolled back with the test.)
update lifeboat.settings set value = '2' where key = 'health.cron_failures_error';
-- Start from a clean history (rolled back with the test), so earlier real failures do not count.
delete from cron.job_run_details;
update lifeboat.alert_events set state = 'resolved', resolved_at = now() where state = 'firing';
update lifeboat.incidents set status = 'resolved', resolved_at = now() where status = 'open';
select lives_ok($$select cron.schedule('lifeboat-test-foundation', '0 0 1 1 *', 'select 1')$$, 'can schedule a job');
insert into cron.job_run_details (jobid, runid, database, username, command, status, start_time, end_time)
select jobid, 900001, 'postgres', 'postgres', 'select 1', 'failed', now() - interval '1 hour', now() - interval '1 hour'
from cron.job where jobname = 'lifeboat-test-foundation';
select is((select level from lifeboat.health() where "check" = 'cron_failures'), 'warn', 'one failed run warns');
insert into cron.job_run_details (jobid, runid, database, username, command, status, start_time, end_time)
select jobid, 900002, 'postgres', 'postgres', 'select 1', 'failed', now() - interval '2 hours', now() - interval '2 hours'
from cron.job where jobname = 'lifeboat-test-foundation';
insert into cron.job_run_details (jobid, runid, database, username, command, status, start_time, end_time)
select jobid, 900003, 'postgres', 'postgres', 'select 1', 'failed', now() - interval '3 days', now() - interval '3 days'
from cron.job where jobname = 'lifeboat-test-foundation';
select is((select level from lifeboat.health() where "check" = 'cron_failures'), 'error',
  'failures at the threshold fail; the one outside the window is not counted');
select is((select (metadata ->> 'observed_value')::int from lifeboat.health() where "check" = 'cron_failures'), 2,
  'only failures inside the window count');

-- The boundary: public, anon and authenticated never reach lifeboat.
select ok(not has_schema_privilege('public', 'lifeboat', 'usage'), 'public has no usage on lifeboat');
select ok(not has_schema_privilege('anon', 'lifeboat', 'usage'), 'anon has no usage on lifeboat');
select ok(not has_schema_privilege('authenticated', 'lifeboat', 'usage'), 'authenticated has no usage on lifeboat');
select ok(not has_function_privilege('anon', 'lifeboat.health()', 'execute'), 'anon cannot execute health()');
select ok(not has_function_privilege('authenticated', 'lifeboat.health()', 'execute'), 'authenticated cannot execute health()');

set local role anon;
select throws_ok($$select * from lifeboat.health()$$, '42501', null, 'anon is refused health()');
select throws_ok($$select * from lifeboat.recovery_point_objectives$$, '42501', null, 'anon is refused the RPO table');
select throws_ok($$update lifeboat.settings set value = '1'$$, '42501', null, 'anon cannot change settings');
reset role;
set local role authenticated;
select throws_ok($$select * from lifeboat.health()$$, '42501', null, 'authenticated is refused health()');
select throws_ok($$select * from lifeboat.settings$$, '42501', null, 'authenticated is refused settings');
reset role;

-- Every function in lifeboat is executable by nobody but its owner unless granted on purpose.
select is(
  (select count(*)::int from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace
     and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))),
  0, 'no lifeboat function is executable by anon or authenticated');

select * from finish();
rollback;

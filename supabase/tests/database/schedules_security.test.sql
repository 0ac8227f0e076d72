-- Schedules, invoke and the outbox are out of reach of public, anon and authenticated, and
-- service_role is granted nothing (no function needs it yet). Tried as each role.
begin;
select plan(16);

-- pg_temp.reachable_as(role, statements): the statements that got past the privilege check.
\ir ../helpers/reachable_as.psql

create temp table t_stmts on commit drop as
select array_agg(s order by s) as stmts from (
  select format(f, 'lifeboat.' || t) as s
  from unnest(array['schedules', 'outbox', 'outbox_attempts']) t,
       unnest(array['select * from %s limit 0', 'delete from %s where false', 'insert into %s default values',
                    'truncate %s']) f
  union all
  select unnest(array[
    'select lifeboat.invoke(''echo'', ''{}'')',
    'select lifeboat.invoke_transport()',
    'select lifeboat.vault_secret(''lifeboat_service_key'')',
    'select * from lifeboat.outbox_claim()',
    'select lifeboat.outbox_record(1, 1, 200, '''', null)',
    'select lifeboat.retry_delay(''outbox'', 1)',
    'select lifeboat.outbox_next_due()',
    'select lifeboat.outbox_requeue(1)',
    'select lifeboat.run_daily_verification()',
    'select lifeboat.run_bloat_check()',
    'call lifeboat.run_analyze()',
    'select * from lifeboat.apply_schedules()',
    'select * from lifeboat.cron_job_status()',
    'select lifeboat.record_job_outcome(''x'', true, 1, '''', 1)',
    'select * from lifeboat.record_cron_failures()',
    'select * from lifeboat.health()'])
) x;

create role lifeboat_test_nobody nologin;  -- holds nothing but PUBLIC's privileges; rolled back
grant lifeboat_test_nobody to current_user;
select is(pg_temp.reachable_as('anon', (select stmts from t_stmts)), '{}'::text[],
  'anon reaches no schedule, outbox or invoke object');
select is(pg_temp.reachable_as('authenticated', (select stmts from t_stmts)), '{}'::text[],
  'authenticated reaches no schedule, outbox or invoke object');
select is(pg_temp.reachable_as('service_role', (select stmts from t_stmts)), '{}'::text[],
  'service_role reaches none of them (none is needed yet)');
select is(pg_temp.reachable_as('lifeboat_test_nobody', (select stmts from t_stmts)), '{}'::text[],
  'a role with only PUBLIC''s privileges reaches none of them');
select is(array_length((select stmts from t_stmts), 1), 28, 'the sweep tried every statement');

set local role anon;
select throws_ok($$select lifeboat.invoke('backup-export', '{}')$$, '42501', null, 'anon cannot invoke functions');
select throws_ok($$update lifeboat.schedules set command = 'select 1'$$, '42501', null, 'anon cannot change schedules');
select throws_ok($$select * from lifeboat.apply_schedules()$$, '42501', null, 'anon cannot apply schedules');
reset role;
set local role authenticated;
select throws_ok($$select * from lifeboat.outbox$$, '42501', null, 'authenticated cannot read the outbox');
select throws_ok($$select * from lifeboat.outbox_claim()$$, '42501', null, 'authenticated cannot claim outbox messages');
select throws_ok($$select lifeboat.vault_secret('lifeboat_service_key')$$, '42501', null,
  'authenticated cannot read secrets through lifeboat');
reset role;
set local role service_role;
select throws_ok($$insert into lifeboat.outbox (function_name) values ('x')$$, '42501', null,
  'service_role cannot queue calls directly');
reset role;

select is(
  (select count(*)::int from pg_catalog.pg_class c
   where c.relnamespace = 'lifeboat'::regnamespace and c.relname in ('schedules', 'outbox', 'outbox_attempts')
     and exists (select from unnest(array['anon', 'authenticated', 'service_role']) r
                 where has_table_privilege(r, c.oid, 'select,insert,update,delete,truncate,references,trigger'))),
  0, 'no API role holds any privilege on these tables');
select is(
  (select count(*)::int from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace
     and p.proname in ('invoke', 'invoke_transport', 'vault_secret', 'outbox_notify', 'outbox_claim', 'outbox_record',
       'retry_delay', 'outbox_next_due', 'outbox_requeue', 'run_daily_verification', 'run_bloat_check',
       'run_analyze', 'apply_schedules', 'cron_job_status', 'record_job_outcome', 'record_cron_failures', 'health')
     and exists (select from unnest(array['anon', 'authenticated', 'service_role']) r
                 where has_function_privilege(r, p.oid, 'execute'))),
  0, 'no API role may execute any of these functions');
select is(
  (select count(*)::int from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace and p.prosecdef
     and p.proname in ('invoke', 'invoke_transport', 'vault_secret', 'outbox_notify', 'outbox_claim', 'outbox_record',
       'retry_delay', 'outbox_next_due', 'outbox_requeue', 'run_daily_verification', 'run_bloat_check',
       'run_analyze', 'apply_schedules', 'cron_job_status', 'record_job_outcome', 'record_cron_failures', 'health')),
  0, 'none is security definer: they run with the caller''s (the owner''s) rights');
-- run_analyze is the exception by design: a procedure with a SET clause cannot COMMIT.
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace
     and p.proname in ('invoke', 'invoke_transport', 'vault_secret', 'outbox_notify', 'outbox_claim', 'outbox_record',
       'retry_delay', 'outbox_next_due', 'outbox_requeue', 'run_daily_verification', 'run_bloat_check',
       'run_analyze', 'apply_schedules', 'cron_job_status', 'record_job_outcome', 'record_cron_failures', 'health')
     and not coalesce(p.proconfig @> array['search_path=""'], false)),
  array['run_analyze'], 'every function pins an empty search_path (run_analyze qualifies every name instead)');

select * from finish();
rollback;

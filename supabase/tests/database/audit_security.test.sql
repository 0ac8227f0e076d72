-- The audit tables and their functions are out of reach of public, anon and authenticated,
-- and service_role is granted nothing (no function needs it yet). Each boundary is tried as
-- the role itself, not only read from the catalog.
begin;
select plan(17);

-- pg_temp.reachable_as(role, statements): the statements that got past the privilege check.
\ir ../helpers/reachable_as.psql

create temp table t_stmts on commit drop as
select array_agg(s order by s) as stmts from (
  select format(f, 'lifeboat.' || t) as s
  from unnest(array['backup_runs', 'backup_parts', 'verification_runs', 'drills', 'maintenance_log', 'incidents',
                    'incident_events', 'alert_events', 'metric_snapshots', 'retention_policies']) t,
       unnest(array['select * from %s limit 0', 'delete from %s where false', 'insert into %s default values',
                    'truncate %s']) f
  union all
  select unnest(array[
    'select * from lifeboat.backup_run_progress limit 0',
    'select * from lifeboat.claim_backup_part(1, ''w'')',
    'select lifeboat.complete_backup_part(1, 1, ''k'', 1, ''a'', 1)',
    'select lifeboat.snapshot_metrics()',
    'select * from lifeboat.purge_expired(true)',
    'select * from lifeboat.purge_expired()'])
) x;

select is(pg_temp.reachable_as('anon', (select stmts from t_stmts)), '{}'::text[],
  'anon reaches no audit table, view or function');
select is(pg_temp.reachable_as('authenticated', (select stmts from t_stmts)), '{}'::text[],
  'authenticated reaches no audit table, view or function');
select is(pg_temp.reachable_as('service_role', (select stmts from t_stmts)), '{}'::text[],
  'service_role reaches no audit table, view or function (none is needed yet)');
create role lifeboat_test_nobody nologin;  -- holds nothing but PUBLIC's privileges; rolled back
grant lifeboat_test_nobody to current_user;
select is(pg_temp.reachable_as('lifeboat_test_nobody', (select stmts from t_stmts)), '{}'::text[],
  'a role with only PUBLIC''s privileges reaches none of them');
select ok(array_length((select stmts from t_stmts), 1) = 46, 'the sweep tried every statement');

-- The same boundaries, spelled out the way an operator would try them.
set local role anon;
select throws_ok($$select * from lifeboat.incidents$$, '42501', null, 'anon cannot read incidents');
select throws_ok($$insert into lifeboat.alert_events (rule, severity, dedup_key) values ('r', 'info', 'k')$$,
  '42501', null, 'anon cannot raise alerts');
select throws_ok($$select lifeboat.snapshot_metrics()$$, '42501', null, 'anon cannot take metric snapshots');
select throws_ok($$select * from lifeboat.purge_expired()$$, '42501', null, 'anon cannot purge');
reset role;
set local role authenticated;
select throws_ok($$select * from lifeboat.backup_runs$$, '42501', null, 'authenticated cannot read backup runs');
select throws_ok($$update lifeboat.retention_policies set keep = interval '1 day'$$, '42501', null,
  'authenticated cannot shorten retention');
select throws_ok($$select * from lifeboat.claim_backup_part(1, 'w')$$, '42501', null,
  'authenticated cannot claim backup parts');
reset role;
set local role service_role;
select throws_ok($$delete from lifeboat.maintenance_log$$, '42501', null, 'service_role cannot delete the maintenance log');
reset role;

-- Catalog view of the same: no grants on the tables, no execute on the functions.
select is(
  (select count(*)::int from pg_catalog.pg_class c
   where c.relnamespace = 'lifeboat'::regnamespace
     and c.relname in ('backup_runs', 'backup_parts', 'verification_runs', 'drills', 'maintenance_log', 'incidents',
                       'incident_events', 'alert_events', 'metric_snapshots', 'retention_policies', 'backup_run_progress')
     and exists (select from unnest(array['anon', 'authenticated', 'service_role']) r
                 where has_table_privilege(r, c.oid, 'select,insert,update,delete,truncate,references,trigger'))),
  0, 'no API role holds any privilege on an audit table or view');
select is(
  (select count(*)::int from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace
     and p.proname in ('claim_backup_part', 'complete_backup_part', 'snapshot_metrics', 'purge_expired')
     and exists (select from unnest(array['anon', 'authenticated', 'service_role']) r
                 where has_function_privilege(r, p.oid, 'execute'))),
  0, 'no API role may execute an audit function');
select is(
  (select count(*)::int from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace
     and p.proname in ('claim_backup_part', 'complete_backup_part', 'snapshot_metrics', 'purge_expired')
     and p.prosecdef),
  0, 'the audit functions run with the caller''s rights (no security definer)');
select is(
  (select count(*)::int from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace
     and p.proname in ('claim_backup_part', 'complete_backup_part', 'snapshot_metrics', 'purge_expired')
     and not coalesce(p.proconfig @> array['search_path=""'], false)),
  0, 'every audit function pins an empty search_path');

select * from finish();
rollback;

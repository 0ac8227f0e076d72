-- Boundaries: the API roles cannot call any check, read key_rotations, or reach the schema.
begin;
select plan(107);

create temp table calls (stmt text) on commit drop;
grant select on calls to public;
insert into calls values
  ('select lifeboat.managed_schemas()'), ('select lifeboat.excluded_schemas()'), ('select * from lifeboat.user_tables()'),
  ('select lifeboat.exposed_schemas()'), ('select * from lifeboat.sequence_last_values()'),
  ('select * from lifeboat.check_row_counts()'), ('select * from lifeboat.check_unvalidated_constraints()'),
  ('select * from lifeboat.check_invalid_indexes()'), ('select * from lifeboat.check_btree_indexes()'),
  ('select * from lifeboat.check_sequences()'), ('select * from lifeboat.check_primary_keys()'),
  ('select * from lifeboat.check_unlogged_tables()'), ('select * from lifeboat.check_integrity()'),
  ($$select lifeboat.fingerprint('public.orders')$$),
  ('select * from lifeboat.diagnose_bloat()'), ('select * from lifeboat.diagnose_cache_hit()'),
  ('select * from lifeboat.diagnose_index_usage()'), ('select * from lifeboat.diagnose_unused_indexes()'),
  ('select * from lifeboat.diagnose_duplicate_indexes()'), ('select * from lifeboat.diagnose_long_running_queries()'),
  ('select * from lifeboat.diagnose_blocking_locks()'), ('select * from lifeboat.diagnose_connections()'),
  ('select * from lifeboat.diagnose_vacuum()'), ('select * from lifeboat.diagnose_sizes()'),
  ('select * from lifeboat.diagnose_replication_slots()'),
  ('select * from lifeboat.audit_privileged_roles()'), ('select * from lifeboat.audit_rls()'),
  ('select * from lifeboat.audit_security_definer()'), ('select * from lifeboat.audit_extensions_in_public()'),
  ('select * from lifeboat.audit_ssl()'), ('select * from lifeboat.audit_key_rotation()'),
  ('select * from lifeboat.security_audit()'), ('select * from lifeboat.diagnose()'),
  ('select * from lifeboat.key_rotations'),
  ($$insert into lifeboat.key_rotations (key_name, rotated_at) values ('x', now())$$);

-- 35 statements, each as anon, authenticated and service_role: permission denied (42501).
set local role anon;
select throws_ok(stmt, '42501', null, 'anon: ' || stmt) from calls;
reset role;
set local role authenticated;
select throws_ok(stmt, '42501', null, 'authenticated: ' || stmt) from calls;
reset role;
set local role service_role;
select throws_ok(stmt, '42501', null, 'service_role: ' || stmt) from calls;
reset role;

-- And statically, for every function in the schema (whoever added it).
select ok(not exists (select from pg_proc p where p.pronamespace = 'lifeboat'::regnamespace
  and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))),
  'no lifeboat function is executable by anon or authenticated');
select ok(not has_schema_privilege('anon', 'lifeboat', 'usage') and not has_schema_privilege('authenticated', 'lifeboat', 'usage'),
  'anon and authenticated have no usage on schema lifeboat');
select * from finish();
rollback;

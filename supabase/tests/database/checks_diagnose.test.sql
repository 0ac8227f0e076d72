-- lifeboat.diagnose(): every check in one call, worst first; security_audit() likewise.
begin;
select plan(9);

-- An overdue key guarantees at least one error row.
insert into lifeboat.key_rotations (key_name, rotated_at, rotate_every)
  values ('diagnose test key', now() - interval '1 year', '90 days');

create temp table d on commit drop as
  select * from lifeboat.diagnose(btree_budget => '5 seconds')
    with ordinality as x("check", level, object, detail, remediation, metadata, pos);

select ok((select bool_and(level in ('ok', 'warn', 'error')) from d), 'every row has level ok, warn or error');
select is((select level from d where pos = 1), 'error', 'the first row is the worst: an error');
select ok(exists (select from d where level = 'error' and object = 'diagnose test key'), 'the overdue key is among the errors');
select ok(not exists (
  select from d a join d b on b.pos > a.pos
  where (case b.level when 'error' then 0 when 'warn' then 1 else 2 end)
      < (case a.level when 'error' then 0 when 'warn' then 1 else 2 end)),
  'rows are ordered error, then warn, then ok');
select ok((select array_agg(distinct "check") from d) @> array[
    'connections', 'cron_scheduler',                                   -- health()
    'row_count', 'no_primary_key', 'btree_corruption', 'sequence_exhaustion', 'unlogged_table',
    'unvalidated_constraint', 'invalid_index',                         -- check_integrity()
    'bloat', 'cache_hit', 'index_usage', 'unused_index', 'duplicate_index', 'long_running_query',
    'blocking_lock', 'vacuum', 'size', 'replication_slot',             -- diagnostics
    'privileged_role', 'rls_disabled', 'security_definer', 'extension_in_public', 'ssl', 'key_rotation'],
  'diagnose() includes health, integrity, diagnostics and the security audit');
select ok(exists (select from d where "check" = 'row_count' and object = 'public."Promo Codes"'),
  'it covers the seed''s awkwardly named table');
select is((select count(*)::int from lifeboat.security_audit() where "check" = 'key_rotation' and level = 'error'), 1,
  'security_audit() includes the key rotation audit');
select ok((select array_agg(distinct "check") from lifeboat.security_audit()) @> array['privileged_role', 'rls_disabled',
  'security_definer', 'extension_in_public', 'ssl', 'key_rotation'], 'security_audit() runs all six audits');
select lives_ok($$select * from lifeboat.diagnose(true, '0 seconds')$$, 'diagnose() with exact counts and no amcheck budget');

select * from finish();
rollback;

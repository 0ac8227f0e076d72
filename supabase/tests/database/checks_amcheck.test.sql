-- check_btree_indexes() without amcheck: on hosted Supabase postgres cannot create the
-- extension, and where it exists postgres may lack the right to run it. Both paths are forced
-- here by replacing lifeboat.amcheck_status(), the one place the check looks amcheck up
-- (rolled back with the test; the shared database keeps its extension).
begin;
select plan(9);

select has_function('lifeboat', 'amcheck_status', array[]::text[], 'amcheck_status() exists');
select is((select installed = (exists (select from pg_extension where extname = 'amcheck')) from lifeboat.amcheck_status()),
  true, 'amcheck_status() sees whether the extension is installed');

create or replace function lifeboat.amcheck_status()
returns table (installed boolean, schema_name name, bt_index_check regprocedure, executable boolean)
language sql stable set search_path = ''
as $$ select false, null::name, null::regprocedure, false $$;

create temp table not_installed on commit drop as select * from lifeboat.check_btree_indexes();
select is((select count(*)::int from not_installed), 1, 'not installed: one row, nothing attempted');
select is((select level || ':' || (metadata ->> 'reason') from not_installed), 'warn:not_installed',
  'not installed: a warning with reason not_installed');
select ok((select detail like 'skipped: the amcheck extension is not installed%' from not_installed),
  'the detail says the check was skipped and why');
select ok((select remediation like '%create extension amcheck%' and remediation like '%hosted Supabase%'
             and remediation like '%lifeboat.checks%' from not_installed),
  'the remediation says how to get amcheck, and how to turn the check off');

create or replace function lifeboat.amcheck_status()
returns table (installed boolean, schema_name name, bt_index_check regprocedure, executable boolean)
language sql stable set search_path = ''
as $$ select true, 'extensions'::name, null::regprocedure, false $$;

select is((select level || ':' || (metadata ->> 'reason') from lifeboat.check_btree_indexes()), 'warn:permission',
  'installed but not executable: a warning with reason permission');
select ok((select remediation from lifeboat.check_btree_indexes()) like 'As a superuser: grant execute on function extensions.bt_index_check%',
  'with the grant that fixes it');

-- The suite carries the row: check_integrity() does not fail without amcheck.
select is((select level from lifeboat.check_integrity(btree_budget => '1 second') where "check" = 'btree_corruption'), 'warn',
  'check_integrity() reports the skipped B-tree check as a warning');

select * from finish();
rollback;

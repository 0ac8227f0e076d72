-- Default privileges: a function created in lifeboat later (by a migration that forgets its
-- revoke, or by hand) is not executable by PUBLIC, anon or authenticated.
begin;
select plan(9);

create function lifeboat.privileges_probe() returns int language sql set search_path = '' as 'select 1';
select ok(not has_function_privilege('public', 'lifeboat.privileges_probe()', 'execute'),
  'PUBLIC cannot execute a new lifeboat function');
select ok(not has_function_privilege('anon', 'lifeboat.privileges_probe()', 'execute'),
  'anon cannot execute a new lifeboat function');
select ok(not has_function_privilege('authenticated', 'lifeboat.privileges_probe()', 'execute'),
  'authenticated cannot execute a new lifeboat function');
select ok(has_function_privilege('postgres', 'lifeboat.privileges_probe()', 'execute'), 'its owner can');
select is((select proacl from pg_proc where oid = 'lifeboat.privileges_probe()'::regprocedure)::text[],
  array['postgres=X/postgres'], 'its ACL names only the owner');

-- The public schema keeps what it had: PUBLIC may execute a new function there, as before.
create function public.lifeboat_privileges_probe() returns int language sql as 'select 1';
select ok(has_function_privilege('public', 'public.lifeboat_privileges_probe()', 'execute'),
  'a new function in public is still executable by PUBLIC');
select ok(has_function_privilege('anon', 'public.lifeboat_privileges_probe()', 'execute'),
  'and by anon, as the Data API expects');

-- Scoped to lifeboat: another schema of the project keeps PostgreSQL's default (PUBLIC may execute).
create schema lifeboat_privileges_other;
create function lifeboat_privileges_other.probe() returns int language sql as 'select 1';
select ok(has_function_privilege('public', 'lifeboat_privileges_other.probe()', 'execute'),
  'a new function in another schema is executable by PUBLIC, as by PostgreSQL default');
create procedure lifeboat.privileges_probe_proc() language sql as 'select 1';
select ok(not has_function_privilege('public', 'lifeboat.privileges_probe_proc()', 'execute'),
  'PUBLIC cannot execute a new lifeboat procedure');

select * from finish();
rollback;

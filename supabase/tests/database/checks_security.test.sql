-- Security audit functions, each on its ok path and its problem path.
begin;
select plan(27);

-- privileged roles: the platform's roles have their attributes by design.
select is((select level from lifeboat.audit_privileged_roles() where object = 'postgres'), 'ok',
  'postgres has BYPASSRLS and REPLICATION by design: ok');
select ok((select detail from lifeboat.audit_privileged_roles() where object = 'postgres') like '%BYPASSRLS, REPLICATION%',
  'and the row says which attributes');
select is((select level from lifeboat.audit_privileged_roles() where object = 'supabase_admin'), 'ok',
  'the platform superuser is ok');
select ok(not exists (select from lifeboat.audit_privileged_roles() where object in ('anon', 'authenticated')),
  'roles without those attributes are not listed');
update lifeboat.settings set value = '["postgres"]' where key = 'security.platform_roles';
select is((select level from lifeboat.audit_privileged_roles() where object = 'supabase_admin'), 'error',
  'a superuser that is not a platform role is an error');
select is((select level from lifeboat.audit_privileged_roles() where object = 'service_role'), 'warn',
  'BYPASSRLS outside the platform list warns');
select is((select remediation from lifeboat.audit_privileged_roles() where object = 'service_role'),
  'If it does not need them: alter role service_role nobypassrls;', 'with the alter role to undo it');

-- RLS in exposed schemas
create table public."RLS ""Off"" Table" (id int);
create table public.rls_off_no_grants (id int);
revoke all on public.rls_off_no_grants from anon, authenticated;
create table public.rls_on (id int);
alter table public.rls_on enable row level security;
select is((select level from lifeboat.audit_rls() where object = 'public."RLS ""Off"" Table"'), 'error',
  'a table anon can reach without RLS is an error (quoted name)');
select is((select level from lifeboat.audit_rls() where object = 'public.rls_off_no_grants'), 'warn',
  'without API grants it is a warning');
select ok(not exists (select from lifeboat.audit_rls() where object = 'public.rls_on'), 'a table with RLS is fine');
create schema "Private Ü";
create table "Private Ü".hidden (id int);
select ok(not exists (select from lifeboat.audit_rls() where object like '"Private Ü".%'),
  'schemas the API does not expose are not audited');
set local pgrst.db_schemas = ' public ,Private Ü';
select is(lifeboat.exposed_schemas(), array['public', 'Private Ü'], 'pgrst.db_schemas (trimmed) overrides the default list');
select is((select level from lifeboat.audit_rls() where object = '"Private Ü".hidden'), 'warn',
  'a schema listed in pgrst.db_schemas is audited');
reset pgrst.db_schemas;
select is(lifeboat.exposed_schemas(), array['public', 'graphql_public'], 'default: public and graphql_public');

-- SECURITY DEFINER functions
create function public."Open Definer"() returns int language sql security definer as 'select 1';
create function public.pinned_definer() returns int language sql security definer set search_path = '' as 'select 1';
revoke execute on function public.pinned_definer() from public, anon, authenticated;
create function "Private Ü".hidden_definer() returns int language sql security definer set search_path = '' as 'select 1';
select is((select level from lifeboat.audit_security_definer()
  where "check" = 'security_definer_search_path' and object = 'public."Open Definer"()'), 'warn',
  'a definer function without search_path warns');
select is((select level from lifeboat.audit_security_definer()
  where "check" = 'security_definer_anon' and object = 'public."Open Definer"()'), 'error',
  'anon can call it through the API: error');
select is((select level from lifeboat.audit_security_definer()
  where "check" = 'security_definer_anon' and object = '"Private Ü".hidden_definer()'), 'warn',
  'executable by anon outside exposed schemas: warning');
select ok(not exists (select from lifeboat.audit_security_definer() where object = 'public.pinned_definer()'),
  'a pinned, closed definer function is fine');
select ok(not exists (select from lifeboat.audit_security_definer() where object like 'lifeboat.%'),
  'Lifeboat''s own functions pass its audit');

-- Extensions in public (judged by where the objects are)
select is((select level from lifeboat.audit_extensions_in_public() where object = 'extensions'), 'ok',
  'no extension objects in public');
create extension citext schema public;
select is((select level from lifeboat.audit_extensions_in_public() where object = 'citext'), 'warn',
  'an extension created in public warns');
select is((select remediation from lifeboat.audit_extensions_in_public() where object = 'citext'),
  'alter extension citext set schema extensions;', 'with the command to move it');

-- SSL: the local stack has ssl off and listens on loopback only.
select is((select level || ':' || (metadata->>'ssl') from lifeboat.audit_ssl()),
  case when current_setting('ssl') = 'on' then 'ok:true' else 'warn:false' end, 'the ssl row reflects the ssl setting');

-- Key rotation
select is((select level || ':' || object from lifeboat.audit_key_rotation()), 'warn:lifeboat.key_rotations',
  'no rotation dates recorded: one warning');
insert into lifeboat.key_rotations (key_name, rotated_at, rotate_every) values
  ('service_role key', now() - interval '100 days', '90 days'),
  ('JWT secret', now() - interval '80 days', '90 days'),
  ('database password', now() - interval '1 day', '90 days');
select is((select level from lifeboat.audit_key_rotation() where object = 'service_role key'), 'error',
  'a key past its rotation date is an error');
select is((select level from lifeboat.audit_key_rotation() where object = 'JWT secret'), 'warn',
  'a key due within 14 days warns');
select is((select level from lifeboat.audit_key_rotation() where object = 'database password'), 'ok',
  'a freshly rotated key is ok');

select * from finish();
rollback;

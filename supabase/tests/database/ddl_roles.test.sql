-- lifeboat.ddl_roles(): roles.sql for the user's own roles, without passwords.
begin;
select plan(11);

-- With a password: postgres reads pg_authid on Supabase (pg_read_all_data), so roles.sql lists
-- exactly the roles that had one.
create role ddl_t_login login connection limit 3 password 'ddl-test-only';
create role ddl_t_group nologin noinherit;
grant ddl_t_group to ddl_t_login;
grant authenticated to ddl_t_group;
alter role ddl_t_login set search_path = "$user", public, "we ird";
alter role ddl_t_login set statement_timeout = '5s';
comment on role ddl_t_group is 'group for the ddl test';

create temporary table roles_sql on commit drop as select lifeboat.ddl_roles() as script;

select matches((select script from roles_sql),
  E'if not exists \\(select from pg_catalog.pg_roles where rolname = ''ddl_t_login''\\) then\n    create role ddl_t_login;',
  'a missing role is created inside an existence check (idempotent)');
select matches((select script from roles_sql),
  'alter role ddl_t_login with login inherit nocreaterole nocreatedb connection limit 3;',
  'role attributes are carried over');
select matches((select script from roles_sql),
  'alter role ddl_t_group with nologin noinherit nocreaterole nocreatedb connection limit -1;',
  'NOINHERIT and NOLOGIN are carried over');
select matches((select script from roles_sql), 'grant ddl_t_group to ddl_t_login;', 'membership between two user roles');
select matches((select script from roles_sql), 'grant authenticated to ddl_t_group;', 'membership in a reserved role');
select matches((select script from roles_sql),
  'alter role ddl_t_login set search_path to ''\$user'', ''public'', ''we ird'';',
  'a list setting becomes one literal per element, not one quoted string');
select matches((select script from roles_sql), 'alter role ddl_t_login set statement_timeout to ''5s'';',
  'role settings are carried over');
select doesnt_match((select script from roles_sql),
  '(create|alter) role "?(anon|authenticated|service_role|authenticator|postgres|supabase_admin|pg_[a-z_]+)"?[ ;]',
  'reserved and system roles are never created or altered');
select doesnt_match((select script from roles_sql), E'(^|\n)[^-\n][^\n]*password', 'no password outside comments');
select matches((select script from roles_sql), E'\n--   ddl_t_login(\n|$)', 'login roles are listed for a password reset');

set local role anon;
select throws_ok('select lifeboat.ddl_roles()', '42501', null, 'anon may not call ddl_roles()');
reset role;

select * from finish();
rollback;

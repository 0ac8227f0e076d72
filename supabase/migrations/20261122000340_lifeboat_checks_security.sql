-- Lifeboat security audit (suite security of lifeboat.checks, run by security_audit()):
-- privileged roles, RLS, SECURITY DEFINER functions, extensions in public, SSL, key rotation.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.
--
-- Scale rule for everything below: catalogs are joined once per query; nothing runs a
-- catalog subquery per table. JIT is off for the catalog queries: at 10,000 tables their cost
-- estimates cross jit_above_cost and compiling took longer than running (3.8 s vs 0.4 s).

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('security.exposed_schemas', '["public", "graphql_public"]'::jsonb, 'Schemas the Data API exposes when pgrst.db_schemas is not set'),
  ('security.platform_roles', '["supabase_admin", "postgres", "service_role", "authenticator", "supabase_superuser", "supabase_replication_admin", "supabase_read_only_user", "supabase_etl_admin", "supabase_auth_admin", "supabase_storage_admin", "supabase_functions_admin", "supabase_realtime_admin", "dashboard_user", "pgbouncer"]', 'Roles the platform gives superuser, BYPASSRLS or REPLICATION by design'),
  ('security.key_rotation_warn_before', '"14 days"', 'Warn this long before a key is due for rotation')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- ---------------------------------------------------------------------------------------
-- Key rotation dates (config for audit_key_rotation()).
-- ---------------------------------------------------------------------------------------
create table if not exists lifeboat.key_rotations (
  key_name text primary key,
  rotated_at timestamptz not null,
  rotate_every interval not null default interval '90 days' check (rotate_every > interval '0'),
  description text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.key_rotations is
  'When each secret (API keys, JWT secret, database password, S3 keys...) was last rotated and how often it must be.';

-- Roles with superuser, BYPASSRLS or REPLICATION. The platform's own roles have them by design.
create or replace function lifeboat.audit_privileged_roles()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with platform as (
    select pg_catalog.array_agg(e.value) as names
    from pg_catalog.jsonb_array_elements_text(lifeboat.setting('security.platform_roles')) e
  ),
  roles as (
    select r.rolname, r.rolsuper, r.rolbypassrls, r.rolreplication, r.rolcanlogin,
      r.rolname = any (coalesce(p.names, '{}')) as is_platform,
      pg_catalog.array_to_string(array_remove(array[
        case when r.rolsuper then 'SUPERUSER' end,
        case when r.rolbypassrls then 'BYPASSRLS' end,
        case when r.rolreplication then 'REPLICATION' end], null), ', ') as attrs
    from pg_catalog.pg_roles r cross join platform p
    where (r.rolsuper or r.rolbypassrls or r.rolreplication) and r.rolname !~ '^pg_'
  )
  select 'privileged_role',
    case when r.is_platform then 'ok' when r.rolsuper then 'error' else 'warn' end,
    r.rolname::text,
    case when r.is_platform then pg_catalog.format('platform role %I has %s by design', r.rolname, r.attrs)
      else pg_catalog.format('role %I has %s%s', r.rolname, r.attrs, case when r.rolcanlogin then ' and can log in' else '' end) end,
    case when r.is_platform then ''
      else pg_catalog.format('If it does not need them: alter role %I %s;', r.rolname,
        pg_catalog.array_to_string(array_remove(array[
          case when r.rolsuper then 'nosuperuser' end,
          case when r.rolbypassrls then 'nobypassrls' end,
          case when r.rolreplication then 'noreplication' end], null), ' ')) end,
    pg_catalog.jsonb_build_object('role', r.rolname, 'superuser', r.rolsuper, 'bypassrls', r.rolbypassrls,
      'replication', r.rolreplication, 'login', r.rolcanlogin, 'platform', r.is_platform)
  from roles r
  union all
  select 'privileged_role', 'ok', 'roles', 'no role has superuser, BYPASSRLS or REPLICATION', '', '{}'::jsonb
  where not exists (select from roles)
$$;
comment on function lifeboat.audit_privileged_roles() is
  'Roles with superuser, BYPASSRLS or REPLICATION (uniform check shape; suite security in lifeboat.checks).';

-- The schemas the Data API exposes: pgrst.db_schemas when set, else settings security.exposed_schemas.
create or replace function lifeboat.exposed_schemas()
returns text[]
language sql
stable
set search_path = ''
set jit = off
as $$
  select case when coalesce(pg_catalog.current_setting('pgrst.db_schemas', true), '') <> ''
    then (select pg_catalog.array_agg(pg_catalog.btrim(x)) from pg_catalog.regexp_split_to_table(
            pg_catalog.current_setting('pgrst.db_schemas', true), ',') x where pg_catalog.btrim(x) <> '')
    else coalesce((select pg_catalog.array_agg(e.value) from pg_catalog.jsonb_array_elements_text(
            lifeboat.setting('security.exposed_schemas')) e),
         array['public', 'graphql_public']) end
$$;
comment on function lifeboat.exposed_schemas() is
  'Schemas the Data API exposes: pgrst.db_schemas if set, else settings security.exposed_schemas.';

-- Tables in exposed schemas without row level security.
create or replace function lifeboat.audit_rls()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with exposed as (select lifeboat.exposed_schemas() as names),
  tables as (
    select c.oid, n.nspname, c.relname, c.relrowsecurity,
      pg_catalog.has_table_privilege('anon', c.oid, 'select,insert,update,delete') as anon_can,
      pg_catalog.has_table_privilege('authenticated', c.oid, 'select,insert,update,delete') as auth_can
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    cross join exposed e
    where c.relkind in ('r', 'p') and n.nspname = any (e.names)
      and exists (select from pg_catalog.pg_roles r where r.rolname = 'anon')
      and exists (select from pg_catalog.pg_roles r where r.rolname = 'authenticated')
  ),
  problems as (select t.* from tables t where not t.relrowsecurity)
  select 'rls_disabled', case when p.anon_can or p.auth_can then 'error' else 'warn' end,
    pg_catalog.format('%I.%I', p.nspname, p.relname),
    case when p.anon_can or p.auth_can
      then pg_catalog.format('%I.%I is in an exposed schema without row level security, and %s can read or write all of it through the Data API',
        p.nspname, p.relname, case when p.anon_can then 'anyone with the anon key' else 'every signed-in user' end)
      else pg_catalog.format('%I.%I is in an exposed schema without row level security (anon and authenticated have no grants on it today)', p.nspname, p.relname) end,
    pg_catalog.format('alter table %I.%I enable row level security;  -- then add policies', p.nspname, p.relname),
    pg_catalog.jsonb_build_object('schema', p.nspname, 'table', p.relname, 'anon', p.anon_can, 'authenticated', p.auth_can)
  from problems p
  union all
  select 'rls_disabled', 'ok', pg_catalog.array_to_string((select e.names from exposed e), ', '),
    pg_catalog.format('all %s tables in exposed schemas have row level security enabled', (select count(*) from tables)), '',
    pg_catalog.jsonb_build_object('schemas', pg_catalog.to_jsonb((select e.names from exposed e)), 'tables', (select count(*) from tables))
  where not exists (select from problems)
$$;
comment on function lifeboat.audit_rls() is
  'Tables in exposed schemas without row level security (uniform check shape; suite security in lifeboat.checks).';

-- SECURITY DEFINER functions without a pinned search_path, or executable by anon.
-- Audits user schemas and lifeboat; other platform schemas and extension members are not ours.
create or replace function lifeboat.audit_security_definer()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with exposed as (select lifeboat.exposed_schemas() as names),
  funcs as (
    select p.oid, n.nspname, p.proname,
      pg_catalog.pg_get_function_identity_arguments(p.oid) as args,
      exists (select from pg_catalog.unnest(p.proconfig) cfg where cfg like 'search_path=%') as pinned,
      exists (select from pg_catalog.pg_roles r where r.rolname = 'anon')
        and pg_catalog.has_function_privilege('anon', p.oid, 'execute') as anon_exec,
      n.nspname = any ((select e.names from exposed e)::text[]) as exposed
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where p.prosecdef
      and (n.nspname = 'lifeboat' or n.nspname <> all ((select lifeboat.excluded_schemas())::text[]))
      and n.nspname !~ '^pg_(toast_)?temp_'
      and not exists (select from pg_catalog.pg_depend d
        where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.objid = p.oid and d.deptype = 'e')
  ),
  problems as (
    select f.*, x.issue from funcs f
    cross join lateral (values ('search_path'), ('anon')) x(issue)
    where (x.issue = 'search_path' and not f.pinned) or (x.issue = 'anon' and f.anon_exec)
  )
  select case when p.issue = 'anon' then 'security_definer_anon' else 'security_definer_search_path' end,
    case when p.issue = 'anon' and p.exposed then 'error' else 'warn' end,
    pg_catalog.format('%I.%I(%s)', p.nspname, p.proname, p.args),
    case when p.issue = 'anon'
      then pg_catalog.format('SECURITY DEFINER function %I.%I runs with its owner''s rights and anon may execute it%s',
        p.nspname, p.proname, case when p.exposed then ' through the Data API (/rest/v1/rpc)' else '' end)
      else pg_catalog.format('SECURITY DEFINER function %I.%I does not pin search_path: a caller can shadow the objects it uses', p.nspname, p.proname) end,
    case when p.issue = 'anon'
      then pg_catalog.format('revoke execute on function %I.%I(%s) from public, anon;', p.nspname, p.proname, p.args)
      else pg_catalog.format('alter function %I.%I(%s) set search_path = '''';  -- and schema-qualify every name in its body', p.nspname, p.proname, p.args) end,
    pg_catalog.jsonb_build_object('schema', p.nspname, 'function', p.proname, 'arguments', p.args,
      'pinned_search_path', p.pinned, 'anon_can_execute', p.anon_exec, 'exposed', p.exposed)
  from problems p
  union all
  select 'security_definer', 'ok', 'functions',
    pg_catalog.format('all %s SECURITY DEFINER functions pin search_path and are closed to anon', (select count(*) from funcs)), '',
    pg_catalog.jsonb_build_object('functions', (select count(*) from funcs))
  where not exists (select from problems)
$$;
comment on function lifeboat.audit_security_definer() is
  'SECURITY DEFINER functions without a pinned search_path, or executable by anon (uniform check shape; suite security in lifeboat.checks).';

-- Extensions whose objects live in the public schema (exposed through the Data API and
-- clutter the schema users own). Judged by where the objects are, not extnamespace alone.
create or replace function lifeboat.audit_extensions_in_public()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with pub as (select n.oid from pg_catalog.pg_namespace n where n.nspname = 'public'),
  members as (
    select d.refobjid as ext_oid, count(*) as n
    from pg_catalog.pg_depend d
    left join pg_catalog.pg_proc p on d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and p.oid = d.objid
    left join pg_catalog.pg_class c on d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and c.oid = d.objid
    left join pg_catalog.pg_type t on d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass and t.oid = d.objid
    where d.deptype = 'e' and d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
      and coalesce(p.pronamespace, c.relnamespace, t.typnamespace) = (select pub.oid from pub)
    group by d.refobjid
  ),
  problems as (
    select e.extname, e.extrelocatable, m.n from members m join pg_catalog.pg_extension e on e.oid = m.ext_oid
  )
  select 'extension_in_public', 'warn', p.extname::text,
    pg_catalog.format('extension %I has %s objects in schema public', p.extname, p.n),
    case when p.extrelocatable then pg_catalog.format('alter extension %I set schema extensions;', p.extname)
      else pg_catalog.format('drop extension %I; create extension %I with schema extensions;  -- not relocatable: check dependents first', p.extname, p.extname) end,
    pg_catalog.jsonb_build_object('extension', p.extname, 'objects', p.n, 'relocatable', p.extrelocatable)
  from problems p
  union all
  select 'extension_in_public', 'ok', 'extensions', 'no extension has objects in schema public', '',
    pg_catalog.jsonb_build_object('extensions', (select count(*) from pg_catalog.pg_extension))
  where not exists (select from problems)
$$;
comment on function lifeboat.audit_extensions_in_public() is
  'Extensions whose objects live in public (uniform check shape; suite security in lifeboat.checks).';

-- Whether the server accepts SSL, and whether remote clients use it.
create or replace function lifeboat.audit_ssl()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with s as (
    select pg_catalog.current_setting('ssl') = 'on' as ssl_on,
      pg_catalog.current_setting('listen_addresses') as listen,
      (select count(*) from pg_catalog.pg_stat_activity a join pg_catalog.pg_stat_ssl x on x.pid = a.pid
        where a.backend_type = 'client backend' and a.client_addr is not null
          and not pg_catalog.host(a.client_addr) in ('127.0.0.1', '::1') and not x.ssl) as remote_plain
  ),
  j as (
    select s.*, s.listen ~ '^\s*(localhost|127\.0\.0\.1|::1)(\s*,\s*(localhost|127\.0\.0\.1|::1))*\s*$' as loopback_only
    from s
  )
  select 'ssl',
    case when not j.ssl_on and j.loopback_only then 'warn'
      when not j.ssl_on then 'error'
      when j.remote_plain > 0 then 'warn' else 'ok' end,
    'ssl',
    case when not j.ssl_on and j.loopback_only
      then 'ssl is off; the server listens on loopback only (a local stack), so nothing crosses a network'
      when not j.ssl_on then pg_catalog.format('ssl is off and the server listens on %s: passwords and data cross the network in clear text', j.listen)
      when j.remote_plain > 0 then pg_catalog.format('ssl is on, but %s remote connections do not use it', j.remote_plain)
      else 'ssl is on' end,
    case when not j.ssl_on and not j.loopback_only then 'Turn ssl on (hosted Supabase has it on; Settings > Database > SSL enforcement) and connect with sslmode=verify-full.'
      when not j.ssl_on then 'Nothing to do locally; on a hosted project ssl must be on.'
      when j.remote_plain > 0 then 'Enforce SSL (Settings > Database > SSL enforcement) and connect with sslmode=require or stricter.'
      else '' end,
    pg_catalog.jsonb_build_object('ssl', j.ssl_on, 'listen_addresses', j.listen, 'loopback_only', j.loopback_only,
      'remote_connections_without_ssl', j.remote_plain)
  from j
$$;
comment on function lifeboat.audit_ssl() is
  'Whether the server accepts SSL and remote clients use it (uniform check shape; suite security in lifeboat.checks).';

-- Keys past (or near) their rotation date, from lifeboat.key_rotations.
create or replace function lifeboat.audit_key_rotation()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('security.key_rotation_warn_before') #>> '{}')::interval as warn_before
  ),
  keys as (
    select k.key_name, k.rotated_at, k.rotate_every, k.rotated_at + k.rotate_every as due_at
    from lifeboat.key_rotations k
  )
  select 'key_rotation',
    case when k.due_at <= pg_catalog.now() then 'error'
      when k.due_at <= pg_catalog.now() + c.warn_before then 'warn' else 'ok' end,
    k.key_name,
    case when k.due_at <= pg_catalog.now()
      then pg_catalog.format('%s was due for rotation %s ago (rotated %s, every %s)', k.key_name,
        pg_catalog.date_trunc('day', pg_catalog.now() - k.due_at), k.rotated_at::date, k.rotate_every)
      else pg_catalog.format('%s is due for rotation on %s (in %s)', k.key_name, k.due_at::date,
        pg_catalog.date_trunc('day', k.due_at - pg_catalog.now())) end,
    case when k.due_at <= pg_catalog.now() + c.warn_before
      then pg_catalog.format('Rotate it, then: update lifeboat.key_rotations set rotated_at = now() where key_name = %L;', k.key_name)
      else '' end,
    pg_catalog.jsonb_build_object('key', k.key_name, 'rotated_at', k.rotated_at, 'rotate_every', k.rotate_every::text,
      'due_at', k.due_at)
  from keys k cross join cfg c
  union all
  select 'key_rotation', 'warn', 'lifeboat.key_rotations', 'no key rotation dates are recorded, so overdue keys cannot be detected',
    'Record each secret: insert into lifeboat.key_rotations (key_name, rotated_at, rotate_every) values (''service_role key'', ''2026-01-01'', ''90 days'');',
    '{}'::jsonb
  where not exists (select from keys)
$$;
comment on function lifeboat.audit_key_rotation() is
  'Keys past or near their rotation date (uniform check shape; suite security in lifeboat.checks).';

insert into lifeboat.checks (name, suite, position, description) values
  ('audit_privileged_roles', 'security', 10, 'Roles with superuser, BYPASSRLS or REPLICATION'),
  ('audit_rls', 'security', 20, 'Tables in exposed schemas without row level security'),
  ('audit_security_definer', 'security', 30, 'SECURITY DEFINER functions without a pinned search_path, or executable by anon'),
  ('audit_extensions_in_public', 'security', 40, 'Extensions whose objects live in public'),
  ('audit_ssl', 'security', 50, 'Whether the server accepts SSL and remote clients use it'),
  ('audit_key_rotation', 'security', 60, 'Keys past or near their rotation date')
on conflict (name) do update set suite = excluded.suite, position = excluded.position, description = excluded.description;

-- Belt and braces: whatever the defaults were, nothing here is granted to the API roles.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

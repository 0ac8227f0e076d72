-- Lifeboat scope: which schemas and tables are the user's. The checks and the export engine
-- use these. Runs as the project's owner role (postgres, not a superuser). Idempotent.
--
-- Scale rule for everything below: catalogs are joined once per query; nothing runs a
-- catalog subquery per table. JIT is off for the catalog queries: at 10,000 tables their cost
-- estimates cross jit_above_cost and compiling took longer than running (3.8 s vs 0.4 s).

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('scope.extra_excluded_schemas', '[]'::jsonb, 'Schemas to leave out of checks and exports, on top of lifeboat.managed_schemas()')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- The fixed list of system and Supabase-managed schemas. The one place this list lives.
create or replace function lifeboat.managed_schemas()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array[
    'pg_catalog', 'information_schema', 'pg_toast',
    'extensions', 'auth', 'storage', 'realtime', '_realtime', 'vault', 'supabase_functions',
    'graphql', 'graphql_public', 'cron', 'net', 'pgsodium', 'pgsodium_masks',
    'supabase_migrations', 'pgbouncer', '_analytics', 'pgtle', 'lifeboat'
  ]::text[]
$$;
comment on function lifeboat.managed_schemas() is
  'System and Supabase-managed schemas that checks and exports leave out (fixed list).';

-- managed_schemas() plus the user's additions from settings scope.extra_excluded_schemas.
create or replace function lifeboat.excluded_schemas()
returns text[]
language sql
stable
set search_path = ''
set jit = off
as $$
  select lifeboat.managed_schemas() || coalesce(
    (select pg_catalog.array_agg(e.value)
       from pg_catalog.jsonb_array_elements_text(
         case when pg_catalog.jsonb_typeof(lifeboat.setting('scope.extra_excluded_schemas')) = 'array'
           then lifeboat.setting('scope.extra_excluded_schemas') else '[]'::jsonb end) e),
    '{}'::text[])
$$;
comment on function lifeboat.excluded_schemas() is
  'Schemas left out of checks and exports: lifeboat.managed_schemas() plus settings scope.extra_excluded_schemas.';

-- The user's tables (plain and partitioned, partitions included), one catalog pass.
-- Leaves out excluded schemas, temporary tables and tables that belong to an extension.
create or replace function lifeboat.user_tables()
returns table (
  relid oid, schema_name name, table_name name, relkind "char", relpersistence "char",
  relispartition boolean, reltuples real, relpages integer
)
language sql
stable
set search_path = ''
set jit = off
as $$
  select c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.relispartition, c.reltuples, c.relpages
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p')
    and c.relpersistence <> 't'
    and n.nspname <> all ((select lifeboat.excluded_schemas())::text[])
    and n.nspname !~ '^pg_(toast_)?temp_'
    and not exists (
      select from pg_catalog.pg_depend d
      where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid and d.deptype = 'e')
$$;
comment on function lifeboat.user_tables() is
  'User tables (relkind r and p) outside lifeboat.excluded_schemas(), without temporary and extension-owned tables.';

-- Belt and braces: whatever the defaults were, nothing here is granted to the API roles.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

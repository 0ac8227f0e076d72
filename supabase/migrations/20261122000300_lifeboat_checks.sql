-- Lifeboat checks: integrity, fingerprint, diagnostics, security audit and diagnose().
-- Every check returns the uniform row shape of lifeboat.health():
--   ("check" text, level text /* ok|warn|error */, object text, detail text, remediation text, metadata jsonb)
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.
--
-- Scale rule for everything below: catalogs are joined once per query; nothing runs a
-- catalog subquery per table. JIT is off for the catalog queries: at 10,000 tables their cost
-- estimates cross jit_above_cost and compiling took longer than running (3.8 s vs 0.4 s). The only per-table work is what must touch each table's data
-- (exact counts, amcheck), and that is linear and bounded.

-- ---------------------------------------------------------------------------------------
-- Settings (thresholds). Existing rows are never overwritten.
-- ---------------------------------------------------------------------------------------
insert into lifeboat.settings (key, value, description) values
  ('scope.extra_excluded_schemas', '[]', 'Schemas to leave out of checks and exports, on top of lifeboat.managed_schemas()'),
  ('checks.sequence_warn_ratio', '0.75', 'Warn when a sequence has used this share of its range'),
  ('checks.sequence_error_ratio', '0.9', 'Error when a sequence has used this share of its range'),
  ('checks.bloat_warn_ratio', '2', 'Bloat warns when actual size / expected size reaches this'),
  ('checks.bloat_error_ratio', '5', 'Bloat errors when actual size / expected size reaches this'),
  ('checks.bloat_min_bytes', '52428800', 'Bloat below this many wasted bytes is never reported (50 MB)'),
  ('checks.cache_hit_warn_ratio', '0.99', 'Cache hit ratio below this warns'),
  ('checks.cache_hit_error_ratio', '0.9', 'Cache hit ratio below this errors'),
  ('checks.cache_hit_min_blocks', '10000', 'Cache hit ratio is judged only after this many block accesses'),
  ('checks.index_usage_min_rows', '10000', 'Index usage is judged only for tables with at least this many rows'),
  ('checks.index_usage_warn_percent', '90', 'Warn when fewer than this percent of scans on a big table use an index'),
  ('checks.unused_index_min_bytes', '1048576', 'Unused indexes smaller than this are not reported (1 MB)'),
  ('checks.long_query_warn', '"5 minutes"', 'A query (or open transaction) running longer than this warns'),
  ('checks.long_query_error', '"1 hour"', 'A query (or open transaction) running longer than this errors'),
  ('checks.lock_wait_warn', '"5 seconds"', 'A session blocked on a lock longer than this warns'),
  ('checks.lock_wait_error', '"1 minute"', 'A session blocked on a lock longer than this errors'),
  ('checks.connections_per_client_warn_ratio', '0.5', 'Warn when one role and client address hold this share of usable connections'),
  ('checks.vacuum_dead_warn_ratio', '0.2', 'Warn when dead rows exceed the autovacuum threshold and this share of all rows'),
  ('checks.xid_age_error', '1200000000', 'Transaction ID age that errors (wraparound at about 2.1 billion)'),
  ('checks.sizes_top_n', '50', 'diagnose_sizes() lists this many largest tables'),
  ('checks.database_size_warn_bytes', '7516192768', 'Database size that warns (7 GB; the Pro plan includes 8 GB of disk)'),
  ('checks.slot_retained_warn_bytes', '1073741824', 'A replication slot retaining this much WAL warns (1 GB)'),
  ('checks.slot_retained_error_bytes', '3221225472', 'A replication slot retaining this much WAL errors (3 GB; Supabase caps at max_slot_wal_keep_size 4 GB)'),
  ('security.exposed_schemas', '["public", "graphql_public"]', 'Schemas the Data API exposes when pgrst.db_schemas is not set'),
  ('security.platform_roles', '["supabase_admin", "postgres", "service_role", "authenticator", "supabase_superuser", "supabase_replication_admin", "supabase_read_only_user", "supabase_etl_admin", "supabase_auth_admin", "supabase_storage_admin", "supabase_functions_admin", "supabase_realtime_admin", "dashboard_user", "pgbouncer"]', 'Roles the platform gives superuser, BYPASSRLS or REPLICATION by design'),
  ('security.key_rotation_warn_before', '"14 days"', 'Warn this long before a key is due for rotation')
on conflict (key) do nothing;

-- ---------------------------------------------------------------------------------------
-- Scope: which schemas and tables are the user's. The export engine reuses these.
-- ---------------------------------------------------------------------------------------

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

-- =======================================================================================
-- Integrity
-- =======================================================================================

-- Row counts per table: reltuples estimates (one catalog pass), or exact count(*) per table.
-- Partitioned parents report the sum over their leaf partitions.
create or replace function lifeboat.check_row_counts(exact_counts boolean default false, only_schemas text[] default null)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language plpgsql
volatile
set search_path = ''
set jit = off
set row_security = off
set lock_timeout = '10s'
as $$
declare
  rec record;
  n bigint;
  leaf_ids oid[] := '{}';
  leaf_counts bigint[] := '{}';
begin
  if exact_counts then
    for rec in
      select u.relid, u.schema_name, u.table_name, u.relispartition
      from lifeboat.user_tables() u
      where u.relkind = 'r' and (only_schemas is null or u.schema_name = any (only_schemas))
      order by u.schema_name, u.table_name
    loop
      begin
        execute pg_catalog.format('select count(*) from only %I.%I', rec.schema_name, rec.table_name) into n;
        -- Roll this subtransaction back on purpose: that releases the table's lock now. Held
        -- to the end, 10,000 tables would overflow the shared lock table.
        raise sqlstate 'LB001';
      exception when sqlstate 'LB001' then
        leaf_ids := leaf_ids || rec.relid;
        leaf_counts := leaf_counts || n;
        return query select 'row_count'::text, 'ok'::text,
          pg_catalog.format('%I.%I', rec.schema_name, rec.table_name),
          pg_catalog.format('%s rows (exact)', n), ''::text,
          pg_catalog.jsonb_build_object('schema', rec.schema_name, 'table', rec.table_name, 'rows', n,
            'exact', true, 'partition', rec.relispartition);
      when others then
        -- Not ours to read (row security, privileges) or locked: say so, keep going.
        return query select 'row_count'::text, 'warn'::text,
          pg_catalog.format('%I.%I', rec.schema_name, rec.table_name),
          pg_catalog.format('could not count rows: %s (SQLSTATE %s)', sqlerrm, sqlstate),
          'Run the check as the table owner, or wait for the lock holder to finish.'::text,
          pg_catalog.jsonb_build_object('schema', rec.schema_name, 'table', rec.table_name, 'exact', true,
            'sqlstate', sqlstate);
      end;
    end loop;
  end if;

  return query
  with recursive tables as (
    select * from lifeboat.user_tables() u
    where only_schemas is null or u.schema_name = any (only_schemas)
  ),
  tree as (
    select i.inhparent as root, i.inhrelid as relid
    from pg_catalog.pg_inherits i join tables p on p.relid = i.inhparent and p.relkind = 'p'
    union all
    select tr.root, i.inhrelid from tree tr join pg_catalog.pg_inherits i on i.inhparent = tr.relid
  ),
  exact as (
    select x.relid, x.n from unnest(leaf_ids, leaf_counts) as x(relid, n)
  ),
  parents as (
    select p.relid, p.schema_name, p.table_name,
      count(l.oid) as partitions,
      sum(greatest(l.reltuples, 0))::bigint as est_rows,
      bool_or(l.reltuples >= 0) as any_estimate,
      sum(e.n) as exact_rows,
      count(e.n) as exact_known
    from tables p
    left join tree tr on tr.root = p.relid
    left join pg_catalog.pg_class l on l.oid = tr.relid and l.relkind = 'r'
    left join exact e on e.relid = l.oid
    where p.relkind = 'p'
    group by p.relid, p.schema_name, p.table_name
  )
  select 'row_count', case when exact_counts and p.exact_known < p.partitions then 'warn'
      when not exact_counts and p.partitions > 0 and not coalesce(p.any_estimate, false) then 'warn'
      else 'ok' end,
    pg_catalog.format('%I.%I', p.schema_name, p.table_name),
    case when exact_counts then pg_catalog.format('%s rows in %s partitions (exact%s)', coalesce(p.exact_rows, 0),
           p.partitions, case when p.exact_known < p.partitions then pg_catalog.format(', %s partitions could not be counted', p.partitions - p.exact_known) else '' end)
      when p.partitions > 0 and not coalesce(p.any_estimate, false)
        then pg_catalog.format('no estimate yet for its %s partitions (never analyzed)', p.partitions)
      else pg_catalog.format('about %s rows in %s partitions (estimate)', p.est_rows, p.partitions) end,
    case when not exact_counts and p.partitions > 0 and not coalesce(p.any_estimate, false)
      then pg_catalog.format('analyze %I.%I;', p.schema_name, p.table_name) else '' end,
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'table', p.table_name, 'partitioned', true,
      'partitions', p.partitions, 'exact', exact_counts,
      'rows', case when exact_counts then coalesce(p.exact_rows, 0) else p.est_rows end)
  from parents p
  union all
  select 'row_count', case when t.reltuples < 0 then 'warn' else 'ok' end,
    pg_catalog.format('%I.%I', t.schema_name, t.table_name),
    case when t.reltuples < 0 then 'no estimate yet (never vacuumed or analyzed)'
      else pg_catalog.format('about %s rows (estimate)', t.reltuples::bigint) end,
    case when t.reltuples < 0 then pg_catalog.format('analyze %I.%I;  -- or pass exact_counts => true', t.schema_name, t.table_name)
      else '' end,
    pg_catalog.jsonb_build_object('schema', t.schema_name, 'table', t.table_name,
      'rows', case when t.reltuples < 0 then null else t.reltuples::bigint end, 'exact', false,
      'partition', t.relispartition)
  from tables t
  where t.relkind = 'r' and not exact_counts;
end
$$;
comment on function lifeboat.check_row_counts(boolean, text[]) is
  'Row count per user table: reltuples estimate, or exact count(*) with exact_counts => true. Uniform check rows.';

-- Constraints not validated (added NOT VALID and never validated).
create or replace function lifeboat.check_unvalidated_constraints(only_schemas text[] default null)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with tables as (
    select * from lifeboat.user_tables() u where only_schemas is null or u.schema_name = any (only_schemas)
  ),
  problems as (
    select t.schema_name, t.table_name, con.conname, con.contype
    from tables t
    join pg_catalog.pg_constraint con on con.conrelid = t.relid
    where not con.convalidated
  )
  select 'unvalidated_constraint', 'warn',
    pg_catalog.format('%I.%I.%I', p.schema_name, p.table_name, p.conname),
    pg_catalog.format('%s constraint %I on %I.%I is NOT VALID: existing rows were never checked',
      case p.contype when 'f' then 'foreign key' when 'c' then 'check' else p.contype::text end,
      p.conname, p.schema_name, p.table_name),
    pg_catalog.format('alter table %I.%I validate constraint %I;', p.schema_name, p.table_name, p.conname),
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'table', p.table_name, 'constraint', p.conname,
      'type', p.contype)
  from problems p
  union all
  select 'unvalidated_constraint', 'ok', 'constraints', 'every constraint is validated', '',
    pg_catalog.jsonb_build_object('tables', (select count(*) from tables))
  where not exists (select from problems)
$$;

-- Invalid indexes (a failed CREATE INDEX CONCURRENTLY leaves one behind; it is never used).
create or replace function lifeboat.check_invalid_indexes(only_schemas text[] default null)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with tables as (
    select * from lifeboat.user_tables() u where only_schemas is null or u.schema_name = any (only_schemas)
  ),
  problems as (
    select t.schema_name, t.table_name, ic.relname as index_name, ix.indisunique, ix.indisready
    from tables t
    join pg_catalog.pg_index ix on ix.indrelid = t.relid
    join pg_catalog.pg_class ic on ic.oid = ix.indexrelid
    where not ix.indisvalid and ic.relkind = 'i'
  )
  select 'invalid_index', 'warn',
    pg_catalog.format('%I.%I', p.schema_name, p.index_name),
    pg_catalog.format('index %I on %I.%I is invalid: queries ignore it%s', p.index_name, p.schema_name,
      p.table_name, case when p.indisunique then ' and a restore rebuilds it as a unique index' else '' end),
    pg_catalog.format('reindex index concurrently %I.%I;  -- or drop it', p.schema_name, p.index_name),
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'table', p.table_name, 'index', p.index_name,
      'unique', p.indisunique, 'ready', p.indisready)
  from problems p
  union all
  select 'invalid_index', 'ok', 'indexes', 'every index is valid', '',
    pg_catalog.jsonb_build_object('tables', (select count(*) from tables))
  where not exists (select from problems)
$$;

-- B-tree structure check with amcheck's bt_index_check, smallest indexes first, within a
-- time budget. What the budget did not cover is reported, not silently dropped.
create or replace function lifeboat.check_btree_indexes(
  btree_budget interval default '30 seconds',
  heapallindexed boolean default false,
  only_schemas text[] default null
)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language plpgsql
volatile
set search_path = ''
set jit = off
set lock_timeout = '5s'
as $$
declare
  amcheck_schema name;
  fn regprocedure;
  started timestamptz := pg_catalog.clock_timestamp();
  i record;
  checked int := 0;
  failed int := 0;
  skipped int := 0;
  skipped_names text[] := '{}';
  total int := 0;
begin
  select n.nspname into amcheck_schema
  from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
  where e.extname = 'amcheck';
  if amcheck_schema is null then
    return query select 'btree_corruption'::text, 'warn'::text, 'amcheck'::text,
      'the amcheck extension is not installed, so B-tree indexes were not checked'::text,
      'create extension amcheck with schema extensions;'::text,
      pg_catalog.jsonb_build_object('checked', 0);
    return;
  end if;
  fn := pg_catalog.to_regprocedure(pg_catalog.format('%I.bt_index_check(pg_catalog.regclass, boolean)', amcheck_schema));
  if fn is null or not pg_catalog.has_function_privilege(fn, 'execute') then
    return query select 'btree_corruption'::text, 'warn'::text, 'amcheck'::text,
      pg_catalog.format('%s may not execute %I.bt_index_check, so B-tree indexes were not checked',
        current_user, amcheck_schema),
      pg_catalog.format('As a superuser: grant execute on function %I.bt_index_check(regclass, boolean) to %I;',
        amcheck_schema, current_user),
      pg_catalog.jsonb_build_object('checked', 0, 'reason', 'permission');
    return;
  end if;

  for i in
    select t.schema_name, t.table_name, ic.oid as index_oid, ic.relname as index_name, ic.relpages
    from lifeboat.user_tables() t
    join pg_catalog.pg_index ix on ix.indrelid = t.relid
    join pg_catalog.pg_class ic on ic.oid = ix.indexrelid
    join pg_catalog.pg_am am on am.oid = ic.relam
    where am.amname = 'btree' and ic.relkind = 'i' and ix.indisvalid and ix.indisready
      and (only_schemas is null or t.schema_name = any (only_schemas))
    order by ic.relpages, t.schema_name, ic.relname
  loop
    total := total + 1;
    if pg_catalog.clock_timestamp() - started >= btree_budget then
      skipped := skipped + 1;
      if skipped <= 100 then
        skipped_names := skipped_names || pg_catalog.format('%I.%I', i.schema_name, i.index_name);
      end if;
      continue;
    end if;
    begin
      execute pg_catalog.format('select %I.bt_index_check($1, $2)', amcheck_schema) using i.index_oid, heapallindexed;
      -- Roll back on purpose to release the table and index locks now (see check_row_counts).
      raise sqlstate 'LB001';
    exception
      when sqlstate 'LB001' then
        checked := checked + 1;
      when index_corrupted or data_corrupted then
        failed := failed + 1;
        return query select 'btree_corruption'::text, 'error'::text,
          pg_catalog.format('%I.%I', i.schema_name, i.index_name),
          pg_catalog.format('index %I on %I.%I is corrupt: %s', i.index_name, i.schema_name, i.table_name, sqlerrm),
          pg_catalog.format('reindex index concurrently %I.%I;  -- then find the cause (storage, collation change) before trusting backups', i.schema_name, i.index_name),
          pg_catalog.jsonb_build_object('schema', i.schema_name, 'table', i.table_name, 'index', i.index_name, 'sqlstate', sqlstate);
      when others then
        failed := failed + 1;
        return query select 'btree_corruption'::text, 'warn'::text,
          pg_catalog.format('%I.%I', i.schema_name, i.index_name),
          pg_catalog.format('could not check index %I: %s (SQLSTATE %s)', i.index_name, sqlerrm, sqlstate),
          case when sqlstate = '42501' then 'Run the check as the index owner or a role allowed to run amcheck on it.'
            else 'Retry when the table is not locked; see the message for other causes.' end,
          pg_catalog.jsonb_build_object('schema', i.schema_name, 'table', i.table_name, 'index', i.index_name, 'sqlstate', sqlstate);
    end;
  end loop;

  if skipped > 0 then
    return query select 'btree_corruption'::text, 'warn'::text, 'amcheck'::text,
      pg_catalog.format('time budget %s ran out: %s of %s B-tree indexes not checked', btree_budget, skipped, total),
      'Pass a larger btree_budget, or run lifeboat.check_btree_indexes() off-peak.'::text,
      pg_catalog.jsonb_build_object('checked', checked, 'skipped', skipped, 'total', total,
        'skipped_indexes', pg_catalog.to_jsonb(skipped_names), 'budget', btree_budget::text,
        'heapallindexed', heapallindexed);
  end if;
  if failed = 0 and (checked > 0 or total = 0) then
    return query select 'btree_corruption'::text, 'ok'::text, 'amcheck'::text,
      pg_catalog.format('%s B-tree indexes checked in %s, none corrupt', checked,
        pg_catalog.date_trunc('milliseconds', pg_catalog.clock_timestamp() - started)),
      ''::text,
      pg_catalog.jsonb_build_object('checked', checked, 'skipped', skipped, 'total', total,
        'heapallindexed', heapallindexed);
  end if;
end
$$;

-- Last value of each sequence in scope that the caller may read. pg_sequence_last_value()
-- and pg_sequences keep a lock on every sequence until the transaction ends, which overflows
-- the lock table at 10,000 sequences; each read here runs in a subtransaction rolled back on
-- purpose, which releases its lock.
create or replace function lifeboat.sequence_last_values(only_schemas text[] default null)
returns table (seqrelid oid, last_value bigint)
language plpgsql
volatile
set search_path = ''
set jit = off
as $$
declare
  rec record;
  v bigint;
begin
  for rec in
    select c.oid, n.nspname, c.relname
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relkind = 'S'
      and n.nspname <> all ((select lifeboat.excluded_schemas())::text[])
      and n.nspname !~ '^pg_(toast_)?temp_'
      and (only_schemas is null or n.nspname = any (only_schemas))
      -- has_sequence_privilege() raises on a non-sequence; the planner may test it first.
      and case when c.relkind = 'S' then pg_catalog.has_sequence_privilege(c.oid, 'select') else false end
  loop
    begin
      execute pg_catalog.format('select case when s.is_called then s.last_value end from %I.%I s', rec.nspname, rec.relname)
        into v;
      raise sqlstate 'LB001';
    exception
      when sqlstate 'LB001' then
        seqrelid := rec.oid;
        last_value := v;
        return next;
      when others then
        null;  -- unreadable now (dropped, locked): reported as not read
    end;
  end loop;
end
$$;
comment on function lifeboat.sequence_last_values(text[]) is
  'Last value of each readable sequence in scope, read without keeping locks (helper for check_sequences).';

-- Sequences near the end of their range (capped by the type of the column that owns them).
create or replace function lifeboat.check_sequences(only_schemas text[] default null)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
volatile
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.sequence_warn_ratio') #>> '{}')::numeric, 0.75) as warn_at,
           coalesce((lifeboat.setting('checks.sequence_error_ratio') #>> '{}')::numeric, 0.9) as error_at
  ),
  seqs as (
    select n.nspname as schema_name, c.relname as seq_name, s.seqmin, s.seqmax, s.seqincrement, s.seqcycle,
      lv.last_value,
      oc.relname as owner_table, oa.attname as owner_column, oa.atttypid as owner_type
    from pg_catalog.pg_sequence s
    join pg_catalog.pg_class c on c.oid = s.seqrelid
    left join lifeboat.sequence_last_values(only_schemas) lv on lv.seqrelid = s.seqrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    left join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid
      and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.deptype in ('a', 'i') and d.refobjsubid > 0
    left join pg_catalog.pg_class oc on oc.oid = d.refobjid
    left join pg_catalog.pg_attribute oa on oa.attrelid = d.refobjid and oa.attnum = d.refobjsubid
    where n.nspname <> all ((select lifeboat.excluded_schemas())::text[])
      and n.nspname !~ '^pg_(toast_)?temp_'
      and (only_schemas is null or n.nspname = any (only_schemas))
  ),
  measured as (
    select s.*,
      case when s.seqincrement > 0
        then least(s.seqmax, case s.owner_type when 'pg_catalog.int2'::pg_catalog.regtype then 32767
                                                 when 'pg_catalog.int4'::pg_catalog.regtype then 2147483647
                                                 else s.seqmax end)
        else s.seqmax end as hi,
      case when s.seqincrement < 0
        then greatest(s.seqmin, case s.owner_type when 'pg_catalog.int2'::pg_catalog.regtype then -32768
                                                    when 'pg_catalog.int4'::pg_catalog.regtype then -2147483648
                                                    else s.seqmin end)
        else s.seqmin end as lo
    from seqs s
  ),
  used as (
    select m.*,
      case when m.last_value is null then 0::numeric
        when m.seqincrement > 0 then (m.last_value::numeric - m.lo) / greatest(m.hi::numeric - m.lo, 1)
        else (m.hi::numeric - m.last_value) / greatest(m.hi::numeric - m.lo, 1) end as ratio
    from measured m
  ),
  problems as (
    select u.*, case when u.ratio >= c.error_at then 'error' else 'warn' end as lvl
    from used u cross join cfg c
    where u.ratio >= c.warn_at and not u.seqcycle
  )
  select 'sequence_exhaustion', p.lvl,
    pg_catalog.format('%I.%I', p.schema_name, p.seq_name),
    pg_catalog.format('sequence %I.%I has used %s%% of its range (at %s of %s)%s', p.schema_name, p.seq_name,
      pg_catalog.round(100 * p.ratio, 1), p.last_value, case when p.seqincrement > 0 then p.hi else p.lo end,
      case when p.owner_column is not null then pg_catalog.format(', feeding %I.%I.%I', p.schema_name, p.owner_table, p.owner_column) else '' end),
    case when p.owner_column is not null and p.owner_type in ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype)
      then pg_catalog.format('alter table %I.%I alter column %I type bigint;  -- then: alter sequence %I.%I as bigint;',
        p.schema_name, p.owner_table, p.owner_column, p.schema_name, p.seq_name)
      else pg_catalog.format('alter sequence %I.%I as bigint maxvalue 9223372036854775807;', p.schema_name, p.seq_name) end,
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'sequence', p.seq_name, 'last_value', p.last_value,
      'limit', case when p.seqincrement > 0 then p.hi else p.lo end, 'used_ratio', pg_catalog.round(p.ratio, 4),
      'owner_table', p.owner_table, 'owner_column', p.owner_column)
  from problems p
  union all
  select 'sequence_exhaustion', 'ok', 'sequences',
    pg_catalog.format('%s sequences, none past %s%% of its range', (select count(*) from used),
      (select pg_catalog.round(100 * c.warn_at) from cfg c)), '',
    pg_catalog.jsonb_build_object('sequences', (select count(*) from used))
  where not exists (select from problems)
$$;

-- Tables without a primary key: they cannot be chunk-exported by key or compared row by row.
-- Partitions are covered by their parent (a parent's key is inherited by every partition).
create or replace function lifeboat.check_primary_keys(only_schemas text[] default null)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with tables as (
    select * from lifeboat.user_tables() u
    where not u.relispartition and (only_schemas is null or u.schema_name = any (only_schemas))
  ),
  problems as (
    select t.* from tables t
    where not exists (select from pg_catalog.pg_constraint con where con.conrelid = t.relid and con.contype = 'p')
  )
  select 'no_primary_key', 'warn',
    pg_catalog.format('%I.%I', p.schema_name, p.table_name),
    pg_catalog.format('%I.%I has no primary key: exports cannot split it into key ranges and restores cannot compare it row by row', p.schema_name, p.table_name),
    pg_catalog.format('alter table %I.%I add primary key (...);  -- or add an identity column: alter table %I.%I add column id bigint generated always as identity primary key;',
      p.schema_name, p.table_name, p.schema_name, p.table_name),
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'table', p.table_name, 'partitioned', p.relkind = 'p')
  from problems p
  union all
  select 'no_primary_key', 'ok', 'tables',
    pg_catalog.format('all %s tables have a primary key', (select count(*) from tables)), '',
    pg_catalog.jsonb_build_object('tables', (select count(*) from tables))
  where not exists (select from problems)
$$;

-- Unlogged tables: not WAL-logged, so absent from physical backups and PITR, emptied after a crash.
create or replace function lifeboat.check_unlogged_tables(only_schemas text[] default null)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with tables as (
    select * from lifeboat.user_tables() u where only_schemas is null or u.schema_name = any (only_schemas)
  ),
  problems as (select t.* from tables t where t.relpersistence = 'u')
  select 'unlogged_table', 'warn',
    pg_catalog.format('%I.%I', p.schema_name, p.table_name),
    pg_catalog.format('%I.%I is UNLOGGED: physical backups and point-in-time recovery restore it empty, and a crash truncates it', p.schema_name, p.table_name),
    pg_catalog.format('alter table %I.%I set logged;  -- or make sure a logical export covers it', p.schema_name, p.table_name),
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'table', p.table_name)
  from problems p
  union all
  select 'unlogged_table', 'ok', 'tables', 'no unlogged tables', '',
    pg_catalog.jsonb_build_object('tables', (select count(*) from tables))
  where not exists (select from problems)
$$;

-- Every integrity check in one call: the fixed replacement for the seed's verify_backup_integrity().
create or replace function lifeboat.check_integrity(
  exact_counts boolean default false,
  btree_budget interval default '30 seconds',
  only_schemas text[] default null,
  heapallindexed boolean default false
)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
volatile
set search_path = ''
set jit = off
as $$
  select * from lifeboat.check_row_counts(exact_counts, only_schemas)
  union all select * from lifeboat.check_unvalidated_constraints(only_schemas)
  union all select * from lifeboat.check_invalid_indexes(only_schemas)
  union all select * from lifeboat.check_btree_indexes(btree_budget, heapallindexed, only_schemas)
  union all select * from lifeboat.check_sequences(only_schemas)
  union all select * from lifeboat.check_primary_keys(only_schemas)
  union all select * from lifeboat.check_unlogged_tables(only_schemas)
$$;
comment on function lifeboat.check_integrity(boolean, interval, text[], boolean) is
  'Integrity checks: row counts, unvalidated constraints, invalid indexes, amcheck B-tree (time-boxed), sequences, missing primary keys, unlogged tables.';

-- =======================================================================================
-- Fingerprint
-- =======================================================================================

-- Order-independent content fingerprint: row count plus the exact sum over rows of
-- hashtextextended(<row as text>, 0), a signed 64-bit hash. Sums (not xor) so duplicate rows
-- count. Output settings are pinned so the row text is the same in any database and session.
-- See docs/sql.md for the exact definition.
create or replace function lifeboat.fingerprint(target regclass)
returns jsonb
language plpgsql
stable
set search_path = ''
set row_security = off
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
set intervalstyle = 'postgres'
set extra_float_digits = 1
set bytea_output = 'hex'
set lc_monetary = 'C'
as $$
declare
  kind "char";
  n bigint;
  s numeric;
  row_alias name := 'r';
begin
  select c.relkind into kind from pg_catalog.pg_class c where c.oid = target;
  if kind is null then
    raise exception 'lifeboat.fingerprint: relation % does not exist', target using errcode = '42P01';
  end if;
  if kind not in ('r', 'p', 'm', 'f') then
    raise exception 'lifeboat.fingerprint: % is not a table (relkind %)', target, kind
      using errcode = '42809', hint = 'Pass a table, partitioned table, materialized view or foreign table.';
  end if;
  -- A partitioned parent covers all its partitions; a plain table only itself (ONLY), so an
  -- inheritance child's rows are not counted twice.
  -- The whole-row reference `alias::text` is about twice as fast as `(alias.*)::text`, but a
  -- column of the same name would win over the alias, so pick an alias no column uses.
  while exists (select from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = row_alias) loop
    row_alias := row_alias || '_';
  end loop;
  execute pg_catalog.format(
    'select count(*), coalesce(sum(pg_catalog.hashtextextended(%2$I::text, 0)), 0) from %1$s %3$s as %2$I',
    case when kind = 'r' then 'only' else '' end, row_alias, target)
  into n, s;
  return pg_catalog.jsonb_build_object(
    'algorithm', 'lifeboat-fp-v1',
    'rows', n,
    'hash_sum', s::text,
    'fingerprint', pg_catalog.format('v1:%s:%s', n, s));
end
$$;
comment on function lifeboat.fingerprint(regclass) is
  'Order-independent content fingerprint {algorithm, rows, hash_sum, fingerprint}: count(*) and the exact sum of hashtextextended(row::text, 0). Equal on a faithful copy in any schema or database.';

-- =======================================================================================
-- Diagnostics (supabase inspect db / pg-extras)
-- =======================================================================================

-- Table and B-tree index bloat, estimated from pg_stats widths (no table scan). Joined by oid
-- and attribute number, never by concatenated names, so quoted names are safe.
create or replace function lifeboat.diagnose_bloat()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
-- pg_stats can only be joined by names; the planner's row estimates for catalog views are
-- poor and a nested loop over those names is quadratic (22 s at 2,000 tables). Hash joins
-- keep it linear.
set enable_nestloop = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.bloat_warn_ratio') #>> '{}')::numeric, 2) as warn_at,
           coalesce((lifeboat.setting('checks.bloat_error_ratio') #>> '{}')::numeric, 5) as error_at,
           coalesce((lifeboat.setting('checks.bloat_min_bytes') #>> '{}')::numeric, 52428800) as min_bytes,
           pg_catalog.current_setting('block_size')::numeric as bs
  ),
  tables as (select * from lifeboat.user_tables() u where u.relkind = 'r'),
  table_widths as (
    -- pg_stats filters by column privilege; it is joined by names taken from the same
    -- catalog rows (never by concatenating them), once for all tables.
    select t.relid, t.schema_name, t.table_name, t.reltuples, t.relpages,
      count(a.attnum) as all_cols,
      count(s.attname) as stat_cols,
      sum((1 - s.null_frac) * s.avg_width) as data_width,
      coalesce(max(s.null_frac), 0) > 0 as has_nulls
    from tables t
    join pg_catalog.pg_attribute a on a.attrelid = t.relid and a.attnum > 0 and not a.attisdropped
    left join pg_catalog.pg_stats s on s.schemaname = t.schema_name and s.tablename = t.table_name
      and s.attname = a.attname and not s.inherited
    group by t.relid, t.schema_name, t.table_name, t.reltuples, t.relpages
  ),
  table_est as (
    select w.*, c.bs,
      -- 24-byte tuple header (+ null bitmap), data aligned to 8, 4-byte line pointer.
      (24 + case when w.has_nulls then ((w.all_cols + 7) / 8) else 0 end
        + 8 * pg_catalog.ceil(w.data_width / 8) + 4) as tuple_bytes,
      coalesce((select o.option_value::numeric from pg_catalog.pg_options_to_table(pc.reloptions) o
                where o.option_name = 'fillfactor'), 100) as fillfactor
    from table_widths w cross join cfg c join pg_catalog.pg_class pc on pc.oid = w.relid
    where w.reltuples > 0 and w.stat_cols = w.all_cols and w.all_cols > 0
  ),
  table_bloat as (
    select 'table' as kind, e.schema_name, e.table_name as rel_name, e.table_name, e.relpages::numeric as pages,
      greatest(pg_catalog.ceil(e.reltuples * e.tuple_bytes / ((e.bs - 24) * e.fillfactor / 100)), 1)::numeric as expected_pages,
      e.bs
    from table_est e
  ),
  index_cols as (
    select ix.indexrelid, t.schema_name, t.table_name, ic.relname as index_name, ic.reltuples, ic.relpages,
      sum((1 - s.null_frac) * s.avg_width) as data_width, count(s.attname) as stat_cols, ix.indnatts
    from tables t
    join pg_catalog.pg_index ix on ix.indrelid = t.relid
    join pg_catalog.pg_class ic on ic.oid = ix.indexrelid and ic.relkind = 'i'
    join pg_catalog.pg_am am on am.oid = ic.relam and am.amname = 'btree'
    cross join lateral pg_catalog.unnest(ix.indkey::int2[]) as k(attnum)
    left join pg_catalog.pg_attribute a on a.attrelid = t.relid and a.attnum = k.attnum and k.attnum > 0
    left join pg_catalog.pg_stats s on s.schemaname = t.schema_name and s.tablename = t.table_name
      and s.attname = a.attname and not s.inherited
    where ix.indexprs is null
    group by ix.indexrelid, t.schema_name, t.table_name, ic.relname, ic.reltuples, ic.relpages, ix.indnatts
  ),
  index_bloat as (
    -- 8-byte index tuple header + data aligned to 8 + 4-byte line pointer; 90% leaf fill,
    -- 16-byte B-tree special space; one metapage.
    select 'index' as kind, i.schema_name, i.index_name as rel_name, i.table_name, i.relpages::numeric as pages,
      greatest(1 + pg_catalog.ceil(i.reltuples * (8 + 8 * pg_catalog.ceil(i.data_width / 8) + 4) / ((c.bs - 24 - 16) * 0.9)), 2)::numeric as expected_pages,
      c.bs
    from index_cols i cross join cfg c
    where i.reltuples > 0 and i.stat_cols = i.indnatts
  ),
  bloat as (
    select b.*, (b.pages - b.expected_pages) * b.bs as wasted_bytes, b.pages / b.expected_pages as ratio
    from (select * from table_bloat union all select * from index_bloat) b
  ),
  problems as (
    select b.*, case when b.ratio >= c.error_at then 'error' else 'warn' end as lvl
    from bloat b cross join cfg c
    where b.ratio >= c.warn_at and b.wasted_bytes >= c.min_bytes
  )
  select 'bloat', p.lvl, pg_catalog.format('%I.%I', p.schema_name, p.rel_name),
    pg_catalog.format('%s %I.%I is about %s times its expected size (%s wasted, estimate)', p.kind, p.schema_name,
      p.rel_name, pg_catalog.round(p.ratio, 1), pg_catalog.pg_size_pretty(p.wasted_bytes)),
    case when p.kind = 'index' then pg_catalog.format('reindex index concurrently %I.%I;', p.schema_name, p.rel_name)
      else pg_catalog.format('vacuum (analyze) %I.%I;  -- to return the space to the OS use pg_repack, or vacuum full during a maintenance window (it locks the table)', p.schema_name, p.table_name) end,
    pg_catalog.jsonb_build_object('kind', p.kind, 'schema', p.schema_name, 'table', p.table_name, 'name', p.rel_name,
      'pages', p.pages, 'expected_pages', p.expected_pages, 'ratio', pg_catalog.round(p.ratio, 2),
      'wasted_bytes', p.wasted_bytes)
  from problems p
  union all
  select 'bloat', 'ok', 'tables and indexes',
    pg_catalog.format('no table or index is estimated at %s times its size with %s wasted',
      (select c.warn_at from cfg c), (select pg_catalog.pg_size_pretty(c.min_bytes) from cfg c)), '',
    pg_catalog.jsonb_build_object('estimated', (select count(*) from bloat))
  where not exists (select from problems)
$$;

-- Buffer cache hit ratio for tables and indexes (pg-extras cache_hit).
create or replace function lifeboat.diagnose_cache_hit()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.cache_hit_warn_ratio') #>> '{}')::numeric, 0.99) as warn_at,
           coalesce((lifeboat.setting('checks.cache_hit_error_ratio') #>> '{}')::numeric, 0.9) as error_at,
           coalesce((lifeboat.setting('checks.cache_hit_min_blocks') #>> '{}')::numeric, 10000) as min_blocks
  ),
  io as (
    select 'table hit rate' as object, sum(s.heap_blks_hit)::numeric as hit, sum(s.heap_blks_read)::numeric as rd
    from pg_catalog.pg_statio_user_tables s
    union all
    select 'index hit rate', sum(s.idx_blks_hit)::numeric, sum(s.idx_blks_read)::numeric
    from pg_catalog.pg_statio_user_indexes s
  ),
  ratios as (
    select io.object, coalesce(io.hit, 0) as hit, coalesce(io.rd, 0) as rd,
      coalesce(io.hit, 0) / greatest(coalesce(io.hit, 0) + coalesce(io.rd, 0), 1) as ratio
    from io
  )
  select 'cache_hit',
    case when r.hit + r.rd < c.min_blocks then 'ok'
      when r.ratio < c.error_at then 'error' when r.ratio < c.warn_at then 'warn' else 'ok' end,
    r.object,
    case when r.hit + r.rd < c.min_blocks
      then pg_catalog.format('only %s block reads so far: too few to judge', r.hit + r.rd)
      else pg_catalog.format('%s%% of block reads served from shared buffers', pg_catalog.round(100 * r.ratio, 2)) end,
    case when r.hit + r.rd >= c.min_blocks and r.ratio < c.warn_at
      then 'The working set does not fit in memory: add indexes for sequential scans (see index_usage), drop unused indexes, or move to a larger compute size.'
      else '' end,
    pg_catalog.jsonb_build_object('ratio', pg_catalog.round(r.ratio, 4), 'hits', r.hit, 'reads', r.rd)
  from ratios r cross join cfg c
$$;

-- Share of scans that use an index, per big table (pg-extras index_usage).
create or replace function lifeboat.diagnose_index_usage()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.index_usage_min_rows') #>> '{}')::numeric, 10000) as min_rows,
           coalesce((lifeboat.setting('checks.index_usage_warn_percent') #>> '{}')::numeric, 90) as warn_pct
  ),
  usage as (
    select t.schema_name, t.table_name, s.seq_scan, coalesce(s.idx_scan, 0) as idx_scan, s.n_live_tup,
      100.0 * coalesce(s.idx_scan, 0) / greatest(s.seq_scan + coalesce(s.idx_scan, 0), 1) as pct
    from lifeboat.user_tables() t
    join pg_catalog.pg_stat_user_tables s on s.relid = t.relid
  ),
  problems as (
    select u.* from usage u cross join cfg c
    where u.n_live_tup >= c.min_rows and u.seq_scan > 0 and u.pct < c.warn_pct
  )
  select 'index_usage', 'warn', pg_catalog.format('%I.%I', p.schema_name, p.table_name),
    pg_catalog.format('only %s%% of %s scans on %I.%I (%s rows) used an index', pg_catalog.round(p.pct, 1),
      p.seq_scan + p.idx_scan, p.schema_name, p.table_name, p.n_live_tup),
    'Find the sequential-scan queries in pg_stat_statements (supabase inspect db outliers) and add an index for their filters.',
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'table', p.table_name, 'seq_scan', p.seq_scan,
      'idx_scan', p.idx_scan, 'rows', p.n_live_tup, 'index_percent', pg_catalog.round(p.pct, 1))
  from problems p
  union all
  select 'index_usage', 'ok', 'tables',
    pg_catalog.format('every table with at least %s rows uses an index for at least %s%% of its scans',
      (select c.min_rows from cfg c), (select c.warn_pct from cfg c)), '',
    pg_catalog.jsonb_build_object('tables', (select count(*) from usage))
  where not exists (select from problems)
$$;

-- Indexes never scanned since statistics were reset (pg-extras unused_indexes).
create or replace function lifeboat.diagnose_unused_indexes()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.unused_index_min_bytes') #>> '{}')::numeric, 1048576) as min_bytes
  ),
  idx as (
    select t.schema_name, t.table_name, ic.relname as index_name, s.idx_scan,
      -- Size from the catalog (as of the last VACUUM/ANALYZE/CREATE INDEX): pg_relation_size()
      -- would lock every index until the end of the transaction.
      ic.relpages::bigint * pg_catalog.current_setting('block_size')::bigint as bytes
    from lifeboat.user_tables() t
    join pg_catalog.pg_index ix on ix.indrelid = t.relid
    join pg_catalog.pg_class ic on ic.oid = ix.indexrelid and ic.relkind = 'i'
    join pg_catalog.pg_stat_user_indexes s on s.indexrelid = ix.indexrelid
    where not ix.indisunique and not ix.indisprimary
      and not exists (select from pg_catalog.pg_constraint con where con.conindid = ix.indexrelid)
  ),
  problems as (
    select i.* from idx i cross join cfg c where i.idx_scan = 0 and i.bytes >= c.min_bytes
  ),
  since as (select d.stats_reset from pg_catalog.pg_stat_database d where d.datname = pg_catalog.current_database())
  select 'unused_index', 'warn', pg_catalog.format('%I.%I', p.schema_name, p.index_name),
    pg_catalog.format('index %I on %I.%I (%s) has never been scanned since %s', p.index_name, p.schema_name,
      p.table_name, pg_catalog.pg_size_pretty(p.bytes),
      coalesce((select s.stats_reset::text from since s), 'statistics began')),
    pg_catalog.format('drop index concurrently %I.%I;  -- after checking replicas and rare reports do not need it', p.schema_name, p.index_name),
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'table', p.table_name, 'index', p.index_name,
      'bytes', p.bytes, 'idx_scan', p.idx_scan)
  from problems p
  union all
  select 'unused_index', 'ok', 'indexes',
    pg_catalog.format('no unused non-unique index of %s or more', (select pg_catalog.pg_size_pretty(c.min_bytes) from cfg c)), '',
    pg_catalog.jsonb_build_object('indexes', (select count(*) from idx))
  where not exists (select from problems)
$$;

-- Indexes with identical definitions on the same table (same columns, operator classes,
-- collations, expressions and predicate): all but one are pure write overhead.
create or replace function lifeboat.diagnose_duplicate_indexes()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with idx as (
    select t.schema_name, t.table_name, ix.indrelid, ic.relname as index_name, ic.relam, ix.indisunique,
      ix.indkey::text as k, ix.indclass::text as cls, ix.indcollation::text as coll,
      coalesce(ix.indexprs::text, '') as exprs, coalesce(ix.indpred::text, '') as pred,
      ic.relpages::bigint * pg_catalog.current_setting('block_size')::bigint as bytes
    from lifeboat.user_tables() t
    join pg_catalog.pg_index ix on ix.indrelid = t.relid
    join pg_catalog.pg_class ic on ic.oid = ix.indexrelid
  ),
  groups as (
    select i.schema_name, i.table_name,
      pg_catalog.array_agg(i.index_name::text order by i.indisunique desc, i.index_name) as names,
      sum(i.bytes) as bytes, count(*) as n
    from idx i
    group by i.schema_name, i.table_name, i.indrelid, i.relam, i.k, i.cls, i.coll, i.exprs, i.pred
    having count(*) > 1
  )
  select 'duplicate_index', 'warn', pg_catalog.format('%I.%I', g.schema_name, g.table_name),
    pg_catalog.format('%s indexes on %I.%I have the same definition: %s', g.n, g.schema_name, g.table_name,
      pg_catalog.array_to_string(g.names, ', ')),
    pg_catalog.format('Keep %I (a unique or constraint index if there is one) and drop the others with drop index concurrently.', g.names[1]),
    pg_catalog.jsonb_build_object('schema', g.schema_name, 'table', g.table_name, 'indexes', pg_catalog.to_jsonb(g.names),
      'bytes', g.bytes)
  from groups g
  union all
  select 'duplicate_index', 'ok', 'indexes', 'no duplicate indexes', '',
    pg_catalog.jsonb_build_object('indexes', (select count(*) from idx))
  where not exists (select from groups)
$$;

-- Queries and open transactions running too long (pg-extras long_running_queries).
create or replace function lifeboat.diagnose_long_running_queries()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.long_query_warn') #>> '{}')::interval, interval '5 minutes') as warn_at,
           coalesce((lifeboat.setting('checks.long_query_error') #>> '{}')::interval, interval '1 hour') as error_at
  ),
  sessions as (
    select a.pid, a.usename, a.application_name, a.state, a.query,
      case when a.state like 'idle in transaction%' then pg_catalog.now() - a.xact_start
        else pg_catalog.now() - a.query_start end as running_for
    from pg_catalog.pg_stat_activity a
    where a.backend_type = 'client backend' and a.pid <> pg_catalog.pg_backend_pid()
      and a.state is not null and a.state <> 'idle'
  ),
  problems as (
    select s.*, case when s.running_for >= c.error_at then 'error' else 'warn' end as lvl
    from sessions s cross join cfg c where s.running_for >= c.warn_at
  )
  select 'long_running_query', p.lvl, pg_catalog.format('pid %s', p.pid),
    pg_catalog.format('%s (%s) has been %s for %s', p.usename, coalesce(nullif(p.application_name, ''), 'unnamed client'),
      p.state, pg_catalog.date_trunc('second', p.running_for)),
    case when p.state like 'idle in transaction%'
      then pg_catalog.format('The client left a transaction open (it holds locks and stops vacuum): fix the client, or select pg_terminate_backend(%s);', p.pid)
      else pg_catalog.format('select pg_cancel_backend(%s);  -- or pg_terminate_backend; set statement_timeout for this role', p.pid) end,
    pg_catalog.jsonb_build_object('pid', p.pid, 'role', p.usename, 'state', p.state,
      'seconds', pg_catalog.round(extract(epoch from p.running_for)), 'query', pg_catalog.left(p.query, 200))
  from problems p
  union all
  select 'long_running_query', 'ok', 'sessions',
    pg_catalog.format('no query or transaction running longer than %s', (select c.warn_at from cfg c)), '',
    pg_catalog.jsonb_build_object('active_sessions', (select count(*) from sessions))
  where not exists (select from problems)
$$;

-- Sessions waiting on a lock, with the sessions blocking them (pg-extras blocking).
create or replace function lifeboat.diagnose_blocking_locks()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.lock_wait_warn') #>> '{}')::interval, interval '5 seconds') as warn_at,
           coalesce((lifeboat.setting('checks.lock_wait_error') #>> '{}')::interval, interval '1 minute') as error_at
  ),
  blocked as (
    select a.pid, a.usename, a.query, pg_catalog.now() - a.query_start as waiting_for,
      pg_catalog.pg_blocking_pids(a.pid) as blockers
    from pg_catalog.pg_stat_activity a
    where a.wait_event_type = 'Lock'
  ),
  problems as (
    select b.*, case when b.waiting_for >= c.error_at then 'error' else 'warn' end as lvl,
      (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('pid', x.pid, 'role', x.usename, 'state', x.state,
         'query', pg_catalog.left(x.query, 200)))
       from pg_catalog.pg_stat_activity x where x.pid = any (b.blockers)) as blocking
    from blocked b cross join cfg c
    where pg_catalog.cardinality(b.blockers) > 0 and b.waiting_for >= c.warn_at
  )
  select 'blocking_lock', p.lvl, pg_catalog.format('pid %s', p.pid),
    pg_catalog.format('%s has waited %s for a lock held by pid %s', p.usename,
      pg_catalog.date_trunc('second', p.waiting_for), pg_catalog.array_to_string(p.blockers, ', ')),
    pg_catalog.format('Finish or cancel the blocking session: select pg_cancel_backend(%s);', p.blockers[1]),
    pg_catalog.jsonb_build_object('pid', p.pid, 'role', p.usename, 'seconds', pg_catalog.round(extract(epoch from p.waiting_for)),
      'query', pg_catalog.left(p.query, 200), 'blocked_by', coalesce(p.blocking, '[]'::jsonb))
  from problems p
  union all
  select 'blocking_lock', 'ok', 'locks',
    pg_catalog.format('no session has waited longer than %s for a lock', (select c.warn_at from cfg c)), '',
    pg_catalog.jsonb_build_object('waiting', (select count(*) from blocked))
  where not exists (select from problems)
$$;

-- Client connections by role and client address (pg-extras connections / role_connections).
create or replace function lifeboat.diagnose_connections()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.connections_per_client_warn_ratio') #>> '{}')::numeric, 0.5) as warn_at,
      pg_catalog.current_setting('max_connections')::int
        - pg_catalog.current_setting('superuser_reserved_connections')::int as usable
  ),
  groups as (
    select coalesce(a.usename::text, '(unknown)') as role_name,
      coalesce(pg_catalog.host(a.client_addr), 'local socket') as client,
      count(*) as n,
      count(*) filter (where a.state = 'active') as active,
      count(*) filter (where a.state like 'idle in transaction%') as idle_in_tx
    from pg_catalog.pg_stat_activity a
    where a.backend_type = 'client backend'
    group by 1, 2
  )
  select 'connections', case when g.n >= c.usable * c.warn_at then 'warn' else 'ok' end,
    pg_catalog.format('%s@%s', g.role_name, g.client),
    pg_catalog.format('%s connections (%s active, %s idle in transaction) of %s usable', g.n, g.active, g.idle_in_tx, c.usable),
    case when g.n >= c.usable * c.warn_at
      then 'One client holds a large share of all connections: route it through the pooler (port 6543) or lower its pool size.'
      else '' end,
    pg_catalog.jsonb_build_object('role', g.role_name, 'client_addr', g.client, 'connections', g.n,
      'active', g.active, 'idle_in_transaction', g.idle_in_tx, 'usable', c.usable)
  from groups g cross join cfg c
$$;

-- Dead rows autovacuum is not keeping up with, and transaction ID age (wraparound).
create or replace function lifeboat.diagnose_vacuum()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.vacuum_dead_warn_ratio') #>> '{}')::numeric, 0.2) as dead_ratio,
      coalesce((lifeboat.setting('checks.xid_age_error') #>> '{}')::bigint, 1200000000) as xid_error,
      pg_catalog.current_setting('autovacuum_freeze_max_age')::bigint as freeze_max_age,
      pg_catalog.current_setting('autovacuum_vacuum_threshold')::numeric as base_threshold,
      pg_catalog.current_setting('autovacuum_vacuum_scale_factor')::numeric as scale_factor
  ),
  stats as (
    select t.schema_name, t.table_name, s.n_live_tup, s.n_dead_tup,
      greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum,
      pg_catalog.age(pc.relfrozenxid) as xid_age,
      c.base_threshold + c.scale_factor * greatest(pc.reltuples, 0) as threshold
    from lifeboat.user_tables() t
    join pg_catalog.pg_class pc on pc.oid = t.relid
    join pg_catalog.pg_stat_user_tables s on s.relid = t.relid
    cross join cfg c
    where t.relkind = 'r'
  ),
  problems as (
    select s.*, case when s.xid_age >= c.xid_error then 'error' else 'warn' end as lvl,
      s.xid_age >= c.freeze_max_age as wraparound
    from stats s cross join cfg c
    where s.xid_age >= c.freeze_max_age
       or (s.n_dead_tup > s.threshold and s.n_dead_tup >= c.dead_ratio * (s.n_live_tup + s.n_dead_tup))
  ),
  db as (
    select pg_catalog.age(d.datfrozenxid) as xid_age from pg_catalog.pg_database d
    where d.datname = pg_catalog.current_database()
  )
  select 'vacuum', p.lvl, pg_catalog.format('%I.%I', p.schema_name, p.table_name),
    case when p.wraparound
      then pg_catalog.format('transaction ID age %s is past autovacuum_freeze_max_age: anti-wraparound vacuum is due', p.xid_age)
      else pg_catalog.format('%s dead rows (%s%% of all) above the autovacuum threshold of %s; last vacuumed %s',
        p.n_dead_tup, pg_catalog.round(100.0 * p.n_dead_tup / greatest(p.n_live_tup + p.n_dead_tup, 1), 1),
        pg_catalog.round(p.threshold), coalesce(p.last_vacuum::text, 'never')) end,
    case when p.wraparound then pg_catalog.format('vacuum (freeze, verbose) %I.%I;  -- and look for long transactions or stale replication slots holding back the xmin horizon', p.schema_name, p.table_name)
      else pg_catalog.format('vacuum (analyze) %I.%I;  -- if this recurs, lower autovacuum_vacuum_scale_factor for the table', p.schema_name, p.table_name) end,
    pg_catalog.jsonb_build_object('schema', p.schema_name, 'table', p.table_name, 'dead_rows', p.n_dead_tup,
      'live_rows', p.n_live_tup, 'threshold', pg_catalog.round(p.threshold), 'xid_age', p.xid_age,
      'last_vacuum', p.last_vacuum)
  from problems p
  union all
  select 'vacuum', case when d.xid_age >= c.xid_error then 'error' when d.xid_age >= c.freeze_max_age then 'warn' else 'ok' end,
    'database',
    pg_catalog.format('database transaction ID age %s (anti-wraparound vacuum at %s, hard stop near 2 billion); %s tables need vacuum',
      d.xid_age, c.freeze_max_age, (select count(*) from problems)),
    case when d.xid_age >= c.freeze_max_age then 'Vacuum the oldest tables (see the vacuum rows) and end long-running transactions.' else '' end,
    pg_catalog.jsonb_build_object('xid_age', d.xid_age, 'freeze_max_age', c.freeze_max_age,
      'tables_needing_vacuum', (select count(*) from problems))
  from db d cross join cfg c
$$;

-- Table and index sizes (pg-extras table_sizes / index_sizes / total_table_size): the largest
-- tables, and the database size against a threshold.
create or replace function lifeboat.diagnose_sizes()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
volatile
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.sizes_top_n') #>> '{}')::int, 50) as top_n,
           coalesce((lifeboat.setting('checks.database_size_warn_bytes') #>> '{}')::numeric, 7516192768) as db_warn
  ),
  estimates as (
    -- Rank by catalog sizes (relpages, as of the last VACUUM/ANALYZE): pg_table_size() locks
    -- each table until the end of the transaction, so only the top N are measured exactly.
    select t.relid, t.schema_name, t.table_name,
      (t.relpages + coalesce(max(toast.relpages), 0))::bigint * pg_catalog.current_setting('block_size')::bigint as table_bytes,
      coalesce(sum(ic.relpages), 0)::bigint * pg_catalog.current_setting('block_size')::bigint as index_bytes
    from lifeboat.user_tables() t
    join pg_catalog.pg_class c on c.oid = t.relid
    left join pg_catalog.pg_class toast on toast.oid = c.reltoastrelid
    left join pg_catalog.pg_index ix on ix.indrelid = t.relid
    left join pg_catalog.pg_class ic on ic.oid = ix.indexrelid
    where t.relkind = 'r'
    group by t.relid, t.schema_name, t.table_name, t.relpages
  ),
  top as (
    select e.*, pg_catalog.row_number() over (order by e.table_bytes + e.index_bytes desc, e.schema_name, e.table_name) as rank
    from estimates e
  ),
  ranked as (
    select tp.schema_name, tp.table_name, tp.rank, x.table_bytes, x.index_bytes, x.table_bytes + x.index_bytes as total_bytes
    from top tp cross join cfg c
    cross join lateral (select pg_catalog.pg_table_size(tp.relid) as table_bytes, pg_catalog.pg_indexes_size(tp.relid) as index_bytes) x
    where tp.rank <= c.top_n
  ),
  db as (select pg_catalog.pg_database_size(pg_catalog.current_database()) as bytes)
  select 'size', case when d.bytes >= c.db_warn then 'warn' else 'ok' end, 'database',
    pg_catalog.format('database %s is %s (about %s in %s user tables, %s of it indexes)', pg_catalog.current_database(),
      pg_catalog.pg_size_pretty(d.bytes), pg_catalog.pg_size_pretty((select coalesce(sum(e.table_bytes + e.index_bytes), 0) from estimates e)),
      (select count(*) from estimates), pg_catalog.pg_size_pretty((select coalesce(sum(e.index_bytes), 0) from estimates e))),
    case when d.bytes >= c.db_warn then 'Check disk size and plan (Settings > Compute and Disk); look for bloat and unused indexes before buying disk.' else '' end,
    pg_catalog.jsonb_build_object('bytes', d.bytes, 'warn_bytes', c.db_warn)
  from db d cross join cfg c
  union all
  select 'size', 'ok', pg_catalog.format('%I.%I', r.schema_name, r.table_name),
    pg_catalog.format('%s total: table %s, indexes %s', pg_catalog.pg_size_pretty(r.total_bytes),
      pg_catalog.pg_size_pretty(r.table_bytes), pg_catalog.pg_size_pretty(r.index_bytes)), '',
    pg_catalog.jsonb_build_object('schema', r.schema_name, 'table', r.table_name, 'rank', r.rank,
      'total_bytes', r.total_bytes, 'table_bytes', r.table_bytes, 'index_bytes', r.index_bytes)
  from ranked r
$$;

-- Replication slots: an inactive slot keeps every WAL segment since its restart_lsn.
create or replace function lifeboat.diagnose_replication_slots()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('checks.slot_retained_warn_bytes') #>> '{}')::numeric, 1073741824) as warn_at,
           coalesce((lifeboat.setting('checks.slot_retained_error_bytes') #>> '{}')::numeric, 3221225472) as error_at
  ),
  slots as (
    select s.slot_name, s.slot_type, s.plugin, s.active, s.wal_status, s.database,
      case when s.restart_lsn is null then 0
        else pg_catalog.pg_wal_lsn_diff(
          case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_receive_lsn() else pg_catalog.pg_current_wal_lsn() end,
          s.restart_lsn) end as retained
    from pg_catalog.pg_replication_slots s
  )
  select 'replication_slot',
    case when s.wal_status = 'lost' or s.retained >= c.error_at then 'error'
      when s.retained >= c.warn_at then 'warn' else 'ok' end,
    s.slot_name::text,
    pg_catalog.format('%s %s slot%s retains %s of WAL%s', case when s.active then 'active' else 'inactive' end,
      s.slot_type, coalesce(' (' || s.plugin || ')', ''), pg_catalog.pg_size_pretty(s.retained),
      case when s.wal_status = 'lost' then '; WAL it needs is already gone, the slot is unusable' else '' end),
    case when s.wal_status = 'lost' or s.retained >= c.warn_at then
      case when s.active then 'The consumer is falling behind: check the subscriber or CDC tool reading this slot.'
        else pg_catalog.format('If nothing will read it again: select pg_drop_replication_slot(%L);  -- otherwise restart its consumer before the disk fills', s.slot_name) end
      else '' end,
    pg_catalog.jsonb_build_object('slot', s.slot_name, 'type', s.slot_type, 'plugin', s.plugin, 'active', s.active,
      'wal_status', s.wal_status, 'retained_bytes', s.retained, 'database', s.database)
  from slots s cross join cfg c
  union all
  select 'replication_slot', 'ok', 'replication slots', 'no replication slots', '', '{}'::jsonb
  where not exists (select from slots)
$$;

-- =======================================================================================
-- Security audit
-- =======================================================================================

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
    from pg_catalog.jsonb_array_elements_text(coalesce(lifeboat.setting('security.platform_roles'), '[]'::jsonb)) e
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
            coalesce(lifeboat.setting('security.exposed_schemas'), '["public", "graphql_public"]'::jsonb)) e),
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

-- Keys past (or near) their rotation date, from lifeboat.key_rotations.
create or replace function lifeboat.audit_key_rotation()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select coalesce((lifeboat.setting('security.key_rotation_warn_before') #>> '{}')::interval, interval '14 days') as warn_before
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

-- Every security audit in one call.
create or replace function lifeboat.security_audit()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  select * from lifeboat.audit_privileged_roles()
  union all select * from lifeboat.audit_rls()
  union all select * from lifeboat.audit_security_definer()
  union all select * from lifeboat.audit_extensions_in_public()
  union all select * from lifeboat.audit_ssl()
  union all select * from lifeboat.audit_key_rotation()
$$;

-- =======================================================================================
-- diagnose(): every check in one call, worst first.
-- =======================================================================================
create or replace function lifeboat.diagnose(
  exact_counts boolean default false,
  btree_budget interval default '30 seconds'
)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
volatile
set search_path = ''
set jit = off
as $$
  select r.* from (
    select * from lifeboat.health()
    union all select * from lifeboat.check_integrity(exact_counts, btree_budget)
    union all select * from lifeboat.diagnose_bloat()
    union all select * from lifeboat.diagnose_cache_hit()
    union all select * from lifeboat.diagnose_index_usage()
    union all select * from lifeboat.diagnose_unused_indexes()
    union all select * from lifeboat.diagnose_duplicate_indexes()
    union all select * from lifeboat.diagnose_long_running_queries()
    union all select * from lifeboat.diagnose_blocking_locks()
    union all select * from lifeboat.diagnose_connections()
    union all select * from lifeboat.diagnose_vacuum()
    union all select * from lifeboat.diagnose_sizes()
    union all select * from lifeboat.diagnose_replication_slots()
    union all select * from lifeboat.security_audit()
  ) r
  order by case r.level when 'error' then 0 when 'warn' then 1 else 2 end, r."check", r.object
$$;
comment on function lifeboat.diagnose(boolean, interval) is
  'Every Lifeboat check (health, integrity, diagnostics, security audit) in one call, errors first, then warnings, then ok.';

-- Belt and braces: whatever the defaults were, nothing here is granted to the API roles.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

-- Lifeboat integrity checks (suite integrity of lifeboat.checks, run by check_integrity()):
-- row counts, unvalidated constraints, invalid indexes, amcheck B-tree structure, sequences,
-- missing primary keys, unlogged tables. Each returns the uniform check shape.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.
--
-- Scale rule for everything below: catalogs are joined once per query; nothing runs a
-- catalog subquery per table. JIT is off for the catalog queries: at 10,000 tables their cost
-- estimates cross jit_above_cost and compiling took longer than running (3.8 s vs 0.4 s).
-- The only per-table work is what must touch each table's data (exact counts, amcheck), and
-- that is linear and bounded.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('checks.sequence_warn_ratio', '0.75'::jsonb, 'Warn when a sequence has used this share of its range'),
  ('checks.sequence_error_ratio', '0.9', 'Error when a sequence has used this share of its range')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

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
comment on function lifeboat.check_unvalidated_constraints(text[]) is
  'Constraints added NOT VALID and never validated (uniform check shape; suite integrity in lifeboat.checks).';

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
comment on function lifeboat.check_invalid_indexes(text[]) is
  'Invalid indexes, as a failed CREATE INDEX CONCURRENTLY leaves them (uniform check shape; suite integrity in lifeboat.checks).';

-- Where amcheck is and whether the caller may run its B-tree check. On hosted Supabase the
-- postgres role cannot create amcheck (supautils does not list it as a privileged
-- extension), so it is often absent; check_btree_indexes() asks here and says so.
create or replace function lifeboat.amcheck_status()
returns table (installed boolean, schema_name name, bt_index_check regprocedure, executable boolean)
language sql
stable
set search_path = ''
as $$
  select e.oid is not null, n.nspname, f.fn, coalesce(pg_catalog.has_function_privilege(f.fn, 'execute'), false)
  from (select) one
  left join pg_catalog.pg_extension e on e.extname = 'amcheck'
  left join pg_catalog.pg_namespace n on n.oid = e.extnamespace
  cross join lateral (
    select case when n.nspname is not null then
      pg_catalog.to_regprocedure(pg_catalog.format('%I.bt_index_check(pg_catalog.regclass, boolean)', n.nspname)) end as fn
  ) f
$$;
comment on function lifeboat.amcheck_status() is
  'Whether the amcheck extension is installed, in which schema, and whether the caller may execute its bt_index_check(regclass, boolean).';

-- B-tree structure check with amcheck's bt_index_check, smallest indexes first, within a
-- time budget. What the budget did not cover is reported, not silently dropped. Without
-- amcheck, or without the right to run it, one warning says the check was skipped and why.
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
  amcheck record;
  started timestamptz := pg_catalog.clock_timestamp();
  i record;
  checked int := 0;
  failed int := 0;
  skipped int := 0;
  skipped_names text[] := '{}';
  total int := 0;
begin
  select * into amcheck from lifeboat.amcheck_status();
  if not amcheck.installed then
    return query select 'btree_corruption'::text, 'warn'::text, 'amcheck'::text,
      'skipped: the amcheck extension is not installed, so B-tree indexes were not checked for corruption'::text,
      ('Where your role may create it: create extension amcheck with schema extensions;  -- on hosted Supabase '
        || 'the postgres role cannot (amcheck is not a privileged extension there): ask Supabase support to install it, '
        || 'or turn this check off: update lifeboat.checks set enabled = false where name = ''check_btree_indexes'';')::text,
      pg_catalog.jsonb_build_object('checked', 0, 'reason', 'not_installed');
    return;
  end if;
  if not amcheck.executable then
    return query select 'btree_corruption'::text, 'warn'::text, 'amcheck'::text,
      pg_catalog.format('skipped: %s may not execute %I.bt_index_check, so B-tree indexes were not checked for corruption',
        current_user, amcheck.schema_name),
      pg_catalog.format('As a superuser: grant execute on function %I.bt_index_check(regclass, boolean) to %I;',
        amcheck.schema_name, current_user),
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
      execute pg_catalog.format('select %I.bt_index_check($1, $2)', amcheck.schema_name) using i.index_oid, heapallindexed;
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
comment on function lifeboat.check_btree_indexes(interval,boolean,text[]) is
  'B-tree structure with amcheck, within btree_budget (uniform check shape; suite integrity in lifeboat.checks).';

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
    select (lifeboat.setting('checks.sequence_warn_ratio') #>> '{}')::numeric as warn_at,
           (lifeboat.setting('checks.sequence_error_ratio') #>> '{}')::numeric as error_at
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
comment on function lifeboat.check_sequences(text[]) is
  'Sequences near the end of their range (uniform check shape; suite integrity in lifeboat.checks).';

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
comment on function lifeboat.check_primary_keys(text[]) is
  'Tables without a primary key (uniform check shape; suite integrity in lifeboat.checks).';

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
comment on function lifeboat.check_unlogged_tables(text[]) is
  'Unlogged tables, absent from physical backups and PITR (uniform check shape; suite integrity in lifeboat.checks).';

insert into lifeboat.checks (name, suite, position, description) values
  ('check_row_counts', 'integrity', 10, 'Row count per user table (estimate, or exact with exact_counts)'),
  ('check_unvalidated_constraints', 'integrity', 20, 'Constraints added NOT VALID and never validated'),
  ('check_invalid_indexes', 'integrity', 30, 'Invalid indexes (a failed CREATE INDEX CONCURRENTLY)'),
  ('check_btree_indexes', 'integrity', 40, 'B-tree structure with amcheck, within btree_budget'),
  ('check_sequences', 'integrity', 50, 'Sequences near the end of their range'),
  ('check_primary_keys', 'integrity', 60, 'Tables without a primary key'),
  ('check_unlogged_tables', 'integrity', 70, 'Unlogged tables (absent from physical backups and PITR)')
on conflict (name) do update set suite = excluded.suite, position = excluded.position, description = excluded.description;

-- Belt and braces: whatever the defaults were, nothing here is granted to the API roles.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

-- Lifeboat diagnostics (suite diagnostics of lifeboat.checks, run by diagnose()): what
-- `supabase inspect db` and pg-extras report, as checks in the uniform shape with thresholds.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.
--
-- Scale rule for everything below: catalogs are joined once per query; nothing runs a
-- catalog subquery per table. JIT is off for the catalog queries: at 10,000 tables their cost
-- estimates cross jit_above_cost and compiling took longer than running (3.8 s vs 0.4 s).

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('checks.bloat_warn_ratio', '2'::jsonb, 'Bloat warns when actual size / expected size reaches this'),
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
  ('checks.slot_retained_error_bytes', '3221225472', 'A replication slot retaining this much WAL errors (3 GB; Supabase caps at max_slot_wal_keep_size 4 GB)')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

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
    select (lifeboat.setting('checks.bloat_warn_ratio') #>> '{}')::numeric as warn_at,
           (lifeboat.setting('checks.bloat_error_ratio') #>> '{}')::numeric as error_at,
           (lifeboat.setting('checks.bloat_min_bytes') #>> '{}')::numeric as min_bytes,
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
comment on function lifeboat.diagnose_bloat() is
  'Table and B-tree index bloat, estimated from statistics (uniform check shape; suite diagnostics in lifeboat.checks).';

-- Buffer cache hit ratio for tables and indexes (pg-extras cache_hit).
create or replace function lifeboat.diagnose_cache_hit()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('checks.cache_hit_warn_ratio') #>> '{}')::numeric as warn_at,
           (lifeboat.setting('checks.cache_hit_error_ratio') #>> '{}')::numeric as error_at,
           (lifeboat.setting('checks.cache_hit_min_blocks') #>> '{}')::numeric as min_blocks
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
comment on function lifeboat.diagnose_cache_hit() is
  'Buffer cache hit ratio (uniform check shape; suite diagnostics in lifeboat.checks).';

-- Share of scans that use an index, per big table (pg-extras index_usage).
create or replace function lifeboat.diagnose_index_usage()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('checks.index_usage_min_rows') #>> '{}')::numeric as min_rows,
           (lifeboat.setting('checks.index_usage_warn_percent') #>> '{}')::numeric as warn_pct
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
comment on function lifeboat.diagnose_index_usage() is
  'Share of scans that use an index, per big table (uniform check shape; suite diagnostics in lifeboat.checks).';

-- Indexes never scanned since statistics were reset (pg-extras unused_indexes).
create or replace function lifeboat.diagnose_unused_indexes()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('checks.unused_index_min_bytes') #>> '{}')::numeric as min_bytes
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
comment on function lifeboat.diagnose_unused_indexes() is
  'Indexes never scanned (uniform check shape; suite diagnostics in lifeboat.checks).';

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
comment on function lifeboat.diagnose_duplicate_indexes() is
  'Indexes with identical definitions (uniform check shape; suite diagnostics in lifeboat.checks).';

-- Queries and open transactions running too long (pg-extras long_running_queries).
create or replace function lifeboat.diagnose_long_running_queries()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('checks.long_query_warn') #>> '{}')::interval as warn_at,
           (lifeboat.setting('checks.long_query_error') #>> '{}')::interval as error_at
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
comment on function lifeboat.diagnose_long_running_queries() is
  'Queries and transactions running too long (uniform check shape; suite diagnostics in lifeboat.checks).';

-- Sessions waiting on a lock, with the sessions blocking them (pg-extras blocking).
create or replace function lifeboat.diagnose_blocking_locks()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('checks.lock_wait_warn') #>> '{}')::interval as warn_at,
           (lifeboat.setting('checks.lock_wait_error') #>> '{}')::interval as error_at
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
comment on function lifeboat.diagnose_blocking_locks() is
  'Sessions waiting on a lock (uniform check shape; suite diagnostics in lifeboat.checks).';

-- Client connections by role and client address (pg-extras connections / role_connections).
create or replace function lifeboat.diagnose_connections()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('checks.connections_per_client_warn_ratio') #>> '{}')::numeric as warn_at,
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
comment on function lifeboat.diagnose_connections() is
  'Connections by role and client address (uniform check shape; suite diagnostics in lifeboat.checks).';

-- Dead rows autovacuum is not keeping up with, and transaction ID age (wraparound).
create or replace function lifeboat.diagnose_vacuum()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('checks.vacuum_dead_warn_ratio') #>> '{}')::numeric as dead_ratio,
      (lifeboat.setting('checks.xid_age_error') #>> '{}')::bigint as xid_error,
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
comment on function lifeboat.diagnose_vacuum() is
  'Dead rows and transaction ID age (uniform check shape; suite diagnostics in lifeboat.checks).';

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
    select (lifeboat.setting('checks.sizes_top_n') #>> '{}')::int as top_n,
           (lifeboat.setting('checks.database_size_warn_bytes') #>> '{}')::numeric as db_warn
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
comment on function lifeboat.diagnose_sizes() is
  'Largest tables and the database size (uniform check shape; suite diagnostics in lifeboat.checks).';

-- Replication slots: an inactive slot keeps every WAL segment since its restart_lsn.
create or replace function lifeboat.diagnose_replication_slots()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
set jit = off
as $$
  with cfg as (
    select (lifeboat.setting('checks.slot_retained_warn_bytes') #>> '{}')::numeric as warn_at,
           (lifeboat.setting('checks.slot_retained_error_bytes') #>> '{}')::numeric as error_at
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
comment on function lifeboat.diagnose_replication_slots() is
  'WAL retained by replication slots (uniform check shape; suite diagnostics in lifeboat.checks).';

insert into lifeboat.checks (name, suite, position, description) values
  ('diagnose_bloat', 'diagnostics', 10, 'Table and B-tree index bloat (estimate)'),
  ('diagnose_cache_hit', 'diagnostics', 20, 'Buffer cache hit ratio'),
  ('diagnose_index_usage', 'diagnostics', 30, 'Share of scans that use an index, per big table'),
  ('diagnose_unused_indexes', 'diagnostics', 40, 'Indexes never scanned'),
  ('diagnose_duplicate_indexes', 'diagnostics', 50, 'Indexes with identical definitions'),
  ('diagnose_long_running_queries', 'diagnostics', 60, 'Queries and transactions running too long'),
  ('diagnose_blocking_locks', 'diagnostics', 70, 'Sessions waiting on a lock'),
  ('diagnose_connections', 'diagnostics', 80, 'Connections by role and client address'),
  ('diagnose_vacuum', 'diagnostics', 90, 'Dead rows and transaction ID age'),
  ('diagnose_sizes', 'diagnostics', 100, 'Largest tables and the database size'),
  ('diagnose_replication_slots', 'diagnostics', 110, 'WAL retained by replication slots')
on conflict (name) do update set suite = excluded.suite, position = excluded.position, description = excluded.description;

-- Belt and braces: whatever the defaults were, nothing here is granted to the API roles.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

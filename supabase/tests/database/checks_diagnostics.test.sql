-- Diagnostics (supabase inspect db / pg-extras): each function, its ok path and its problem path.
-- Thresholds are lowered through lifeboat.settings inside this transaction where the real
-- condition cannot be produced in one transaction.
begin;
select plan(36);

create schema "Diag Schema";
-- Bloat: 20,000 rows, 90% deleted, analyzed: the heap keeps its pages, the estimate drops.
create table "Diag Schema"."Bloaty ""Table""" (id int primary key, payload text);
insert into "Diag Schema"."Bloaty ""Table""" select i, repeat('x', 100) from generate_series(1, 20000) i;
delete from "Diag Schema"."Bloaty ""Table""" where id % 10 <> 0;
analyze "Diag Schema"."Bloaty ""Table""";
-- Duplicate and unused indexes.
create table "Diag Schema"."Dup Idx" (a int, "B" text);
create index "first one" on "Diag Schema"."Dup Idx" (a, "B");
create index "Second One" on "Diag Schema"."Dup Idx" (a, "B");
create index different on "Diag Schema"."Dup Idx" ("B", a);
create unique index uniq_a on "Diag Schema"."Dup Idx" (a);

-- bloat
select is((select level from lifeboat.diagnose_bloat() where object = '"Diag Schema"."Bloaty ""Table"""'), null,
  'below the 50 MB floor nothing is reported');
update lifeboat.settings set value = '0' where key = 'checks.bloat_min_bytes';
select is((select level from lifeboat.diagnose_bloat() where object = '"Diag Schema"."Bloaty ""Table"""'), 'error',
  'a table at ~10 times its expected size is an error (quoted name intact)');
select ok((select (metadata->>'ratio')::numeric from lifeboat.diagnose_bloat()
  where object = '"Diag Schema"."Bloaty ""Table"""') between 5 and 20, 'the ratio is about 10');
select ok((select remediation from lifeboat.diagnose_bloat() where object = '"Diag Schema"."Bloaty ""Table"""')
  like 'vacuum (analyze) "Diag Schema"."Bloaty ""Table""";%', 'the remediation names the table quoted');
select ok(exists (select from lifeboat.diagnose_bloat() where metadata->>'kind' = 'index'
  and object = '"Diag Schema"."Bloaty ""Table""_pkey"'), 'its primary key index is bloated too');
update lifeboat.settings set value = '1000' where key = 'checks.bloat_warn_ratio';
update lifeboat.settings set value = '1000' where key = 'checks.bloat_error_ratio';
select is((select array_agg(level) from lifeboat.diagnose_bloat()), array['ok'], 'with no bloat: a single ok row');

-- cache hit
select is((select count(*)::int from lifeboat.diagnose_cache_hit()), 2, 'cache_hit: a table row and an index row');
select ok((select bool_and(level in ('ok', 'warn', 'error')) from lifeboat.diagnose_cache_hit()), 'with valid levels');
update lifeboat.settings set value = '0' where key = 'checks.cache_hit_min_blocks';
update lifeboat.settings set value = '1.01' where key = 'checks.cache_hit_warn_ratio';
update lifeboat.settings set value = '0' where key = 'checks.cache_hit_error_ratio';
select is((select array_agg(level) from lifeboat.diagnose_cache_hit()), array['warn', 'warn'],
  'a ratio under the warn threshold warns');

-- index usage: the seed checked public.products with a sequential scan before this test.
select ok(exists (select from lifeboat.diagnose_index_usage() where object = 'tables' and level = 'ok')
  or exists (select from lifeboat.diagnose_index_usage() where level = 'warn'), 'index_usage runs');
update lifeboat.settings set value = '0' where key = 'checks.index_usage_min_rows';
update lifeboat.settings set value = '101' where key = 'checks.index_usage_warn_percent';
select is((select level from lifeboat.diagnose_index_usage() where object = 'public.products'), 'warn',
  'a table with sequential scans under the threshold warns');

-- unused indexes
update lifeboat.settings set value = '0' where key = 'checks.unused_index_min_bytes';
select is((select level from lifeboat.diagnose_unused_indexes() where object = '"Diag Schema".different'), 'warn',
  'a never-scanned index is reported');
select ok(not exists (select from lifeboat.diagnose_unused_indexes() where object = '"Diag Schema".uniq_a'),
  'unique indexes are never reported as unused');
select ok(not exists (select from lifeboat.diagnose_unused_indexes() where object like '%_pkey"' or object like '%_pkey'),
  'primary keys are never reported as unused');

-- duplicate indexes
select is((select metadata->'indexes' from lifeboat.diagnose_duplicate_indexes() where object = '"Diag Schema"."Dup Idx"'),
  '["Second One", "first one"]'::jsonb, 'the two identical indexes are reported together');
select is((select count(*)::int from lifeboat.diagnose_duplicate_indexes() where object = '"Diag Schema"."Dup Idx"'), 1,
  'and the index on the same columns in another order is not');
drop index "Diag Schema"."Second One";
select ok(not exists (select from lifeboat.diagnose_duplicate_indexes() where object = '"Diag Schema"."Dup Idx"'),
  'after dropping one, nothing is reported');

-- long-running queries and blocking locks (other sessions; this one is never reported)
select ok(not exists (select from lifeboat.diagnose_long_running_queries() where object = 'pid ' || pg_backend_pid()),
  'the calling session is not reported as long-running');
update lifeboat.settings set value = '"0 seconds"' where key = 'checks.long_query_warn';
select ok(not exists (select from lifeboat.diagnose_long_running_queries() where object = 'pid ' || pg_backend_pid()),
  'not even with a zero threshold');
select ok((select bool_and(level in ('ok', 'warn', 'error')) and count(*) >= 1 from lifeboat.diagnose_long_running_queries()),
  'long_running_query returns at least one row with a valid level');
select is((select level from lifeboat.diagnose_blocking_locks() where object = 'locks'), 'ok',
  'no blocked session: one ok row');

-- connections
select ok(exists (select from lifeboat.diagnose_connections() where object like current_user || '@%'
  and (metadata->>'connections')::int >= 1), 'connections lists this session''s role and address');
update lifeboat.settings set value = '0' where key = 'checks.connections_per_client_warn_ratio';
select ok((select bool_and(level = 'warn') from lifeboat.diagnose_connections()), 'a client over its share warns');

-- vacuum
select is((select level from lifeboat.diagnose_vacuum() where object = 'database'), 'ok',
  'a young database has no wraparound risk');
update lifeboat.settings set value = '0' where key = 'checks.xid_age_error';
select is((select level from lifeboat.diagnose_vacuum() where object = 'database'), 'error',
  'xid age over the error threshold is an error');

-- sizes
select is((select level from lifeboat.diagnose_sizes() where object = 'database'), 'ok', 'sizes: the database row');
select ok(exists (select from lifeboat.diagnose_sizes() where object = '"Diag Schema"."Bloaty ""Table"""'
  and (metadata->>'total_bytes')::bigint > 0), 'a table row with its sizes, quoted');
update lifeboat.settings set value = '1' where key = 'checks.sizes_top_n';
update lifeboat.settings set value = '1' where key = 'checks.database_size_warn_bytes';
select is((select count(*)::int from lifeboat.diagnose_sizes() where object <> 'database'), 1, 'sizes_top_n limits the list');
select is((select level from lifeboat.diagnose_sizes() where object = 'database'), 'warn', 'a database over the threshold warns');

-- replication slots (slots are not transactional: created and dropped explicitly)
do $$ begin
  perform pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = 'lifeboat_test_checks_slot';
end $$;
select case when exists (select from pg_replication_slots)
  then is((select count(*)::int from lifeboat.diagnose_replication_slots()), (select count(*)::int from pg_replication_slots),
    'one row per existing slot')
  else is((select array_agg(level || ':' || object) from lifeboat.diagnose_replication_slots()),
    array['ok:replication slots'], 'no slots: one ok row') end;
select pg_create_physical_replication_slot('lifeboat_test_checks_slot', true) is not null as created \gset
select is((select level from lifeboat.diagnose_replication_slots() where object = 'lifeboat_test_checks_slot'), 'ok',
  'a new inactive slot retaining little WAL is ok');
update lifeboat.settings set value = '0' where key = 'checks.slot_retained_warn_bytes';
select is((select level from lifeboat.diagnose_replication_slots() where object = 'lifeboat_test_checks_slot'), 'warn',
  'past the warn threshold it warns');
select ok((select remediation from lifeboat.diagnose_replication_slots() where object = 'lifeboat_test_checks_slot')
  like 'If nothing will read it again: select pg_drop_replication_slot(''lifeboat_test_checks_slot'');%',
  'an inactive slot''s remediation is to drop it');
update lifeboat.settings set value = '0' where key = 'checks.slot_retained_error_bytes';
select is((select level from lifeboat.diagnose_replication_slots() where object = 'lifeboat_test_checks_slot'), 'error',
  'past the error threshold it errors');
select pg_drop_replication_slot('lifeboat_test_checks_slot') is null as dropped \gset

-- Empty scope: with every user schema excluded, table-based diagnostics still answer.
update lifeboat.settings set value = (select jsonb_agg(nspname) from pg_namespace) where key = 'scope.extra_excluded_schemas';
select is((select array_agg(level || ':' || object) from lifeboat.diagnose_duplicate_indexes()), array['ok:indexes'],
  'no user tables: duplicate_index is one ok row');
select is((select count(*)::int from lifeboat.diagnose_sizes() where object <> 'database'), 0,
  'no user tables: sizes lists only the database');

select * from finish();
rollback;

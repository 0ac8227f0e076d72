-- lifeboat.check_integrity() and its parts, on awkward identifiers created in this transaction.
begin;
select plan(43);

-- Fixtures: a schema with a space and a non-ASCII letter, mixed-case and quoted table names,
-- a reserved word, a partitioned table, an unlogged table, a NOT VALID constraint, sequences.
create schema "Chk Schema ü";
create table "Chk Schema ü"."Mixed ""Quoted"" Table" (id int primary key, "select" text);
insert into "Chk Schema ü"."Mixed ""Quoted"" Table" values (1, 'a'), (2, null), (3, '\N');
create table "Chk Schema ü"."ünïcödé" (v text);
insert into "Chk Schema ü"."ünïcödé" values ('x');
create unlogged table "Chk Schema ü"."order" (id int primary key);
create table "Chk Schema ü"."Parted" (id int, region text, primary key (id, region)) partition by list (region);
create table "Chk Schema ü"."Parted EU" partition of "Chk Schema ü"."Parted" for values in ('eu');
create table "Chk Schema ü"."parted_us" partition of "Chk Schema ü"."Parted" for values in ('us');
insert into "Chk Schema ü"."Parted" values (1, 'eu'), (2, 'eu'), (3, 'us'), (4, 'us'), (5, 'us');
alter table "Chk Schema ü"."Mixed ""Quoted"" Table"
  add constraint "Positive ID" check (id > 0) not valid;
create sequence "Chk Schema ü"."Almost Done" maxvalue 100;
do $$ begin perform setval('"Chk Schema ü"."Almost Done"', 95); end $$;
create sequence "Chk Schema ü".halfway maxvalue 100;
do $$ begin perform setval('"Chk Schema ü".halfway', 80); end $$;
-- A bigint sequence feeding an int column: its real limit is the column's.
create sequence "Chk Schema ü".feeds_int as bigint;
create table "Chk Schema ü".small_keys (id int default nextval('"Chk Schema ü".feeds_int') primary key);
alter sequence "Chk Schema ü".feeds_int owned by "Chk Schema ü".small_keys.id;
do $$ begin perform setval('"Chk Schema ü".feeds_int', 2000000000); end $$;
create sequence "Chk Schema ü".roomy as bigint;
do $$ begin perform setval('"Chk Schema ü".roomy', 2000000000); end $$;
create schema chk_empty;

create temp table r on commit drop as
  select * from lifeboat.check_integrity(exact_counts => true, only_schemas => array['Chk Schema ü']);

-- Scope
select ok('auth' = any (lifeboat.managed_schemas()) and 'lifeboat' = any (lifeboat.managed_schemas())
  and 'extensions' = any (lifeboat.managed_schemas()), 'managed_schemas() lists Supabase and Lifeboat schemas');
select ok(lifeboat.managed_schemas() <@ lifeboat.excluded_schemas(), 'excluded_schemas() includes every managed schema');
select ok(not exists (select from lifeboat.user_tables() where schema_name = any (lifeboat.managed_schemas())),
  'user_tables() returns nothing from managed schemas');
select is((select count(*)::int from lifeboat.user_tables() where schema_name = 'Chk Schema ü'), 7,
  'user_tables() finds the 7 fixture tables, partitions included');

-- Row counts (exact)
select is((select metadata->>'rows' from r where "check" = 'row_count'
  and object = format('%I.%I', 'Chk Schema ü', 'Mixed "Quoted" Table')), '3', 'exact count of a quoted mixed-case table');
select is((select metadata->>'rows' from r where "check" = 'row_count'
  and object = format('%I.%I', 'Chk Schema ü', 'ünïcödé')), '1', 'exact count of a unicode-named table');
select is((select metadata->>'rows' from r where "check" = 'row_count'
  and object = format('%I.%I', 'Chk Schema ü', 'order')), '0', 'exact count of a reserved-word table');
select is((select metadata->>'rows' from r where "check" = 'row_count' and object = '"Chk Schema ü"."Parted"'),
  '5', 'a partitioned parent counts all its partitions');
select is((select (metadata->>'partitions')::int from r where "check" = 'row_count' and object = '"Chk Schema ü"."Parted"'),
  2, 'the parent row says how many partitions');
select is((select metadata->>'rows' from r where "check" = 'row_count' and object = '"Chk Schema ü"."Parted EU"'),
  '2', 'each partition is counted on its own too');
select is((select count(*)::int from r where "check" = 'row_count'), 7, 'one row_count row per table');
select ok((select bool_and(level = 'ok' and (metadata->>'exact')::boolean) from r where "check" = 'row_count'),
  'exact counts are ok rows marked exact');

-- Row counts (estimates): never analyzed is a warning; after ANALYZE the estimate is there.
select is((select level from lifeboat.check_row_counts(false, array['Chk Schema ü'])
  where object = '"Chk Schema ü"."ünïcödé"'), 'warn', 'a never-analyzed table has no estimate and warns');
analyze "Chk Schema ü"."Mixed ""Quoted"" Table";
select is((select metadata->>'rows' from lifeboat.check_row_counts(false, array['Chk Schema ü'])
  where object = format('%I.%I', 'Chk Schema ü', 'Mixed "Quoted" Table')), '3', 'after ANALYZE the estimate is the row count');
select ok((select remediation from lifeboat.check_row_counts(false, array['Chk Schema ü'])
  where object = '"Chk Schema ü"."ünïcödé"') like 'analyze "Chk Schema ü"."ünïcödé";%',
  'the remediation is a paste-able ANALYZE with quoted names');

-- Unvalidated constraints
select is((select level from r where "check" = 'unvalidated_constraint'
  and object = format('%I.%I.%I', 'Chk Schema ü', 'Mixed "Quoted" Table', 'Positive ID')), 'warn',
  'a NOT VALID check constraint is reported');
select ok((select remediation from r where "check" = 'unvalidated_constraint' and level = 'warn')
  = format('alter table %I.%I validate constraint %I;', 'Chk Schema ü', 'Mixed "Quoted" Table', 'Positive ID'),
  'the remediation validates it by its quoted name');
alter table "Chk Schema ü"."Mixed ""Quoted"" Table" validate constraint "Positive ID";
select is((select array_agg(level) from lifeboat.check_unvalidated_constraints(array['Chk Schema ü'])), array['ok'],
  'once validated, a single ok row');

-- Invalid indexes (an invalid index needs CREATE INDEX CONCURRENTLY to fail, impossible in a
-- transaction; here: all fixture indexes are valid)
select is((select array_agg(level) from r where "check" = 'invalid_index'), array['ok'], 'valid indexes: one ok row');

-- Primary keys: the unicode table has none; partitions are covered by their parent.
select is((select level from r where "check" = 'no_primary_key' and object = '"Chk Schema ü"."ünïcödé"'), 'warn',
  'a table without a primary key is reported');
select is((select count(*)::int from r where "check" = 'no_primary_key'), 1, 'only that table (partitions not repeated)');

-- Unlogged tables
select is((select level from r where "check" = 'unlogged_table' and object = '"Chk Schema ü"."order"'), 'warn',
  'an unlogged table is reported under its quoted reserved-word name');
select is((select count(*)::int from r where "check" = 'unlogged_table'), 1, 'only the unlogged table');

-- Sequences
select is((select level from r where "check" = 'sequence_exhaustion' and object = '"Chk Schema ü"."Almost Done"'),
  'error', 'a sequence at 95% of its range is an error');
select is((select level from r where "check" = 'sequence_exhaustion' and object = '"Chk Schema ü".halfway'),
  'warn', 'a sequence at 80% of its range is a warning');
select is((select level from r where "check" = 'sequence_exhaustion' and object = '"Chk Schema ü".feeds_int'),
  'error', 'a bigint sequence feeding an int column is judged against the int limit');
select ok((select remediation from r where "check" = 'sequence_exhaustion' and object = '"Chk Schema ü".feeds_int')
  like 'alter table "Chk Schema ü".small_keys alter column id type bigint;%', 'and the fix widens the column');
select ok(not exists (select from r where "check" = 'sequence_exhaustion' and object = '"Chk Schema ü".roomy'),
  'the same value in a bigint sequence is fine');
update lifeboat.settings set value = '0.99' where key = 'checks.sequence_error_ratio';
select is((select level from lifeboat.check_sequences(array['Chk Schema ü']) where object = '"Chk Schema ü"."Almost Done"'),
  'warn', 'thresholds come from lifeboat.settings');

-- B-tree check: runs where postgres may execute amcheck, and otherwise (not installed, as
-- on hosted Supabase where postgres cannot create it, or not granted) says so in one
-- warning instead of failing. checks_amcheck.test.sql forces both of those paths.
select case when (select executable from lifeboat.amcheck_status())
  then is((select level || ':' || (metadata->>'checked') from r where "check" = 'btree_corruption'), 'ok:5',
    'all 5 B-tree indexes in the schema were checked')
  else is((select level || ':' || (metadata->>'reason') from r where "check" = 'btree_corruption'),
    (select case when installed then 'warn:permission' else 'warn:not_installed' end from lifeboat.amcheck_status()),
    'without amcheck rights: one warning naming the permission (or the missing extension)') end;
select case when (select executable from lifeboat.amcheck_status())
  then is((select level || ':' || (metadata->>'skipped') from lifeboat.check_btree_indexes('0 seconds', false, array['Chk Schema ü'])),
    'warn:5', 'a spent budget reports the skipped indexes')
  else ok((select remediation from r where "check" = 'btree_corruption')
      like (select case when installed then 'As a superuser: grant execute%' else '%create extension amcheck%' end
            from lifeboat.amcheck_status()),
    'the warning says how to grant it (or how to get the extension)') end;
-- Corruption: an index on an "immutable" function whose result then changes no longer matches its heap.
create function "Chk Schema ü".flip(int) returns int language plpgsql immutable as 'begin return $1; end';
create table "Chk Schema ü".corrupt (id int);
insert into "Chk Schema ü".corrupt select generate_series(1, 100);
create index "Corrupt Idx" on "Chk Schema ü".corrupt ("Chk Schema ü".flip(id));
create or replace function "Chk Schema ü".flip(int) returns int language plpgsql immutable as 'begin return -$1; end';
select case when (select executable from lifeboat.amcheck_status())
  then is((select level from lifeboat.check_btree_indexes('30 seconds', true, array['Chk Schema ü'])
    where object = '"Chk Schema ü"."Corrupt Idx"'), 'error', 'a corrupt index is an error')
  else is((select count(*)::int from lifeboat.check_btree_indexes('30 seconds', true, array['Chk Schema ü'])), 1,
    'without amcheck rights nothing is attempted') end;

-- Uniform shape, quoted objects, and no row without a level
select ok((select bool_and(level in ('ok', 'warn', 'error')) from r), 'every row has level ok, warn or error');
select ok((select bool_and(detail <> '' and metadata is not null) from r), 'every row has a detail and metadata');
select is((select array_agg(distinct "check" order by "check") from r),
  array['btree_corruption', 'invalid_index', 'no_primary_key', 'row_count', 'sequence_exhaustion',
        'unlogged_table', 'unvalidated_constraint'], 'check_integrity() runs all seven checks');

-- Default call covers user schemas (the seed's public tables) and ignores managed schemas.
create table extensions.lifeboat_test_hidden (id int);
select ok(exists (select from lifeboat.check_integrity() where "check" = 'row_count' and object = 'public.orders'),
  'the default scope includes public');
select ok(not exists (select from lifeboat.check_integrity() where object like 'extensions.%'),
  'managed schemas (extensions) are left out');
update lifeboat.settings set value = '["Chk Schema ü"]' where key = 'scope.extra_excluded_schemas';
select ok(not exists (select from lifeboat.check_row_counts() where object like '"Chk Schema ü".%'),
  'scope.extra_excluded_schemas removes a schema from every check');
select ok('Chk Schema ü' = any (lifeboat.excluded_schemas()), 'and excluded_schemas() lists it');

-- Empty scope: a schema with no tables gives the summary ok rows and nothing else.
select is((select count(*)::int from lifeboat.check_integrity(only_schemas => array['chk_empty']) where "check" = 'row_count'), 0,
  'an empty schema has no row_count rows');
select ok((select bool_and(level = 'ok' or (level = 'warn' and "check" = 'btree_corruption'))
  from lifeboat.check_integrity(only_schemas => array['chk_empty'])), 'an empty schema is all ok');
select is((select count(*)::int from lifeboat.check_integrity(only_schemas => array['chk_empty'])), 6,
  'one summary row for each of the six other checks');
select lives_ok($$select * from lifeboat.check_integrity(true, '1 second', array['no such schema'])$$,
  'a schema filter that matches nothing is not an error');

select * from finish();
rollback;

-- lifeboat.fingerprint() v2 (lifeboat-fp-v2, per-column value hashes), the algorithm-selecting
-- overload lifeboat.fingerprint(target, algorithm) and lifeboat.fingerprint_sql().
begin;
select plan(49);

-- Every column kind the v2 definition treats differently, in a source schema and a faithful copy
-- whose user-defined types (enum, composite, domains, collation) are separate objects with new
-- oids, as after a restore.
create schema "FP2 Source";
create schema "fp2 copy";
create type "FP2 Source".mood as enum ('sad', 'ok', 'happy');
create type "fp2 copy".mood as enum ('happy', 'sad', 'ok');  -- other oids, other sort order
create type "FP2 Source".pair as (a int, b text);
create type "fp2 copy".pair as (a int, b text);
create domain "FP2 Source".positive as int check (value > 0);
create domain "fp2 copy".positive as int check (value > 0);
create domain "FP2 Source".label as varchar(20);
create domain "fp2 copy".label as varchar(20);
create domain "FP2 Source".moody as "FP2 Source".mood;
create domain "fp2 copy".moody as "fp2 copy".mood;
create collation "FP2 Source".ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
create collation "fp2 copy".ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
create table "FP2 Source"."All Kinds" (
  id int primary key, i2 int2, i8 int8, f4 float4, f8 float8, n numeric, nn numeric(12, 2),
  t text, vc varchar(10), bp char(3), nm name, ch "char", bo boolean, by bytea,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid,
  jb jsonb, js json, x xml, ip inet, cd cidr, mac macaddr, mac8 macaddr8, lsn pg_lsn,
  ia int[], ta text[], ja jsonb[], m "FP2 Source".mood, ma "FP2 Source".mood[], dom "FP2 Source".positive,
  lab "FP2 Source".label, md "FP2 Source".moody, comp "FP2 Source".pair, r int4range, tr tstzrange,
  pt point, tsv tsvector, mon money, vb bit varying, ci text collate "FP2 Source".ci, "select" text, "a""b" text
);
create table "fp2 copy"."All Kinds" (
  id int primary key, i2 int2, i8 int8, f4 float4, f8 float8, n numeric, nn numeric(12, 2),
  t text, vc varchar(10), bp char(3), nm name, ch "char", bo boolean, by bytea,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid,
  jb jsonb, js json, x xml, ip inet, cd cidr, mac macaddr, mac8 macaddr8, lsn pg_lsn,
  ia int[], ta text[], ja jsonb[], m "fp2 copy".mood, ma "fp2 copy".mood[], dom "fp2 copy".positive,
  lab "fp2 copy".label, md "fp2 copy".moody, comp "fp2 copy".pair, r int4range, tr tstzrange,
  pt point, tsv tsvector, mon money, vb bit varying, ci text collate "fp2 copy".ci, "select" text, "a""b" text
);
-- Rows 1 and 2 differ in every column (the change and swap tests rely on it); 3 is all NULL.
insert into "FP2 Source"."All Kinds" values
  (1, 1, 4294967296, 'NaN', '-Infinity', 'NaN', 1.50, 'plain', 'vc', 'ab', 'nm', 'a', true, '\x00ff',
   '-infinity', '00:00:01', '12:00:00+01', 'infinity', '2026-01-02 03:04:05.123456+00', '1 day 02:03:04',
   '00000000-0000-0000-0000-000000000001', '{"b": 1, "a": [1, 2]}', '{"b": 1,  "a": [1, 2]}', '<a>x</a>',
   '10.0.0.1/8', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', '0/16B3748',
   '{1,NULL,3}', '{"x y",NULL,""}', array['[]'::jsonb, '{}'], 'happy', '{sad,happy}', 7, 'label one', 'ok', '(1,"a b")',
   '[1,5)', '[2026-01-01,2026-02-01)', '(1.5,-2)', 'a fat cat', '12.34', B'1010', 'ABC', 'select', 'q"uote'),
  (2, -1, 1, '-0', 'NaN', 'Infinity', 2.5, '', 'VC', 'a', '', 'b', false, '',
   'infinity', '23:59:59.999999', '12:00:00-01', '-infinity', '1970-01-01 00:00:00+00', '-1 mons',
   'ffffffff-ffff-ffff-ffff-ffffffffffff', '[]', '[]', '<b/>', '::1', '::/0', '00:00:00:00:00:00',
   '00:00:00:00:00:00:00:00', '0/0', '{}', '{}', '{}', 'sad', '{}', 1, '', 'sad', '(,)', 'empty', 'empty',
   '(0,0)', '', '-0.01', B'', 'abc', '', ''),
  (3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null, null),
  (4, 32767, -9223372036854775808, 1e-30, 1e300, '-Infinity', -0.01, e'line\nbreak\ttab', '\N', ' x', 'Nm', ' ',
   true, '\x5c4e', '2026-02-28', '12:34:56', '00:00:00+00', '2000-01-01 00:00:00', '-infinity',
   '-1 days +24:00:00', '00000000-0000-0000-0000-000000000000', '{}', '{}', 'text only', '192.168.1.1',
   '192.168.1.0/24', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', 'FFFFFFFF/FFFFFFFF', '{{1,2},{3,4}}',
   '{a,b}', '{null}', 'ok', '{ok,ok}', 2147483647, 'x', 'happy', '(2,)', '(,)', '(,2026-01-01)', '(1e300,-0)',
   'z:1A', '-92233720368547758.08', B'1', 'abc', null, 'x');
insert into "fp2 copy"."All Kinds"
select id, i2, i8, f4, f8, n, nn, t, vc, bp, nm, ch, bo, by, d, tm, ttz, ts, tstz, iv, u, jb, js, x, ip, cd, mac,
  mac8, lsn, ia, ta, ja, m::text::"fp2 copy".mood, ma::text::"fp2 copy".mood[], dom, lab, md::text::"fp2 copy".moody,
  comp::text::"fp2 copy".pair, r, tr, pt, tsv, mon, vb, ci, "select", "a""b"
from "FP2 Source"."All Kinds" order by id desc;

-- Copy-stable, named, and the default.
select is(lifeboat.fingerprint('"FP2 Source"."All Kinds"'), lifeboat.fingerprint('"fp2 copy"."All Kinds"'),
  'v2: a copy in another schema, with its own enum, composite, domain and collation objects and the rows in another order, gives the same fingerprint');
select is(lifeboat.fingerprint('"FP2 Source"."All Kinds"')->>'algorithm', 'lifeboat-fp-v2', 'the default algorithm is lifeboat-fp-v2');
select is(lifeboat.fingerprint('"FP2 Source"."All Kinds"'), lifeboat.fingerprint('"FP2 Source"."All Kinds"', 'lifeboat-fp-v2'),
  'fingerprint(t) is fingerprint(t, ''lifeboat-fp-v2'')');
select is(fp->>'fingerprint', format('v2:%s:%s', fp->>'rows', fp->>'hash_sum'), 'fingerprint is v2:<rows>:<hash_sum>')
from (select lifeboat.fingerprint('"FP2 Source"."All Kinds"') as fp) x;
select is((lifeboat.fingerprint('"FP2 Source"."All Kinds"')->>'rows')::int, 4, 'rows is the row count');
select isnt(lifeboat.fingerprint('"FP2 Source"."All Kinds"')->>'hash_sum', lifeboat.fingerprint('"FP2 Source"."All Kinds"', 'lifeboat-fp-v1')->>'hash_sum',
  'v1 and v2 are different hashes');

-- v1 through the two-argument form: exactly what the first definition (tests/fixtures/fingerprint_v1.sql) computed
-- for these rows (recorded before v2 existed), so manifests written with v1 still verify.
select is(lifeboat.fingerprint('"FP2 Source"."All Kinds"', 'lifeboat-fp-v1'),
  '{"rows": 4, "hash_sum": "-2418604783504594908", "algorithm": "lifeboat-fp-v1", "fingerprint": "v1:4:-2418604783504594908"}'::jsonb,
  'v1 gives the value the original v1 function gave');
select is(lifeboat.fingerprint('"fp2 copy"."All Kinds"', 'lifeboat-fp-v1'), lifeboat.fingerprint('"FP2 Source"."All Kinds"', 'lifeboat-fp-v1'),
  'v1 is equal on the copy too');

-- Session settings that change text output (used for enums, json, xml, ranges, money, ...) do not matter.
create temp table fp2_utc on commit drop as select lifeboat.fingerprint('"FP2 Source"."All Kinds"') as fp;
set local timezone = 'Pacific/Kiritimati';
set local datestyle = 'SQL, DMY';
set local intervalstyle = 'iso_8601';
set local extra_float_digits = -3;
set local bytea_output = 'escape';
set local lc_monetary = 'C.UTF-8';
select is(lifeboat.fingerprint('"FP2 Source"."All Kinds"'), (select fp from fp2_utc),
  'TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output and lc_monetary do not matter');
reset timezone; reset datestyle; reset intervalstyle; reset extra_float_digits; reset bytea_output; reset lc_monetary;

-- Parallel workers (partial sums) give the same numbers as one backend.
create table "FP2 Source".many as
  select g as id, g::text as t, (g % 3 = 0) as b, case when g % 5 = 0 then null else g * 1.5 end as n
  from generate_series(1, 3000) g;
create temp table fp2_serial on commit drop as select lifeboat.fingerprint('"FP2 Source".many') as fp;
set local max_parallel_workers_per_gather = 2;
set local min_parallel_table_scan_size = 0;
set local parallel_setup_cost = 0;
set local parallel_tuple_cost = 0;
select is(lifeboat.fingerprint('"FP2 Source".many'), (select fp from fp2_serial), 'a parallel plan gives the same fingerprint');
reset max_parallel_workers_per_gather; reset min_parallel_table_scan_size; reset parallel_setup_cost; reset parallel_tuple_cost;

-- The documented definition, written out for a two-column table.
create table "FP2 Source".def (id int, t text);
insert into "FP2 Source".def values (1, 'a'), (2, null), (null, '');
select is(lifeboat.fingerprint('"FP2 Source".def')->>'hash_sum',
  (select sum(hashint4extended(0,
      coalesce(hashint4extended(1, id::int8), hashint4extended(-1, 0))
    # coalesce(hashtextextended(t collate "C", 2), hashint4extended(-2, 0))))::text
   from "FP2 Source".def),
  'hash_sum is the sum of hashint4extended(0, x_1 # x_2) as docs/sql.md defines it');
select is(lifeboat.fingerprint_sql('"FP2 Source".def', 'lifeboat-fp-v2'),
  'select count(*), coalesce(sum(pg_catalog.hashint4extended(0, '
  'coalesce(pg_catalog.hashint4extended(1, (id)::int8), pg_catalog.hashint4extended(-1, 0)) # '
  'coalesce(pg_catalog.hashtextextended((t) collate "C", 2), pg_catalog.hashint4extended(-2, 0)))), 0) '
  'from only "FP2 Source".def',
  'fingerprint_sql shows the query');

-- Every column, one at a time: copying row 2's value into row 1, or swapping the values of
-- rows 1 and 2, changes the fingerprint. Each experiment is rolled back by a subtransaction.
create function pg_temp.insensitive_columns(rel regclass, mode text) returns text[]
language plpgsql as $fn$
declare
  c record;
  base jsonb := lifeboat.fingerprint(rel);
  same boolean;
  missed text[] := '{}';
begin
  for c in
    select a.attname from pg_attribute a
    where a.attrelid = rel and a.attnum > 1 and not a.attisdropped order by a.attnum
  loop
    begin
      if mode = 'change' then
        execute format('update %1$s set %2$I = (select %2$I from %1$s where id = 2) where id = 1', rel, c.attname);
      else
        execute format('update %1$s d set %2$I = s.%2$I from %1$s s where (d.id, s.id) in ((1, 2), (2, 1))', rel, c.attname);
      end if;
      same := lifeboat.fingerprint(rel) = base;
      raise exception using errcode = 'LB000';
    exception when sqlstate 'LB000' then
      null;
    end;
    if same then
      missed := missed || c.attname::text;
    end if;
  end loop;
  return missed;
end
$fn$;
select is(pg_temp.insensitive_columns('"fp2 copy"."All Kinds"', 'change'), '{}'::text[],
  'changing one value of any column kind changes the fingerprint');
select is(pg_temp.insensitive_columns('"fp2 copy"."All Kinds"', 'swap'), '{}'::text[],
  'swapping the values of two rows in any column kind changes the fingerprint (the row hash is not linear)');
select is(lifeboat.fingerprint('"FP2 Source"."All Kinds"'), lifeboat.fingerprint('"fp2 copy"."All Kinds"'),
  'and every experiment was rolled back');

-- Values that PostgreSQL's own hashes confuse, and NULL, are told apart. Each value is the
-- only row of a one-column table; the counts are of distinct hash_sums.
create function pg_temp.distinct_hashes(typ text, vals text[]) returns int
language plpgsql as $fn$
declare
  v text;
  sums text[] := '{}';
begin
  foreach v in array vals loop
    execute format('create temp table fp2_one (c %s)', typ);
    execute format('insert into fp2_one values (%L::%s)', v, typ);
    sums := sums || (lifeboat.fingerprint('fp2_one')->>'hash_sum');
    drop table fp2_one;
  end loop;
  return (select count(distinct s) from unnest(sums) s);
end
$fn$;
select is(pg_temp.distinct_hashes('text', array[null, '', '\N', 'NULL']), 4, 'text: NULL, '''', \N and NULL differ');
select is(pg_temp.distinct_hashes('jsonb', array[null, '[]', '{}', 'null', '[[]]', '""', '0']), 7,
  'jsonb: NULL, [], {}, null, [[]], "" and 0 differ (jsonb_hash_extended alone gives [] = {})');
select is(pg_temp.distinct_hashes('numeric', array[null, 'NaN', 'Infinity', '-Infinity', '0']), 5,
  'numeric: NULL, NaN, Infinity, -Infinity and 0 differ (hash_numeric_extended alone gives them one value)');
select is(pg_temp.distinct_hashes('bigint', array[null, '0', '1', '4294967296', '-1', '-4294967297']), 6,
  'bigint: 1 and 4294967296 differ (hashint8extended folds 64 bits to 32)');
select is(pg_temp.distinct_hashes('float8', array[null, 'NaN', 'Infinity', '-Infinity', '0']), 5, 'float8: NULL, NaN, ±Infinity and 0 differ');
select is(pg_temp.distinct_hashes('bytea', array[null, '', '\x00']), 3, 'bytea: NULL, empty and a zero byte differ');
select is(pg_temp.distinct_hashes('int[]', array[null, '{}', '{NULL}', '{0}']), 4, 'int[]: NULL, {}, {NULL} and {0} differ');
select is(pg_temp.distinct_hashes('text collate "FP2 Source".ci', array['ABC', 'abc']), 2,
  'a nondeterministic collation does not make different strings hash alike (hashed under "C")');
select is(pg_temp.distinct_hashes('"FP2 Source".mood', array[null, 'sad', 'ok']), 3, 'enum labels differ');
-- Documented equalities: the value hashes identify values that compare equal.
select is(pg_temp.distinct_hashes('numeric', array['1.0', '1.00', '1']), 1, 'numeric 1.0, 1.00 and 1 hash alike (documented)');
select is(pg_temp.distinct_hashes('float8', array['0', '-0']), 1, 'float8 0 and -0 hash alike (documented)');
select is(pg_temp.distinct_hashes('interval', array['1 day', '24 hours']), 1, 'interval 1 day and 24 hours hash alike (documented)');

-- Position- and NULL-aware rows.
create table "FP2 Source".ab (a text, b text);
create table "FP2 Source".ba (a text, b text);
insert into "FP2 Source".ab values ('x', null);
insert into "FP2 Source".ba values (null, 'x');
select isnt(lifeboat.fingerprint('"FP2 Source".ab'), lifeboat.fingerprint('"FP2 Source".ba'), 'a NULL moved to the other column changes it');
truncate "FP2 Source".ab, "FP2 Source".ba;
insert into "FP2 Source".ab values ('x', 'y');
insert into "FP2 Source".ba values ('y', 'x');
select isnt(lifeboat.fingerprint('"FP2 Source".ab'), lifeboat.fingerprint('"FP2 Source".ba'), 'two values swapped between columns change it');
truncate "FP2 Source".ab, "FP2 Source".ba;
insert into "FP2 Source".ab values (null, null);
insert into "FP2 Source".ba values ('', null);
select isnt(lifeboat.fingerprint('"FP2 Source".ab'), lifeboat.fingerprint('"FP2 Source".ba'), 'NULL and the empty string differ');
create table "FP2 Source".swap1 (k int, v int);
create table "FP2 Source".swap2 (k int, v int);
insert into "FP2 Source".swap1 values (1, 10), (2, 20);
insert into "FP2 Source".swap2 values (1, 20), (2, 10);
select isnt(lifeboat.fingerprint('"FP2 Source".swap1'), lifeboat.fingerprint('"FP2 Source".swap2'), 'two values swapped between rows change it');
select is(lifeboat.fingerprint('"FP2 Source".swap1')->>'rows', lifeboat.fingerprint('"FP2 Source".swap2')->>'rows', 'with the same row count');

-- Duplicates count: a sum, not a xor.
create table "FP2 Source".dups (v text);
create table "FP2 Source".single (v text);
create table "FP2 Source".dups2 (v text);
insert into "FP2 Source".dups values ('a'), ('a');
insert into "FP2 Source".single values ('a');
insert into "FP2 Source".dups2 values ('b'), ('b');
select is((lifeboat.fingerprint('"FP2 Source".dups')->>'hash_sum')::numeric,
  2 * (lifeboat.fingerprint('"FP2 Source".single')->>'hash_sum')::numeric, 'a duplicated row is counted twice');
select isnt(lifeboat.fingerprint('"FP2 Source".dups')->>'hash_sum', lifeboat.fingerprint('"FP2 Source".dups2')->>'hash_sum',
  'two pairs of different duplicates differ');

-- Relation kinds, as in v1: a partitioned parent covers its partitions (whatever their
-- physical column order), an inheritance parent only its own rows.
create table "FP2 Source"."Parted" (id int, region text, note jsonb) partition by list (region);
create table "FP2 Source"."Parted EU" partition of "FP2 Source"."Parted" for values in ('eu');
create table "FP2 Source".parted_us (note jsonb, region text, id int);
alter table "FP2 Source"."Parted" attach partition "FP2 Source".parted_us for values in ('us');
create table "fp2 copy".flat (id int, region text, note jsonb);
insert into "FP2 Source"."Parted" values (1, 'eu', '{"a": 1}'), (2, 'us', '[]'), (3, 'us', null);
insert into "fp2 copy".flat values (3, 'us', null), (2, 'us', '[]'), (1, 'eu', '{"a": 1}');
select is(lifeboat.fingerprint('"FP2 Source"."Parted"'), lifeboat.fingerprint('"fp2 copy".flat'),
  'a partitioned parent equals a plain table with the same rows');
create table "FP2 Source".parent (v int);
create table "FP2 Source".child () inherits ("FP2 Source".parent);
insert into "FP2 Source".parent values (1);
insert into "FP2 Source".child values (2);
select is((lifeboat.fingerprint('"FP2 Source".parent')->>'rows')::int, 1, 'an inheritance parent covers only its own rows');
create materialized view "FP2 Source".mv as select * from "FP2 Source".single;
select is(lifeboat.fingerprint('"FP2 Source".mv'), lifeboat.fingerprint('"FP2 Source".single'), 'a materialized view can be fingerprinted');
create table "FP2 Source".empty (id int);
select is(lifeboat.fingerprint('"FP2 Source".empty'),
  '{"rows": 0, "hash_sum": "0", "algorithm": "lifeboat-fp-v2", "fingerprint": "v2:0:0"}'::jsonb, 'an empty table');
create table "FP2 Source".nocols ();
insert into "FP2 Source".nocols default values;
insert into "FP2 Source".nocols default values;
select is((lifeboat.fingerprint('"FP2 Source".nocols')->>'rows')::int, 2, 'a table without columns has rows');
alter table "FP2 Source".def drop column id;
create table "FP2 Source".def2 (t text);
insert into "FP2 Source".def2 select t from "FP2 Source".def;
select is(lifeboat.fingerprint('"FP2 Source".def'), lifeboat.fingerprint('"FP2 Source".def2'), 'dropped columns are left out of the positions');

-- Bad input.
create view "FP2 Source".v as select 1 as x;
select throws_ok($$select lifeboat.fingerprint('"FP2 Source".v')$$, '42809', null, 'v2: a view is refused');
select throws_ok($$select lifeboat.fingerprint('"FP2 Source".v', 'lifeboat-fp-v1')$$, '42809', null, 'v1: a view is refused');
select throws_ok($$select lifeboat.fingerprint(0::regclass, 'lifeboat-fp-v2')$$, '42P01', null, 'a dangling oid is refused');
select throws_ok($$select lifeboat.fingerprint('"FP2 Source".single', 'lifeboat-fp-v3')$$, '22023',
  'lifeboat.fingerprint: unknown algorithm ''lifeboat-fp-v3''', 'an unknown algorithm is refused');
select throws_ok($$select lifeboat.fingerprint('"FP2 Source".single', null)$$, '22023',
  'lifeboat.fingerprint: unknown algorithm NULL', 'a NULL algorithm is refused');
create function pg_temp.hint_of(stmt text) returns text language plpgsql as $fn$
declare h text;
begin
  execute stmt;
  return null;
exception when others then
  get stacked diagnostics h = pg_exception_hint;
  return h;
end
$fn$;
select matches(pg_temp.hint_of($$select lifeboat.fingerprint('"FP2 Source".single', 'md5')$$),
  'lifeboat-fp-v2.*lifeboat-fp-v1', 'the error names the algorithms there are');

-- The API roles can call none of it.
set local role anon;
select throws_ok($$select lifeboat.fingerprint('"FP2 Source".single', 'lifeboat-fp-v2')$$, '42501', null, 'anon cannot call fingerprint(regclass, text)');
reset role;
set local role service_role;
select throws_ok($$select lifeboat.fingerprint_sql('"FP2 Source".single', 'lifeboat-fp-v2')$$, '42501', null, 'service_role cannot call fingerprint_sql');
reset role;
select ok(not has_function_privilege('authenticated', 'lifeboat.fingerprint(regclass, text)', 'execute')
  and not has_function_privilege('authenticated', 'lifeboat.fingerprint_sql(regclass, text)', 'execute')
  and not has_function_privilege('anon', 'lifeboat.fingerprint_sql(regclass, text)', 'execute'),
  'no EXECUTE for anon or authenticated on either');

select * from finish();
rollback;

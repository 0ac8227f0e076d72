-- lifeboat.fingerprint(target, 'lifeboat-fp-v1'): the original algorithm (hash of the row text),
-- kept so manifests written with it still verify. v2, the default, is checks_fingerprint_v2.test.sql.
begin;
select plan(24);

create schema "FP Source";
create schema "fp copy ü";
create type "FP Source".mood as enum ('sad', 'ok', 'happy');
create table "FP Source"."All Types" (
  id int primary key,
  t text, j json, jb jsonb, arr int[], b bytea, n numeric, f float8, ts timestamptz, d date,
  iv interval, m "FP Source".mood, u uuid, bo boolean, r int4range, "select" text
);
-- Same column definitions (enum type shared), rows inserted in the opposite order.
create table "fp copy ü"."All Types" (like "FP Source"."All Types" including all);

insert into "FP Source"."All Types" values
  (1, 'plain', '{"b": 1, "a": [1, 2]}', '{"b": 1, "a": [1, 2]}', '{1,NULL,3}', '\x00ff', 'NaN', 'NaN',
   'infinity', '-infinity', '1 day 02:03:04', 'happy', '00000000-0000-0000-0000-000000000001', true, '[1,5)', 'x'),
  (2, '\N', 'null', 'null', '{}', '', '1.50', '-0', '-infinity', 'infinity', '-1 mons', 'sad', null, false, 'empty', null),
  (3, '', null, null, null, null, null, 1e300, '2026-01-02 03:04:05.123456+00', '2026-01-02', null, null, null, null, null, '"quoted", (parens)'),
  (4, null, '[]', '{}', '{{1,2},{3,4}}', '\x5c4e', '-0.000001', 3.141592653589793, '1970-01-01 00:00:00+00', '0001-01-01', '0', 'ok', null, null, '(,)', e'line\nbreak\ttab');
insert into "fp copy ü"."All Types" select * from "FP Source"."All Types" order by id desc;

select is(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1'), lifeboat.fingerprint('"fp copy ü"."All Types"', 'lifeboat-fp-v1'),
  'the same rows in another schema, inserted in another order, give the same fingerprint');
select is((lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1')->>'rows')::int, 4, 'rows is the row count');
select is(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1')->>'algorithm', 'lifeboat-fp-v1', 'the algorithm is named');
select is(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1')->>'fingerprint',
  format('v1:%s:%s', lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1')->>'rows', lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1')->>'hash_sum'),
  'fingerprint is v1:<rows>:<hash_sum>');

-- The documented definition: sum of hashtextextended(row::text, 0) under the pinned settings.
set local timezone = 'UTC';
set local datestyle = 'ISO, YMD';
set local intervalstyle = 'postgres';
set local extra_float_digits = 1;
set local bytea_output = 'hex';
select is(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1')->>'hash_sum',
  (select sum(hashtextextended(x::text, 0))::text from "FP Source"."All Types" x),
  'hash_sum is the sum of hashtextextended(row::text, 0) under the settings docs/sql.md lists');

-- Session settings that change text output do not change the fingerprint.
create temp table fp_utc on commit drop as select lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1') as fp;
set local timezone = 'Pacific/Kiritimati';
set local datestyle = 'SQL, DMY';
set local intervalstyle = 'iso_8601';
set local extra_float_digits = -3;
set local bytea_output = 'escape';
select is(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1'), (select fp from fp_utc),
  'TimeZone, DateStyle, IntervalStyle, extra_float_digits and bytea_output do not matter');
reset timezone; reset datestyle; reset intervalstyle; reset extra_float_digits; reset bytea_output;

-- One changed value changes it; so does a row more or less.
update "fp copy ü"."All Types" set f = 'NaN' where id = 3;
select isnt(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1'), lifeboat.fingerprint('"fp copy ü"."All Types"', 'lifeboat-fp-v1'),
  'one changed float changes the fingerprint');
update "fp copy ü"."All Types" set f = 1e300 where id = 3;
select is(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1'), lifeboat.fingerprint('"fp copy ü"."All Types"', 'lifeboat-fp-v1'),
  'changing it back restores equality');
update "fp copy ü"."All Types" set jb = '{"a": [1, 2], "b": 2}' where id = 1;
select isnt(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1'), lifeboat.fingerprint('"fp copy ü"."All Types"', 'lifeboat-fp-v1'),
  'one changed jsonb value changes the fingerprint');
delete from "fp copy ü"."All Types" where id = 1;
select isnt(lifeboat.fingerprint('"FP Source"."All Types"', 'lifeboat-fp-v1')->>'hash_sum', lifeboat.fingerprint('"fp copy ü"."All Types"', 'lifeboat-fp-v1')->>'hash_sum',
  'a missing row changes hash_sum');
select is((lifeboat.fingerprint('"fp copy ü"."All Types"', 'lifeboat-fp-v1')->>'rows')::int, 3, 'and rows');

-- Duplicates count (a xor would cancel them), and NULL, '' and '\N' all differ.
create table "FP Source".dups (v text);
create table "FP Source".single (v text);
create table "FP Source".dups2 (v text);
insert into "FP Source".dups values ('a'), ('a');
insert into "FP Source".single values ('a');
insert into "FP Source".dups2 values ('b'), ('b');
select is((lifeboat.fingerprint('"FP Source".dups', 'lifeboat-fp-v1')->>'hash_sum')::numeric,
  2 * (lifeboat.fingerprint('"FP Source".single', 'lifeboat-fp-v1')->>'hash_sum')::numeric, 'a duplicated row is counted twice');
select isnt(lifeboat.fingerprint('"FP Source".dups', 'lifeboat-fp-v1')->>'hash_sum', lifeboat.fingerprint('"FP Source".dups2', 'lifeboat-fp-v1')->>'hash_sum',
  'two pairs of different duplicates differ (they would both xor to 0)');
create table "FP Source".n1 (v text);
create table "FP Source".n2 (v text);
create table "FP Source".n3 (v text);
insert into "FP Source".n1 values (null);
insert into "FP Source".n2 values ('\N');
insert into "FP Source".n3 values ('');
select isnt(lifeboat.fingerprint('"FP Source".n1', 'lifeboat-fp-v1'), lifeboat.fingerprint('"FP Source".n2', 'lifeboat-fp-v1'), 'NULL and the string \N differ');
select isnt(lifeboat.fingerprint('"FP Source".n1', 'lifeboat-fp-v1'), lifeboat.fingerprint('"FP Source".n3', 'lifeboat-fp-v1'), 'NULL and the empty string differ');

-- A column named like the row alias must not be hashed instead of the row.
create table "FP Source".aliased (r text, r_ text);
create table "FP Source".aliased2 (r text, r_ text);
insert into "FP Source".aliased values ('same', 'one');
insert into "FP Source".aliased2 values ('same', 'two');
select isnt(lifeboat.fingerprint('"FP Source".aliased', 'lifeboat-fp-v1'), lifeboat.fingerprint('"FP Source".aliased2', 'lifeboat-fp-v1'),
  'columns named r and r_ do not hide the rest of the row');

-- Partitioned parent: covers every partition, even one with a different physical column order.
create table "FP Source"."Parted" (id int, region text, note text) partition by list (region);
create table "FP Source"."Parted EU" partition of "FP Source"."Parted" for values in ('eu');
create table "FP Source".parted_us (note text, region text, id int);
alter table "FP Source"."Parted" attach partition "FP Source".parted_us for values in ('us');
create table "fp copy ü".flat (id int, region text, note text);
insert into "FP Source"."Parted" values (1, 'eu', 'a'), (2, 'us', 'b'), (3, 'us', null);
insert into "fp copy ü".flat values (3, 'us', null), (2, 'us', 'b'), (1, 'eu', 'a');
select is(lifeboat.fingerprint('"FP Source"."Parted"', 'lifeboat-fp-v1'), lifeboat.fingerprint('"fp copy ü".flat', 'lifeboat-fp-v1'),
  'a partitioned parent equals a plain table with the same rows');
select is((lifeboat.fingerprint('"FP Source"."Parted EU"', 'lifeboat-fp-v1')->>'rows')::int, 1, 'a partition alone covers itself');

-- Plain inheritance: the parent counts only its own rows (ONLY), children are separate tables.
create table "FP Source".parent (v int);
create table "FP Source".child () inherits ("FP Source".parent);
insert into "FP Source".parent values (1);
insert into "FP Source".child values (2);
select is((lifeboat.fingerprint('"FP Source".parent', 'lifeboat-fp-v1')->>'rows')::int, 1, 'an inheritance parent covers only its own rows');

-- Empty table, materialized view, and bad input.
create table "FP Source".empty (id int);
select is(lifeboat.fingerprint('"FP Source".empty', 'lifeboat-fp-v1'),
  '{"rows": 0, "hash_sum": "0", "algorithm": "lifeboat-fp-v1", "fingerprint": "v1:0:0"}'::jsonb, 'an empty table');
create materialized view "FP Source".mv as select * from "FP Source".single;
select is(lifeboat.fingerprint('"FP Source".mv', 'lifeboat-fp-v1'), lifeboat.fingerprint('"FP Source".single', 'lifeboat-fp-v1'),
  'a materialized view can be fingerprinted');
create view "FP Source".v as select 1 as x;
select throws_ok($$select lifeboat.fingerprint('"FP Source".v', 'lifeboat-fp-v1')$$, '42809', null, 'a view is refused');
select throws_ok($$select lifeboat.fingerprint('"FP Source".no_such_table', 'lifeboat-fp-v1')$$, '42P01', null, 'a missing table is refused');
select throws_ok($$select lifeboat.fingerprint(0::regclass, 'lifeboat-fp-v1')$$, '42P01', null, 'a dangling oid is refused');

select * from finish();
rollback;

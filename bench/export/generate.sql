-- Bench data in schema `bench`: several tables, narrow and wide rows, jsonb documents and
-- TOASTed values. psql variables: rows_from, rows_to (the range of ids to add; re-run with a
-- later range to grow the database). About 1 GB per 2.2 million ids.
set client_min_messages = warning;
create schema if not exists bench;
create table if not exists bench.orders (
  id bigint primary key, customer_id int not null, created_at timestamptz not null,
  status text not null, total numeric(12, 2) not null, note text);
create table if not exists bench.events (
  id bigint primary key, at timestamptz not null, kind text not null, payload jsonb not null);
create table if not exists bench.wide (
  id bigint primary key, a1 int, a2 int, a3 bigint, a4 float8, a5 float8, a6 numeric, a7 text, a8 text,
  a9 text, a10 timestamptz, a11 date, a12 uuid, a13 boolean, a14 int[], a15 text, a16 interval);
create table if not exists bench.documents (
  id bigint primary key, title text not null, body text not null);

insert into bench.orders
select g, g % 50000, timestamptz '2024-01-01' + g * interval '13 seconds',
  (array['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4], (g % 100000) / 100.0,
  case when g % 3 = 0 then 'gift wrap ' || md5(g::text) end
from generate_series(:rows_from::bigint, :rows_to::bigint) g;

insert into bench.events
select g, timestamptz '2024-01-01' + g * interval '1 second', (array['view', 'click', 'buy'])[1 + g % 3],
  jsonb_build_object('user', g % 7919, 'path', '/products/' || (g % 997), 'ref', md5(g::text),
    'tags', jsonb_build_array('a', g % 10, 'campaign-' || (g % 50)))
from generate_series(:rows_from::bigint, :rows_to::bigint) g;

insert into bench.wide
select g, g % 1000, g % 77, g * 31, g / 7.0, sqrt(g), g * 1.5, md5(g::text), 'label-' || (g % 1000),
  repeat('x', (g % 40)::int), timestamptz '2020-01-01' + g * interval '1 minute', date '2020-01-01' + (g % 3000)::int,
  md5(g::text)::uuid, g % 2 = 0, array[g % 10, g % 100, g % 1000], 'status ' || (g % 13), (g % 500) * interval '1 minute'
from generate_series(:rows_from::bigint, :rows_to::bigint) g;

-- One document per 60 ids, ~9 KB of text each: TOASTed (stored compressed by pglz).
insert into bench.documents
select g, 'document ' || g,
  (select string_agg(md5((g * 1000 + i)::text) || ' lorem ipsum dolor sit amet ' || (i * g % 9973), ' ')
   from generate_series(1, 140) i)
from generate_series(:rows_from::bigint, :rows_to::bigint) g where g % 60 = 0;

analyze bench.orders, bench.events, bench.wide, bench.documents;
select pg_size_pretty(sum(pg_total_relation_size(c.oid))) as total, sum(pg_table_size(c.oid)) as table_bytes
from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'bench' and c.relkind = 'r';

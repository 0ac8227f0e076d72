-- A ~1 GB benchmark schema for bench/restore: narrow rows with jsonb, wide text rows, and
-- TOASTed bytea. Deterministic. Scale with -v scale=N (1 = about 1 GB on disk).
\if :{?scale}
\else
  \set scale 1
\endif
set client_min_messages = warning;
drop schema if exists bench cascade;
create schema bench;

create table bench.events (
  id bigint primary key,
  at timestamptz not null,
  kind text not null,
  user_id integer not null,
  amount numeric(12, 2),
  payload jsonb not null
);
insert into bench.events
select g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
  (array['click', 'view', 'buy', 'share'])[1 + g % 4], g % 100000, (g % 100000) / 100.0,
  jsonb_build_object('ua', 'Mozilla/5.0 ' || md5(g::text), 'n', g, 'tags', jsonb_build_array(g % 7, g % 11))
from generate_series(1, (2000000 * :scale)::bigint) g;
create index events_user_idx on bench.events (user_id);
create index events_at_idx on bench.events (at);

create table bench.docs (
  id integer primary key,
  title text not null,
  body text not null
);
insert into bench.docs
select g, 'Document ' || g,
  (select string_agg(md5(g::text || ':' || i), ' ') from generate_series(1, 40) i)
from generate_series(1, (250000 * :scale)::int) g;
create index docs_title_idx on bench.docs (title);

create table bench.blobs (
  id integer primary key,
  doc_id integer references bench.docs (id),
  data bytea not null
);
insert into bench.blobs
select g, g, decode((select string_agg(md5(g::text || '/' || i), '') from generate_series(1, 3000) i), 'hex')
from generate_series(1, (2000 * :scale)::int) g;

analyze bench.events, bench.docs, bench.blobs;
select pg_size_pretty(sum(pg_total_relation_size(c.oid))) as bench_size
from pg_class c where c.relnamespace = 'bench'::regnamespace and c.relkind = 'r';

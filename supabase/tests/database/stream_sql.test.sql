-- Continuous capture's SQL surface without a slot (slots cannot be created in a transaction that
-- wrote, which every pgTAP file is; the Deno stack tests create them): privileges, settings,
-- the security definer event trigger function, refusals.
begin;
select plan(9);

select is(
  (select count(*)::int from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace and p.proname like 'stream%'
     and exists (select from unnest(array['anon', 'authenticated']) r where has_function_privilege(r, p.oid, 'execute'))),
  0, 'no API role may execute a stream function');
select ok((select count(*) from pg_catalog.pg_proc p where p.pronamespace = 'lifeboat'::regnamespace and p.proname like 'stream%') >= 15,
  'the stream functions exist');
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_catalog.pg_proc p
   where p.pronamespace = 'lifeboat'::regnamespace and p.proname like 'stream%' and p.prosecdef),
  array['stream_capture_ddl'], 'only the DDL event trigger function is security definer (any role''s DDL is captured)');
select ok((select proconfig from pg_catalog.pg_proc where oid = 'lifeboat.stream_capture_ddl()'::regprocedure) @> array['search_path=""'],
  'and it pins search_path');
select is((select count(*)::int from lifeboat.settings where key like 'stream.%' and value = default_value), 12,
  'twelve stream settings seeded with their defaults (1100 and the shipper liveness, 1450)');
select throws_ok($$select lifeboat.stream_enable('keep')$$, '22023', null, 'an unknown no_primary_key choice is refused');
select is((select count(*)::int from lifeboat.check_stream_slot()), 0, 'no health row while no stream is enabled');
select is(lifeboat.stream_guard() ->> 'action', 'none', 'the guard does nothing without a stream');
select ok(lifeboat.stream_filter_tables(array['public.a\,b']) ~ 'lifeboat\.stream_state' and
  lifeboat.stream_filter_tables() !~ 'stream_ddl', 'the filter leaves out Lifeboat''s tables but stream_ddl');

select * from finish();
rollback;

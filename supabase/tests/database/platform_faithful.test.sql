-- The local stack is a faithful Supabase project: `postgres` has exactly the powers hosted
-- supautils gives it. Everything here runs as postgres inside one transaction, rolled back.
begin;
select plan(22);

-- Not a superuser, and the platform's roles are out of reach.
select is((select rolsuper from pg_catalog.pg_roles where rolname = 'postgres'), false, 'postgres is not a superuser');
select is((select rolsuper from pg_catalog.pg_roles where rolname = 'supabase_admin'), true, 'supabase_admin is the superuser');
select throws_ok($$alter role supabase_admin nosuperuser$$, '42501', null, 'postgres cannot alter supabase_admin');
select throws_ok($$alter role postgres superuser$$, '42501', null, 'postgres cannot make itself a superuser');
select throws_ok($$grant pg_read_server_files to postgres$$, '42501', null,
  'postgres cannot grant itself a reserved membership (pg_read_server_files)');
select throws_ok($$grant authenticator to postgres$$, '42501', null, 'nor authenticator');
select throws_ok($$copy (select 1) to program 'id'$$, '42501', null, 'COPY TO PROGRAM is refused');

-- Privileged extensions: created through supautils; amcheck is not among them.
select lives_ok($$drop extension pg_net; create extension pg_net with schema extensions$$,
  'postgres can create pg_net');
select lives_ok($$drop extension pgcrypto cascade; create extension pgcrypto with schema extensions$$,
  'postgres can create pgcrypto');
select lives_ok($$drop extension pg_cron cascade; create extension pg_cron$$, 'postgres can create pg_cron');
select is((select extversion from pg_catalog.pg_extension where extname = 'pg_cron'), '1.6', 'pg_cron is 1.6, as hosted');
select is((select extnamespace::regnamespace::text from pg_catalog.pg_extension where extname = 'pg_cron'), 'pg_catalog',
  'supautils puts pg_cron in pg_catalog, as hosted');
select throws_ok($$create extension amcheck$$, '42501', null, 'postgres cannot create amcheck');

-- What a Supabase app does as postgres.
select lives_ok($$set local session_replication_role = replica$$, 'postgres can set session_replication_role');
reset session_replication_role;
select lives_ok($$create policy faithful_probe on storage.objects for select to authenticated using (owner = auth.uid())$$,
  'postgres can create a policy on storage.objects');
create function public.faithful_probe_trigger() returns trigger language plpgsql as $$ begin return new; end $$;
select lives_ok($$create trigger faithful_probe after insert on auth.users for each row execute function public.faithful_probe_trigger()$$,
  'postgres can create a trigger on auth.users');
select lives_ok($$create publication faithful_probe for table public.products$$, 'postgres can create a publication');
create function public.faithful_probe_event() returns event_trigger language plpgsql as $$ begin end $$;
select lives_ok($$create event trigger faithful_probe on ddl_command_end execute function public.faithful_probe_event()$$,
  'postgres can create an event trigger');

-- auth.uid() is the sub of the request's JWT claims, as PostgREST sets them.
set local request.jwt.claims = '{"sub": "11111111-2222-3333-4444-555555555555", "role": "authenticated"}';
select is(auth.uid(), '11111111-2222-3333-4444-555555555555'::uuid, 'auth.uid() returns the sub of the JWT claims');
select is(auth.role(), 'authenticated', 'auth.role() returns its role');

-- GoTrue's schema and Vault are the real ones.
select ok((select count(*) from auth.schema_migrations) >= 70, 'GoTrue''s migrations are recorded in auth.schema_migrations');
select is((select extversion from pg_catalog.pg_extension where extname = 'supabase_vault'), '0.3.1', 'Vault is supabase_vault 0.3.1');

select * from finish();
rollback;

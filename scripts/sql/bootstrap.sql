-- What a hosted Supabase project database already has before any migration runs, reduced
-- to what Lifeboat relies on. Run by the local stack as the superuser (supabase_admin) over
-- the private socket. Idempotent.
--
-- The point is fidelity: `postgres` is NOT a superuser here, exactly as on hosted Supabase,
-- so a migration that quietly needs superuser fails locally too.

do $$
begin
  if not exists (select from pg_roles where rolname = 'postgres') then
    create role postgres;
  end if;
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_superuser') then
    create role supabase_superuser nologin;
  end if;
end
$$;

-- Hosted: NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS.
alter role postgres with nosuperuser createdb createrole login replication bypassrls password 'postgres';
alter role authenticator with password 'authenticator';
grant supabase_superuser to postgres;
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
alter database postgres owner to postgres;

create schema if not exists extensions;
alter schema extensions owner to postgres;
grant usage on schema extensions to anon, authenticated, service_role;
alter database postgres set search_path to "$user", public, extensions;

-- Extensions a Supabase project has (or lets postgres enable through supautils).
create extension if not exists pg_stat_statements with schema extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists amcheck with schema extensions;
-- Supabase grants amcheck's B-tree checks to postgres (amcheck/after-create.sql).
grant execute on function extensions.bt_index_check(regclass), extensions.bt_index_check(regclass, boolean),
  extensions.bt_index_parent_check(regclass), extensions.bt_index_parent_check(regclass, boolean),
  extensions.bt_index_parent_check(regclass, boolean, boolean) to postgres;
create extension if not exists pgtap with schema extensions;
create extension if not exists pg_cron;

-- pg_cron as Supabase's grant_pg_cron_access event trigger grants it: everything in cron with
-- grant option, except cron.job, which postgres may only read (jobs change through functions).
grant usage on schema cron to postgres with grant option;
grant all privileges on all tables in schema cron to postgres with grant option;
grant all privileges on all sequences in schema cron to postgres with grant option;
grant execute on all functions in schema cron to postgres with grant option;
revoke all on table cron.job from postgres;
grant select on table cron.job to postgres with grant option;

-- pg_stat_statements and friends: postgres is a member of pg_read_all_stats on Supabase.
grant pg_read_all_stats, pg_monitor, pg_signal_backend to postgres;

-- The public schema as PostgREST exposes it.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;

-- Lifeboat in-project restore drills (issue 19 item 2): the state behind the backup-drill edge
-- function. A drill job restores the newest backup, unit by unit (a few tables of one schema),
-- into scratch schemas of this database, resuming across invocations; it is recorded in
-- lifeboat.drills (details.where = 'in-project') like the drills of `lifeboat drill`.
-- Opt-in: nothing is scheduled until drill.identity_secret names the Vault secret holding the
-- drill's age identity. Runs as the owner role (postgres, not a superuser). Idempotent.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('drill.identity_secret', 'null'::jsonb,
   'Name of the Vault secret holding the age identity used only for in-project drills (AGE-SECRET-KEY-1…); null = in-project drills are off (opt-in)'),
  ('drill.kill_switch', 'false',
   'true: backup-drill refuses to start, and a running drill stops at its next step, drops its scratch schemas and is recorded as stopped'),
  ('drill.max_bytes', '1073741824',
   'Uncompressed bytes a drill restores at most; a larger backup is drilled on a random sample of tables (recorded as sampled)'),
  ('drill.unit_bytes', '33554432',
   'Uncompressed bytes of one unit of work (tables of one schema restored together in one invocation); a bigger table is a unit of its own'),
  ('drill.statement_timeout_ms', '120000', 'statement_timeout of the drill''s sessions (ms)'),
  ('drill.lock_timeout_ms', '2000', 'lock_timeout of the drill''s sessions (ms): a drill never queues behind production locks'),
  ('drill.budget.wall_ms', '100000', 'Wall-clock budget of one backup-drill invocation (free plan limit: 150 s)'),
  ('drill.budget.cpu_ms', '1500', 'CPU budget of one backup-drill invocation (platform limit: 2 s)'),
  ('drill.lease', '"3 minutes"', 'An invocation holds a drill job this long (renewed after every unit); keep above the platform wall-clock limit'),
  ('drill.stale_after', '"30 minutes"', 'A drill job nobody worked for this long is failed (interrupted) and its scratch schemas dropped'),
  ('drill.max_attempts', '3', 'Attempts per unit before it counts as failed'),
  ('drill.assertions_schema', '"lifeboat_drill_tests"',
   'Schema of the user''s pgTAP test functions (test_*) that every in-project drill runs with runtests() against the restored copy'),
  ('drill.trusted_keys', '[]',
   'Ed25519 public keys (one-line base64 or SPKI PEM) whose backups a drill trusts, besides the public half of the project''s own signing key'),
  ('drill.continue', 'true', 'When an invocation runs out of budget, it triggers its own continuation')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

create table if not exists lifeboat.drill_jobs (
  id bigint generated always as identity primary key,
  -- The drill's record; the job's outcome is written there.
  drill_id bigint not null references lifeboat.drills (id) on delete cascade,
  state text not null default 'running' check (state in ('running', 'completed', 'failed')),
  target text not null,
  backup_id text not null,
  sampled boolean not null default false,
  -- The invocation working the job holds it until lease_until (renewed after every unit).
  worker text,
  lease_until timestamptz,
  invocations integer not null default 0,
  work_ms bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  error text,
  details jsonb not null default '{}'
);
comment on table lifeboat.drill_jobs is
  'In-project restore drills (backup-drill): one row per drill job, worked by one invocation at a time under a lease.';
-- One running drill at a time: two would double the load the drill puts on production.
create unique index if not exists drill_jobs_one_running on lifeboat.drill_jobs ((true)) where state = 'running';

create table if not exists lifeboat.drill_units (
  job_id bigint not null references lifeboat.drill_jobs (id) on delete cascade,
  position integer not null,
  source_schema text not null,
  -- [{"schema": …, "name": …}] restored together into scratch_schema.
  tables jsonb not null,
  bytes bigint not null default 0,
  scratch_schema text not null check (scratch_schema ~ '^lifeboat_drill_j[0-9]+_u[0-9]+$'),
  state text not null default 'pending' check (state in ('pending', 'done')),
  attempts integer not null default 0,
  -- Restored tables with their fingerprint outcome, rows, bytes, findings.
  result jsonb,
  primary key (job_id, position)
);
comment on table lifeboat.drill_units is
  'The units of an in-project drill job: tables of one schema restored together into their own scratch schema.';

insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep, filter, position, description) values
  ('lifeboat', 'drill_jobs', 'created_at', interval '90 days', 'state <> ''running''', 85,
   'Finished in-project drill jobs and their units: 90 days (the drill itself stays in lifeboat.drills)')
on conflict (schema_name, table_name) do nothing;

-- The scratch schemas of drill jobs that are not running (finished, failed, or never
-- recorded): what the next drill drops before it starts. Names: lifeboat_drill_j<job>_u<n>
-- (the tables of unit n).
create or replace function lifeboat.drill_leftover_schemas()
returns setof text
language sql
stable
set search_path = ''
as $$
  select n.nspname::text from pg_catalog.pg_namespace n
  where n.nspname ~ '^lifeboat_drill_j[0-9]+_u[0-9]+$'
    and not exists (
      select from lifeboat.drill_jobs j
      where j.state = 'running' and j.id = (pg_catalog.substring(n.nspname, '^lifeboat_drill_j([0-9]+)_'))::bigint)
  order by 1
$$;
comment on function lifeboat.drill_leftover_schemas() is
  'Scratch schemas of in-project drills that no running drill job owns (left by a drill killed mid-way).';

-- Whether an export (backup-export job or `lifeboat backup`) is under way: drills never run at
-- the same time.
create or replace function lifeboat.export_running()
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (select from lifeboat.backup_runs r where r.state in ('planned', 'running'))
$$;
comment on function lifeboat.export_running() is 'True while a backup run is planned or running (in-project drills wait for it).';

-- pg_cron safety net: resumes a drill job whose lease lapsed (a lost continuation, or an
-- invocation killed mid-way); backup-drill itself fails jobs idle past drill.stale_after.
create or replace function lifeboat.drill_tick()
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  j lifeboat.drill_jobs;
begin
  select * into j from lifeboat.drill_jobs x
  where x.state = 'running' and (x.lease_until is null or x.lease_until < pg_catalog.now())
  order by x.id limit 1;
  if j.id is null then
    return 'idle';
  end if;
  perform lifeboat.invoke('backup-drill', pg_catalog.jsonb_build_object('resume', true));
  return 'resumed ' || j.id::text;
end
$$;
comment on function lifeboat.drill_tick() is
  'pg_cron safety net: invokes backup-drill to resume a drill job whose lease lapsed.';

do $$
begin
  insert into lifeboat.schedules (name, schedule, command, enabled, requires_setting, description) values
    ('drill-weekly', '17 4 * * 1', $c$select lifeboat.invoke('backup-drill', '{}')$c$, true, 'drill.identity_secret',
     'Weekly in-project restore drill (Monday 04:17 UTC); installed once drill.identity_secret is set'),
    ('drill-resume', '*/5 * * * *', 'select lifeboat.drill_tick()', true, 'drill.identity_secret',
     'Every 5 minutes: resume an in-project drill whose invocation was lost; installed once drill.identity_secret is set')
  on conflict (name) do nothing;
  perform lifeboat.apply_schedules();
end
$$;

-- Nothing here is granted to the API roles: the function connects as the owner role.
revoke all on lifeboat.drill_jobs, lifeboat.drill_units from public, anon, authenticated;
revoke all on function lifeboat.drill_leftover_schemas(), lifeboat.export_running(), lifeboat.drill_tick()
  from public, anon, authenticated;

-- Drills report back (issue 19): every restore drill, wherever it ran (in the project, from
-- a laptop, from CI), is a lifeboat.drills row that says where it ran, what it restored into,
-- whether it sampled tables, and which backup (and how old) it restored. Drills that run
-- elsewhere record themselves through lifeboat.report_drill(), callable by the service role
-- (and the owner), never by anon or authenticated.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

alter table lifeboat.drills
  add column if not exists backup_id text,
  add column if not exists backup_taken_at timestamptz,
  add column if not exists ran_in text not null default 'cli',
  add column if not exists runner text not null default '',
  add column if not exists restored_into text,
  add column if not exists sampled boolean not null default false;

do $$
begin
  if not exists (select from pg_catalog.pg_constraint
                 where conname = 'drills_ran_in' and conrelid = 'lifeboat.drills'::pg_catalog.regclass) then
    alter table lifeboat.drills add constraint drills_ran_in check (ran_in in ('project', 'cli', 'ci'));
  end if;
  if not exists (select from pg_catalog.pg_constraint
                 where conname = 'drills_restored_into' and conrelid = 'lifeboat.drills'::pg_catalog.regclass) then
    alter table lifeboat.drills add constraint drills_restored_into
      check (restored_into in ('scratch_schema', 'scratch_database', 'project'));
  end if;
end
$$;
comment on column lifeboat.drills.ran_in is 'Where the drill ran: project (a scheduled drill inside it), cli (a machine), ci';
comment on column lifeboat.drills.runner is 'Free text naming the runner (e.g. a CI job), as its reporter gave it';
comment on column lifeboat.drills.restored_into is 'scratch_schema, scratch_database or project (a new Supabase project)';
comment on column lifeboat.drills.sampled is 'True when the drill restored only a sample of the tables (size limit)';
comment on column lifeboat.drills.backup_taken_at is 'The restored backup''s recovery point: drill objectives count only drills of a recent enough backup';

-- drill_backup_taken_at(drill): the recovery point of the backup a drill restored: as the
-- drill reported it, else from the project's record of the backup.
create or replace function lifeboat.drill_backup_taken_at(d lifeboat.drills)
returns timestamptz
language sql
stable
set search_path = ''
as $$
  select coalesce(d.backup_taken_at,
    (select coalesce(b.snapshot_at, b.started_at, b.finished_at) from lifeboat.backup_runs b where b.id = d.backup_run_id))
$$;
comment on function lifeboat.drill_backup_taken_at(lifeboat.drills) is
  'The recovery point of the backup a drill restored (reported, else from lifeboat.backup_runs).';

-- report_drill(report): records a finished drill that ran anywhere. The report is jsonb:
--   backup_id (required, e.g. 20261122T031100Z-a1b2c3d4), success (required), started_at,
--   finished_at (required), measured_rto_seconds (required), objective_seconds (default: the
--   'database' RTO), ran_in ('cli' | 'ci' | 'project'; default 'cli'), runner, restored_into,
--   sampled, backup_taken_at (the backup's start, when the project has no record of it),
--   system (default 'database'), details (object, at most 64 kB).
-- Returns the drill's id. Bad input raises invalid_parameter_value with what to fix.
create or replace function lifeboat.report_drill(report jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  bid text := report ->> 'backup_id';
  run_id bigint;
  taken timestamptz;
  started timestamptz;
  finished timestamptz;
  rto double precision;
  objective double precision;
  id bigint;
begin
  if report is null or pg_catalog.jsonb_typeof(report) <> 'object' then
    raise exception 'report_drill: the report must be a JSON object' using errcode = 'invalid_parameter_value';
  end if;
  if bid is null or bid !~ '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$' then
    raise exception 'report_drill: backup_id must be a backup id like 20261122T031100Z-a1b2c3d4'
      using errcode = 'invalid_parameter_value';
  end if;
  if pg_catalog.jsonb_typeof(report -> 'success') is distinct from 'boolean' then
    raise exception 'report_drill: success must be true or false' using errcode = 'invalid_parameter_value';
  end if;
  if pg_catalog.jsonb_typeof(report -> 'measured_rto_seconds') is distinct from 'number'
     or (report ->> 'measured_rto_seconds')::double precision < 0 then
    raise exception 'report_drill: measured_rto_seconds must be a number of seconds >= 0' using errcode = 'invalid_parameter_value';
  end if;
  if report ? 'objective_seconds' and (pg_catalog.jsonb_typeof(report -> 'objective_seconds') is distinct from 'number'
     or (report ->> 'objective_seconds')::double precision <= 0) then
    raise exception 'report_drill: objective_seconds must be a number of seconds > 0' using errcode = 'invalid_parameter_value';
  end if;
  if coalesce(report ->> 'ran_in', 'cli') not in ('cli', 'ci', 'project') then
    raise exception 'report_drill: ran_in must be cli, ci or project' using errcode = 'invalid_parameter_value';
  end if;
  if report ? 'restored_into' and report ->> 'restored_into' not in ('scratch_schema', 'scratch_database', 'project') then
    raise exception 'report_drill: restored_into must be scratch_schema, scratch_database or project'
      using errcode = 'invalid_parameter_value';
  end if;
  if report ? 'sampled' and pg_catalog.jsonb_typeof(report -> 'sampled') is distinct from 'boolean' then
    raise exception 'report_drill: sampled must be true or false' using errcode = 'invalid_parameter_value';
  end if;
  if pg_catalog.length(coalesce(report ->> 'runner', '')) > 200 then
    raise exception 'report_drill: runner is longer than 200 characters' using errcode = 'invalid_parameter_value';
  end if;
  if report ? 'details' and (pg_catalog.jsonb_typeof(report -> 'details') <> 'object'
     or pg_catalog.octet_length((report -> 'details')::text) > 65536) then
    raise exception 'report_drill: details must be a JSON object of at most 64 kB' using errcode = 'invalid_parameter_value';
  end if;
  begin
    finished := (report ->> 'finished_at')::timestamptz;
    started := coalesce((report ->> 'started_at')::timestamptz,
      finished - pg_catalog.make_interval(secs => (report ->> 'measured_rto_seconds')::double precision));
    taken := (report ->> 'backup_taken_at')::timestamptz;
  exception when others then
    raise exception 'report_drill: started_at, finished_at and backup_taken_at must be ISO 8601 timestamps'
      using errcode = 'invalid_parameter_value';
  end;
  if finished is null or finished > pg_catalog.now() + interval '5 minutes' or started > finished then
    raise exception 'report_drill: finished_at is required, not in the future, and not before started_at'
      using errcode = 'invalid_parameter_value';
  end if;

  select b.id, coalesce(b.snapshot_at, b.started_at, b.finished_at) into run_id, taken
  from lifeboat.backup_runs b
  where lifeboat.backup_id_of(b.manifest_key) = bid or b.metadata ->> 'backup_id' = bid
  order by b.id desc limit 1;
  if run_id is null then
    taken := (report ->> 'backup_taken_at')::timestamptz;
  end if;
  rto := (report ->> 'measured_rto_seconds')::double precision;
  objective := coalesce((report ->> 'objective_seconds')::double precision,
    (select extract(epoch from o.rto) from lifeboat.recovery_time_objectives o
     where o.system = coalesce(report ->> 'system', 'database')));

  insert into lifeboat.drills (backup_run_id, backup_id, backup_taken_at, system, started_at, finished_at, measured_rto,
    objective, success, ran_in, runner, restored_into, sampled, details)
  values (run_id, bid, taken, coalesce(report ->> 'system', 'database'), started, finished,
    pg_catalog.make_interval(secs => rto),
    case when objective is null then null else pg_catalog.make_interval(secs => objective) end,
    (report ->> 'success')::boolean, coalesce(report ->> 'ran_in', 'cli'), coalesce(report ->> 'runner', ''),
    report ->> 'restored_into', coalesce((report ->> 'sampled')::boolean, false),
    coalesce(report -> 'details', '{}') || pg_catalog.jsonb_build_object('reported_by', session_user::text))
  returning drills.id into id;
  return id;
end
$$;
comment on function lifeboat.report_drill(jsonb) is
  'Records a finished restore drill that ran anywhere (CLI, CI, the project), with where it ran; callable by service_role.';

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;
-- The service role may report drills (and only that): usage of the schema lets it resolve
-- the function; it is granted nothing else in lifeboat.
grant usage on schema lifeboat to service_role;
grant execute on function lifeboat.report_drill(jsonb) to service_role;

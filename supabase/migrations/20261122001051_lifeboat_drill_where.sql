-- Where a drill ran, what it restored into, whether it sampled, and which backup: the columns
-- the status logic of issue 19 reads (drills that report back, drill objectives). The same
-- definitions as that logic's own migration, each created only when missing, so whichever runs
-- first makes them and the other changes nothing. backup-drill writes ran_in = 'project' and
-- restored_into = 'scratch_schema'. Runs as the owner role. Idempotent.

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

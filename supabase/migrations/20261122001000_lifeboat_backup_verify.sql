-- Every backup verified by the project itself (issue 19): the queue the backup-verify edge
-- function works from. A completed backup (a backup-export job's finalize, or a CLI backup
-- recorded in the project) asks for its verification at once (trigger below); a pg_cron
-- sweep asks again for any completed backup that has none, and resumes verifications whose
-- invocation died. A verification is one lifeboat.verification_runs row (kind 'backup',
-- source 'backup-verify'), claimed with a lease, its progress saved between invocations.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('verify.on_completion', 'true'::jsonb,
   'A backup that completes invokes backup-verify at once (the sweep still catches any it misses)'),
  ('verify.lookback', '"7 days"', 'The sweep verifies completed backups that finished within this interval and have no verification'),
  ('verify.trusted_keys', '[]',
   'Ed25519 public keys (SPKI PEM or its one-line MCowBQYDK2VwAyEA… form) backup-verify trusts, besides the public half of the project''s own signing key'),
  ('verify.budget.wall_ms', '120000', 'Wall-clock budget of one backup-verify invocation (free plan limit: 150 s)'),
  ('verify.budget.cpu_ms', '1500', 'CPU budget of one backup-verify invocation (platform limit: 2 s, async I/O excluded)'),
  ('verify.budget.bytes', '1073741824', 'Stored bytes one backup-verify invocation may read and hash'),
  ('verify.concurrency', '4', 'Objects backup-verify reads at once'),
  ('verify.lease', '"10 minutes"', 'A verification whose invocation made no progress for this long is claimed again; keep above the platform wall-clock limit'),
  ('verify.max_attempts', '5', 'Times a verification may be abandoned (its invocation died holding it) before it is recorded as failed'),
  ('verify.continue', 'true', 'When an invocation runs out of budget, it triggers its own continuation')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

alter table lifeboat.verification_runs
  add column if not exists backup_id text,
  add column if not exists claimed_by text,
  add column if not exists claimed_at timestamptz,
  add column if not exists attempts integer not null default 0,
  add column if not exists progress jsonb not null default '{}';
comment on column lifeboat.verification_runs.backup_id is 'The verified backup''s id (its prefix in the store), when the run verified a stored backup';
comment on column lifeboat.verification_runs.progress is
  'backup-verify''s state between invocations: objects done, bytes hashed, checks so far';

-- At most one unfinished automatic verification per backup.
create unique index if not exists verification_runs_backup_open_uniq on lifeboat.verification_runs (backup_run_id)
  where source = 'backup-verify' and finished_at is null;
create index if not exists verification_runs_backup_idx on lifeboat.verification_runs (backup_run_id, finished_at desc);

-- backup_id_of(manifest_key): the backup id in a run's manifest key ('…/<id>/manifest.json').
create or replace function lifeboat.backup_id_of(manifest_key text)
returns text
language sql
immutable
set search_path = ''
as $$
  select (pg_catalog.regexp_match($1, '([0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})/manifest\.json$'))[1]
$$;
comment on function lifeboat.backup_id_of(text) is 'The backup id in a manifest key (…/<id>/manifest.json), or null.';

-- verify_reachable(target): whether the project's functions can read a backup's store: a
-- remote store (s3://…), or the export target itself. A CLI backup into a local directory
-- lives on the machine that ran it, out of the project's reach: `lifeboat verify` checks it there.
create or replace function lifeboat.verify_reachable(target text)
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce($1 ~* '^[a-z][a-z0-9+.-]*://' and $1 !~* '^file://', false)
    or coalesce(pg_catalog.rtrim($1, '/') = pg_catalog.rtrim(lifeboat.setting('export.target') #>> '{}', '/'), false)
$$;
comment on function lifeboat.verify_reachable(text) is
  'Whether backup-verify can read a store: a remote one (s3://…) or export.target; local directories of CLI runs are not.';

-- verify_pending(now): completed backups within verify.lookback, in a store the project
-- reaches, that no automatic verification has started on, newest first (the newest is the
-- one status depends on).
create or replace function lifeboat.verify_pending(now timestamptz default pg_catalog.now())
returns table (backup_run_id bigint, backup_id text, target text, finished_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select r.id, lifeboat.backup_id_of(r.manifest_key), r.target, r.finished_at
  from lifeboat.backup_runs r
  where r.state = 'completed' and r.manifest_key is not null and lifeboat.backup_id_of(r.manifest_key) is not null
    and r.finished_at <= $1 and r.finished_at > $1 - lifeboat.setting_interval('verify.lookback')
    and lifeboat.verify_reachable(r.target)
    and not exists (select from lifeboat.verification_runs v where v.backup_run_id = r.id and v.source = 'backup-verify')
  order by r.finished_at desc, r.id desc
$$;
comment on function lifeboat.verify_pending(timestamptz) is
  'Completed backups (within verify.lookback) without an automatic verification, newest first.';

-- verify_finish(id, worker, …): records a verification's outcome (only by its holder). A
-- failure is turned into its alert and incident at once, not at the next evaluation.
create or replace function lifeboat.verify_finish(
  p_id bigint, p_worker text, p_success boolean, p_checks_total integer, p_warnings integer, p_errors integer,
  p_findings jsonb, p_details jsonb
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  ok bigint;
begin
  update lifeboat.verification_runs v
  set finished_at = pg_catalog.clock_timestamp(), success = p_success, checks_total = p_checks_total,
      warnings = p_warnings, errors = p_errors, findings = coalesce(p_findings, '[]'),
      details = v.details || coalesce(p_details, '{}'), claimed_by = null, claimed_at = null
  where v.id = p_id and v.finished_at is null and (p_worker is null or v.claimed_by = p_worker)
  returning v.id into ok;
  if ok is not null and not p_success then
    -- At the clock, not the transaction's start: the run just finished.
    perform count(*) from lifeboat.evaluate_alerts(pg_catalog.clock_timestamp());
  end if;
  return ok is not null;
end
$$;
comment on function lifeboat.verify_finish(bigint, text, boolean, integer, integer, integer, jsonb, jsonb) is
  'Records the outcome of a backup-verify run (only by the invocation holding it); a failure raises its alert at once.';

-- verify_claim(worker, lease, backup_run_id): the verification this invocation works on.
-- First an unfinished one nobody holds (handed back at the end of a budget, or its lease
-- expired because its invocation died); one abandoned verify.max_attempts times is recorded
-- as failed instead. `attempts` counts the abandonments, not the invocations. Else a new one for the
-- given backup, or the newest pending. Null when there is nothing to do.
create or replace function lifeboat.verify_claim(p_worker text, p_lease interval, p_backup_run_id bigint default null)
returns table (id bigint, backup_run_id bigint, backup_id text, target text, attempts integer, progress jsonb)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
  v lifeboat.verification_runs;
  max_attempts integer := (lifeboat.setting('verify.max_attempts'))::text::integer;
  b record;
begin
  loop
    select x.* into v from lifeboat.verification_runs x
    where x.source = 'backup-verify' and x.finished_at is null
      and (x.claimed_at is null or x.claimed_at < pg_catalog.now() - p_lease)
      and (p_backup_run_id is null or x.backup_run_id = p_backup_run_id)
    order by x.started_at
    limit 1
    for update skip locked;
    exit when v.id is null;
    if v.claimed_by is not null and v.attempts >= max_attempts then
      perform lifeboat.verify_finish(v.id, null, false, 1, 0, 1,
        pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('check', 'verification_finished', 'level', 'error',
          'object', coalesce(v.backup_id, ''),
          'detail', pg_catalog.format('the verification was abandoned %s times (its invocation died) without finishing', v.attempts),
          'remediation', 'Check the backup-verify function''s logs (memory or time limits?), raise verify.max_attempts, then delete this run to verify again.',
          'metadata', '{}'::jsonb)),
        '{}');
      continue;
    end if;
    update lifeboat.verification_runs x set claimed_by = p_worker, claimed_at = pg_catalog.now(),
      attempts = x.attempts + case when x.claimed_by is null then 0 else 1 end
    where x.id = v.id;
    return query select v.id, v.backup_run_id, v.backup_id, r.target, v.attempts, v.progress
      from lifeboat.backup_runs r where r.id = v.backup_run_id;
    if found then
      return;
    end if;
    -- Its backup run was deleted: nothing left to verify against.
    perform lifeboat.verify_finish(v.id, null, false, 1, 0, 1, '[]', '{"error": "the backup run was deleted"}');
  end loop;

  for b in
    select p.* from lifeboat.verify_pending() p
    where p_backup_run_id is null or p.backup_run_id = p_backup_run_id
  loop
    insert into lifeboat.verification_runs (kind, backup_run_id, backup_id, source, started_at, claimed_by, claimed_at)
    values ('backup', b.backup_run_id, b.backup_id, 'backup-verify', pg_catalog.clock_timestamp(), p_worker, pg_catalog.now())
    on conflict (backup_run_id) where source = 'backup-verify' and finished_at is null do nothing
    returning * into v;
    if v.id is not null then
      return query select v.id, v.backup_run_id, v.backup_id, b.target, 0, v.progress;
      return;
    end if;
  end loop;
end
$$;
comment on function lifeboat.verify_claim(text, interval, bigint) is
  'Claims the verification a backup-verify invocation works on: an abandoned one, else one for the newest pending backup.';

-- verify_save(id, worker, progress): saves progress and renews the lease; false when the
-- invocation no longer holds the run (it must stop).
create or replace function lifeboat.verify_save(p_id bigint, p_worker text, p_progress jsonb)
returns boolean
language sql
volatile
set search_path = ''
as $$
  update lifeboat.verification_runs v set progress = p_progress, claimed_at = pg_catalog.now()
  where v.id = p_id and v.claimed_by = p_worker and v.finished_at is null
  returning true
$$;
comment on function lifeboat.verify_save(bigint, text, jsonb) is
  'Saves a backup-verify run''s progress and renews its lease; null when the caller no longer holds it.';

-- verify_release(id, worker): hands the run back at the end of an invocation's budget, so
-- the continuation (or the sweep) claims it at once instead of after the lease.
create or replace function lifeboat.verify_release(p_id bigint, p_worker text)
returns boolean
language sql
volatile
set search_path = ''
as $$
  update lifeboat.verification_runs v set claimed_by = null, claimed_at = null
  where v.id = p_id and v.claimed_by = p_worker and v.finished_at is null
  returning true
$$;
comment on function lifeboat.verify_release(bigint, text) is 'Hands an unfinished backup-verify run back for the next invocation.';

-- verify_tick(): the pg_cron sweep. Invokes backup-verify when a completed backup has no
-- verification or an unfinished one is not held; otherwise does nothing (no call).
create or replace function lifeboat.verify_tick()
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  lease interval := lifeboat.setting_interval('verify.lease');
begin
  if not exists (select from lifeboat.verify_pending())
     and not exists (select from lifeboat.verification_runs x
                     where x.source = 'backup-verify' and x.finished_at is null
                       and (x.claimed_at is null or x.claimed_at < pg_catalog.now() - lease)) then
    return 'idle';
  end if;
  perform lifeboat.invoke('backup-verify', '{}');
  return 'invoked';
end
$$;
comment on function lifeboat.verify_tick() is
  'pg_cron sweep: invokes backup-verify when a completed backup has no verification or one was abandoned.';

-- The export's completion asks for the verification at once. A project without pg_net or
-- Vault secrets (CLI only) cannot call the function: the backup is recorded anyway and the
-- sweep reports the failing call (cron_job_failed).
create or replace function lifeboat.verify_on_completion()
returns trigger
language plpgsql
volatile
set search_path = ''
as $$
begin
  if coalesce((lifeboat.setting('verify.on_completion') #>> '{}')::boolean, false)
     and lifeboat.backup_id_of(new.manifest_key) is not null and lifeboat.verify_reachable(new.target) then
    begin
      perform lifeboat.invoke('backup-verify', pg_catalog.jsonb_build_object('backup_run_id', new.id));
    exception when others then
      raise warning 'lifeboat: backup % completed, but backup-verify could not be invoked (%); the verify-backups sweep retries',
        new.id, sqlerrm;
    end;
  end if;
  return null;
end
$$;
comment on function lifeboat.verify_on_completion() is
  'Trigger: a backup run that reaches state completed invokes backup-verify for it (setting verify.on_completion).';

drop trigger if exists backup_runs_verify_on_insert on lifeboat.backup_runs;
create trigger backup_runs_verify_on_insert
  after insert on lifeboat.backup_runs
  for each row when (new.state = 'completed')
  execute function lifeboat.verify_on_completion();
drop trigger if exists backup_runs_verify_on_completion on lifeboat.backup_runs;
create trigger backup_runs_verify_on_completion
  after update of state on lifeboat.backup_runs
  for each row when (new.state = 'completed' and old.state is distinct from 'completed')
  execute function lifeboat.verify_on_completion();

do $$
begin
  insert into lifeboat.schedules (name, schedule, command, enabled, requires_setting, description) values
    ('verify-backups', '*/5 * * * *', 'select lifeboat.verify_tick()', true, null,
     'Every 5 minutes: invoke backup-verify for completed backups without a verification, and resume abandoned ones')
  on conflict (name) do nothing;
  perform lifeboat.apply_schedules();
end
$$;

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

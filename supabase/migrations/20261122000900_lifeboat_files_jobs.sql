-- Lifeboat Storage files in backup-export jobs, per-bucket schedules and per-bucket retention.
--
-- A `files` job (backup_runs.kind 'files', `{"mode":"files","buckets":[…]}`) backs up the
-- Storage files of some buckets: its parts are batches of the snapshot's storage.objects rows
-- (backup_parts.kind 'files', the rows in details.rows), each claimed, leased and fenced like
-- a table chunk, so a killed invocation's batch is taken again. A done batch's details hold
-- its manifest entries; the finalizer assembles the manifest's files section from them.
--
-- Per-bucket schedules and retention live in the setting files.buckets (the seeds' defaults:
-- assets daily, kept 90 days, versioned; user_uploads hourly, kept 30 days, versioned).
-- lifeboat.sync_file_schedules() turns them into lifeboat.schedules rows (files-<bucket>)
-- that pg_cron runs through lifeboat.invoke() (pg_net, Vault key); lifeboat.backup_retention()
-- keeps files backups by their buckets' rules and everything else by GFS
-- (lifeboat.gfs_retention(), which leaves files backups out).
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('files.buckets',
   '{"assets": {"schedule": "daily", "keep_days": 90, "versioned": true}, "user_uploads": {"schedule": "hourly", "keep_days": 30, "versioned": true}}'::jsonb,
   'Per-bucket files backups: {"<bucket id>": {"schedule": "hourly" | "daily" | cron, "keep_days": N, "versioned": bool}}. '
   || 'Versioned: every files backup younger than keep_days is kept (each restores the file versions it saw); '
   || 'not versioned: only the newest. After a change run select lifeboat.sync_file_schedules();'),
  ('export.files_batch', '50', 'Files per part of a backup-export files job (a part is claimed, leased and retried as one; small parts keep an invocation within its CPU budget)')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- A job of kind 'files' and parts of kind 'files'.
alter table lifeboat.backup_runs drop constraint if exists backup_runs_kind_check;
alter table lifeboat.backup_runs add constraint backup_runs_kind_check check (kind in ('full', 'tables', 'files'));
alter table lifeboat.backup_parts drop constraint if exists backup_parts_kind;
alter table lifeboat.backup_parts add constraint backup_parts_kind
  check (kind in ('roles', 'pre-data', 'data', 'post-data', 'finalize', 'files'));

-- ---------------------------------------------------------------------------------------
-- Per-bucket schedules.
-- ---------------------------------------------------------------------------------------

-- A files.buckets schedule as a cron expression: 'hourly' at :15 and 'daily' at 00:45 UTC
-- (away from export-daily at 00:00: one job per target at a time), anything else as given.
create or replace function lifeboat.files_cron(p_schedule text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case pg_catalog.lower(pg_catalog.btrim(p_schedule))
    when 'hourly' then '15 * * * *'
    when 'daily' then '45 0 * * *'
    else pg_catalog.btrim(p_schedule)
  end
$$;
comment on function lifeboat.files_cron(text) is
  'A files.buckets schedule as cron: hourly = 15 * * * *, daily = 45 0 * * *, else the text as given.';

-- The lifeboat.schedules name of a bucket's files backup: files-<bucket id>, lowercased, other
-- characters as '-', with a hash suffix when the id had to be changed.
create or replace function lifeboat.files_schedule_name(p_bucket text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when p_bucket ~ '^[a-z0-9][a-z0-9_-]{0,47}$' then 'files-' || p_bucket
    else 'files-' || pg_catalog.left(pg_catalog.regexp_replace(pg_catalog.lower(p_bucket), '[^a-z0-9_-]', '-', 'g'), 38)
      || '-' || pg_catalog.left(pg_catalog.md5(p_bucket), 8)
  end
$$;
comment on function lifeboat.files_schedule_name(text) is 'The lifeboat.schedules row name of a bucket''s files backup.';

-- Makes lifeboat.schedules hold one files-<bucket> row per bucket of files.buckets (the
-- function invoked with {"mode":"files","buckets":[id]}), drops rows of buckets no longer
-- configured, then applies the schedules to pg_cron.
create or replace function lifeboat.sync_file_schedules()
returns table (bucket text, schedule_name text, cron text)
language plpgsql
volatile
set search_path = ''
as $$
declare
  cfg jsonb := coalesce(lifeboat.setting('files.buckets'), '{}'::jsonb);
begin
  if pg_catalog.jsonb_typeof(cfg) <> 'object' then
    raise exception 'files.buckets must be a JSON object of bucket id -> {schedule, keep_days, versioned}'
      using hint = 'Fix it in lifeboat.settings.';
  end if;
  delete from lifeboat.schedules s
  where s.name like 'files-%'
    and s.name not in (select lifeboat.files_schedule_name(k) from pg_catalog.jsonb_object_keys(cfg) k);
  insert into lifeboat.schedules as s (name, schedule, command, enabled, requires_setting, description)
  select lifeboat.files_schedule_name(b.key),
         lifeboat.files_cron(coalesce(b.value ->> 'schedule', 'daily')),
         pg_catalog.format('select lifeboat.invoke(%L, %L::jsonb)', 'backup-export',
           pg_catalog.jsonb_build_object('mode', 'files', 'buckets', pg_catalog.jsonb_build_array(b.key))::text),
         true, 'export.target',
         pg_catalog.format('Files of bucket %s (%s), kept %s days%s; from files.buckets', b.key,
           coalesce(b.value ->> 'schedule', 'daily'), coalesce(b.value ->> 'keep_days', '30'),
           case when coalesce((b.value ->> 'versioned')::boolean, true) then ', versioned' else '' end)
  from pg_catalog.jsonb_each(cfg) b
  on conflict (name) do update
    set schedule = excluded.schedule, command = excluded.command, description = excluded.description,
        updated_at = pg_catalog.now();
  if pg_catalog.to_regprocedure('lifeboat.apply_schedules()') is not null then
    perform lifeboat.apply_schedules();
  end if;
  return query
    select b.key, lifeboat.files_schedule_name(b.key), lifeboat.files_cron(coalesce(b.value ->> 'schedule', 'daily'))
    from pg_catalog.jsonb_each(cfg) b order by 1;
end
$$;
comment on function lifeboat.sync_file_schedules() is
  'Turns files.buckets into lifeboat.schedules rows files-<bucket> (backup-export {"mode":"files"}) and applies them to pg_cron.';

-- ---------------------------------------------------------------------------------------
-- Per-bucket retention.
-- ---------------------------------------------------------------------------------------

-- For each completed files backup of a target: kept while, for one of its buckets, it is the
-- newest files backup covering that bucket, or that bucket is versioned and the backup is
-- younger than its keep_days (buckets not in files.buckets: 30 days, versioned).
create or replace function lifeboat.files_retention(p_target text, p_now timestamptz default pg_catalog.now())
returns table (run_id bigint, backup_id text, finished_at timestamptz, keep boolean, reasons text[])
language sql
stable
set search_path = ''
as $$
  with b as (
    select r.id, r.metadata ->> 'backup_id' as backup_id, r.finished_at, bk.bucket
    from lifeboat.backup_runs r
    cross join lateral pg_catalog.jsonb_array_elements_text(coalesce(r.metadata -> 'file_buckets', '[]'::jsonb)) bk(bucket)
    where r.target = p_target and r.state = 'completed' and r.kind = 'files' and r.finished_at is not null
  ),
  rule as (
    select b.*, coalesce((lifeboat.setting('files.buckets') -> b.bucket ->> 'keep_days')::integer, 30) as keep_days,
      coalesce((lifeboat.setting('files.buckets') -> b.bucket ->> 'versioned')::boolean, true) as versioned,
      pg_catalog.row_number() over (partition by b.bucket order by b.finished_at desc, b.id desc) as rank
    from b
  ),
  why as (
    select r.id, r.backup_id, r.finished_at,
      pg_catalog.array_agg(distinct w.reason) filter (where w.reason is not null) as reasons
    from rule r
    cross join lateral (values
      (case when r.rank = 1 then 'newest of ' || r.bucket end),
      (case when r.finished_at > p_now then 'future' end),
      (case when r.versioned and r.finished_at > p_now - pg_catalog.make_interval(days => r.keep_days)
            then r.bucket || ' kept ' || r.keep_days || ' days' end)
    ) w(reason)
    group by r.id, r.backup_id, r.finished_at
  )
  select w.id, w.backup_id, w.finished_at, w.reasons is not null, coalesce(w.reasons, '{}')
  from why w
  order by w.finished_at desc, w.id desc
$$;
comment on function lifeboat.files_retention(text, timestamptz) is
  'For each completed files backup of a target: whether its buckets'' rules (files.buckets) keep it at p_now, and why.';

-- GFS for every backup but files ones, and files.buckets rules for those (one call for the
-- engine's retention). Files backups never count as the newest GFS backup.
create or replace function lifeboat.backup_retention(p_target text, p_now timestamptz default pg_catalog.now())
returns table (run_id bigint, backup_id text, finished_at timestamptz, keep boolean, reasons text[])
language sql
stable
set search_path = ''
as $$
  select g.* from lifeboat.gfs_retention(p_target, p_now) g
  union all
  select f.* from lifeboat.files_retention(p_target, p_now) f
$$;
comment on function lifeboat.backup_retention(text, timestamptz) is
  'Retention of a target: GFS for database backups, files.buckets rules for files backups.';


-- The blobs that running jobs' finished file batches name: the sweep keeps them too, so a
-- blob a running backup reuses is never deleted under it.
create or replace function lifeboat.files_blobs_in_flight()
returns setof text
language sql
stable
set search_path = ''
as $$
  select distinct e ->> 'blob'
  from lifeboat.backup_parts p
  join lifeboat.backup_runs r on r.id = p.run_id
  cross join lateral pg_catalog.jsonb_array_elements(coalesce(p.details -> 'objects', '[]'::jsonb)) e
  where r.state in ('planned', 'running') and p.kind = 'files' and p.state = 'done'
$$;
comment on function lifeboat.files_blobs_in_flight() is
  'File blobs named by finished batches of running backup-export jobs (the blob sweep keeps them).';

select * from lifeboat.sync_file_schedules();

revoke all on all functions in schema lifeboat from public, anon, authenticated;

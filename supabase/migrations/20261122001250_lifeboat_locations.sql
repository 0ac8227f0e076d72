-- Lifeboat locations (issue 21): the places backups are kept, one primary that backups are
-- written to and any number of secondaries and archives they are copied to, each with its own
-- retention; the audit of every copy per location; the `locations` alert rule; and the
-- per-location status with the 3-2-1 verdict. Runs as the project's owner role (postgres, not
-- a superuser). Idempotent.
--
-- Credentials are never stored here: `credentials` names a Vault secret (read by the
-- backup-copy function) or, for the CLI, the environment variable LIFEBOAT_SECRET_<NAME>.

create schema if not exists lifeboat;

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('copy.alert_after_failures', '3'::jsonb, 'A location whose copies failed this many times in a row raises the locations alert'),
  ('copy.retry_base', '"1 minute"', 'Delay before retrying a failed copy; doubles with each failure'),
  ('copy.retry_max', '"6 hours"', 'Longest delay between two attempts of a failed copy'),
  ('copy.budget.wall_ms', '120000', 'Wall-clock budget of one backup-copy invocation (free plan limit: 150 s)'),
  ('copy.continue', 'true', 'When a backup-copy invocation runs out of budget with work left, it triggers its own continuation')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- ---------------------------------------------------------------------------------------
-- Locations.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.locations (
  name text primary key check (name ~ '^[a-z][a-z0-9_-]{0,39}$'),
  -- A store URL: a directory (/path or file:///path), s3://bucket/prefix, az://account/container/prefix
  -- or https://account.blob.core.windows.net/container/prefix. Never holds credentials.
  url text not null,
  role text not null check (role in ('primary', 'secondary', 'archive')),
  -- GFS counts {"daily", "weekly", "monthly", "yearly"}: an integer or "all"; an absent tier keeps
  -- nothing. null = the retention.gfs.* settings.
  retention jsonb,
  -- Storage class (S3) or access tier (Azure) of the objects copied here; null = the store's default.
  storage_class text,
  -- Object lock {"mode": "compliance" | "governance", "days": n}; null = none.
  lock jsonb,
  -- The name of the Vault secret (function side) or LIFEBOAT_SECRET_<NAME> variable (CLI side)
  -- holding this location's credentials as JSON; null = the store's environment (LIFEBOAT_S3_*).
  credentials text check (credentials ~ '^[A-Za-z0-9_]{1,64}$'),
  -- In another building, region or provider than the project: counts for the 3-2-1 rule.
  offsite boolean not null default false,
  -- The newest backup on the primary should be verified here within this long.
  lag_objective interval not null default interval '1 day' check (lag_objective > interval '0'),
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table lifeboat.locations is
  'Where backups are kept: one primary (backups are written there) and the secondaries and archives lifeboat copy / backup-copy copy them to, each with its retention.';

-- One primary at most; lifeboat.location_problems() reports a set without one.
create unique index if not exists locations_one_primary on lifeboat.locations ((true)) where role = 'primary' and enabled;

-- The storage kind of a location URL (file, s3 or azure), or null for an unknown scheme.
create or replace function lifeboat.location_kind(p_url text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when p_url ~ '^/' or p_url ~* '^file://' then 'file'
    when p_url ~* '^s3://[a-z0-9]' then 's3'
    when p_url ~* '^az://[a-z0-9]' or p_url ~* '^https://[a-z0-9]+\.blob\.core\.windows\.net/' then 'azure'
    else null end
$$;

-- The fewest days retention keeps any backup: the horizon of its shortest non-empty tier
-- (a backup only in a daily slot leaves after `daily` days); null when it keeps everything.
create or replace function lifeboat.location_min_retention_days(p_retention jsonb)
returns integer
language sql
immutable
set search_path = ''
as $$
  select min(t.days * (case when p_retention ->> t.tier = 'all' then null else (p_retention ->> t.tier)::integer end))
  from (values ('daily', 1), ('weekly', 7), ('monthly', 28), ('yearly', 365)) t(tier, days)
  where p_retention ? t.tier and p_retention ->> t.tier <> 'all' and (p_retention ->> t.tier)::integer > 0
$$;

-- Refuses a location that cannot work, with a message that says what to change.
create or replace function lifeboat.locations_validate()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  tier text;
  v jsonb;
  keep_days integer;
begin
  if lifeboat.location_kind(new.url) is null then
    raise exception 'location "%": unknown store scheme in "%"', new.name, pg_catalog.split_part(new.url, '://', 1)
      using errcode = 'invalid_parameter_value',
            hint = 'Use a directory (/path or file:///path), s3://bucket/prefix, az://account/container/prefix or https://<account>.blob.core.windows.net/container/prefix.';
  end if;
  if new.url ~ '://[^/]*@' or new.url ~* '[?&](sig|sv|se|sp|x-amz-signature|x-amz-credential)=' then
    raise exception 'location "%": the URL carries credentials', new.name
      using errcode = 'invalid_parameter_value',
            hint = 'Keep credentials out of lifeboat.locations: store them in Vault and name the secret in the credentials column.';
  end if;
  if new.retention is not null then
    if pg_catalog.jsonb_typeof(new.retention) <> 'object' then
      raise exception 'location "%": retention must be a JSON object like {"daily": 7, "weekly": 4}', new.name
        using errcode = 'invalid_parameter_value';
    end if;
    for tier, v in select * from pg_catalog.jsonb_each(new.retention) loop
      if tier not in ('daily', 'weekly', 'monthly', 'yearly') then
        raise exception 'location "%": unknown retention tier "%"', new.name, tier
          using errcode = 'invalid_parameter_value', hint = 'Use daily, weekly, monthly and yearly.';
      end if;
      if not (v = '"all"'::jsonb or (pg_catalog.jsonb_typeof(v) = 'number' and v::text ~ '^[0-9]+$')) then
        raise exception 'location "%": retention.% must be a whole number or "all" (it is %)', new.name, tier, v
          using errcode = 'invalid_parameter_value';
      end if;
    end loop;
  end if;
  if new.lock is not null then
    if pg_catalog.jsonb_typeof(new.lock) <> 'object' or coalesce(new.lock ->> 'mode', '') not in ('compliance', 'governance')
       or coalesce(new.lock ->> 'days', '') !~ '^[0-9]+$' or (new.lock ->> 'days')::integer < 1 then
      raise exception 'location "%": lock must be {"mode": "compliance" or "governance", "days": n >= 1}', new.name
        using errcode = 'invalid_parameter_value';
    end if;
    keep_days := lifeboat.location_min_retention_days(coalesce(new.retention, pg_catalog.jsonb_build_object(
      'daily', lifeboat.setting('retention.gfs.daily'), 'weekly', lifeboat.setting('retention.gfs.weekly'),
      'monthly', lifeboat.setting('retention.gfs.monthly'), 'yearly', lifeboat.setting('retention.gfs.yearly'))));
    if keep_days is not null and keep_days < (new.lock ->> 'days')::integer then
      raise exception 'location "%": retention keeps some backups % days, shorter than the % day lock', new.name, keep_days, new.lock ->> 'days'
        using errcode = 'invalid_parameter_value',
              hint = 'Locked objects cannot be deleted before the lock expires: keep every retained tier at least as long as the lock, or shorten the lock.';
    end if;
  end if;
  new.updated_at := pg_catalog.now();
  return new;
end
$$;

drop trigger if exists locations_validate on lifeboat.locations;
create trigger locations_validate before insert or update on lifeboat.locations
  for each row execute function lifeboat.locations_validate();

-- What is wrong with the set of locations as a whole (each row is checked by its trigger).
create or replace function lifeboat.location_problems()
returns table (problem text)
language sql
stable
set search_path = ''
as $$
  select 'no primary location: mark the location backups are written to with role = ''primary'''
  where exists (select from lifeboat.locations l where l.enabled)
    and not exists (select from lifeboat.locations l where l.enabled and l.role = 'primary')
$$;

-- ---------------------------------------------------------------------------------------
-- The copy audit: one row per (location, backup), the primary's included (its row records
-- that the copier read and verified the backup there).
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.location_copies (
  id bigint generated always as identity primary key,
  location text not null references lifeboat.locations (name) on delete cascade on update cascade,
  backup_id text not null check (backup_id ~ '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$'),
  -- When the backup finished (from its manifest): what "newest" and retention go by.
  backup_finished_at timestamptz not null,
  state text not null default 'pending' check (state in ('pending', 'copied', 'failed', 'pruned')),
  -- Objects and bytes of the backup (manifest, signature, parts, file blobs).
  objects integer not null default 0 check (objects >= 0),
  bytes bigint not null default 0 check (bytes >= 0),
  -- Consecutive failed attempts; reset when a copy succeeds.
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz,
  last_error text,
  first_seen_at timestamptz not null default now(),
  -- Every object's sha256 was read back from this location and matched.
  verified_at timestamptz,
  pruned_at timestamptz,
  unique (location, backup_id)
);
comment on table lifeboat.location_copies is
  'Per location and backup: whether the copy is pending, copied and verified by sha256, failed (with retry backoff) or pruned.';
create index if not exists location_copies_state_idx on lifeboat.location_copies (location, state, backup_finished_at desc);

-- The copier saw a backup on the primary: a pending row for every other enabled location
-- that has none yet. Returns the rows created.
create or replace function lifeboat.copy_plan(p_backup_id text, p_finished_at timestamptz, p_objects integer, p_bytes bigint)
returns integer
language sql
volatile
set search_path = ''
as $$
  with ins as (
    insert into lifeboat.location_copies (location, backup_id, backup_finished_at, objects, bytes)
    select l.name, p_backup_id, p_finished_at, p_objects, p_bytes from lifeboat.locations l
    where l.enabled
    on conflict (location, backup_id) do nothing
    returning 1)
  select count(*)::integer from ins
$$;

-- The copies due at p_now for a location: pending, or failed and past their backoff; oldest first.
create or replace function lifeboat.copy_due(p_location text, p_now timestamptz default pg_catalog.now())
returns table (backup_id text, backup_finished_at timestamptz, attempts integer)
language sql
stable
set search_path = ''
as $$
  select c.backup_id, c.backup_finished_at, c.attempts from lifeboat.location_copies c
  where c.location = p_location and (c.state = 'pending' or (c.state = 'failed' and coalesce(c.next_attempt_at, p_now) <= p_now))
  order by c.backup_finished_at, c.backup_id
$$;

-- A copy succeeded and every object was verified at the location.
create or replace function lifeboat.copy_record_success(p_location text, p_backup_id text, p_objects integer, p_bytes bigint)
returns boolean
language sql
volatile
set search_path = ''
as $$
  with u as (
    update lifeboat.location_copies c
    set state = 'copied', objects = p_objects, bytes = p_bytes, attempts = 0, next_attempt_at = null,
        last_error = null, verified_at = pg_catalog.now()
    where c.location = p_location and c.backup_id = p_backup_id and c.state <> 'pruned'
    returning 1)
  select exists (select from u)
$$;

-- A copy failed: counts the attempt, schedules the retry (exponential backoff between
-- copy.retry_base and copy.retry_max) and returns when it is due.
create or replace function lifeboat.copy_record_failure(p_location text, p_backup_id text, p_error text)
returns timestamptz
language sql
volatile
set search_path = ''
as $$
  update lifeboat.location_copies c
  set state = 'failed', attempts = c.attempts + 1, last_error = pg_catalog.left(p_error, 500),
      next_attempt_at = pg_catalog.now() + least(lifeboat.setting_interval('copy.retry_max'),
        lifeboat.setting_interval('copy.retry_base') * power(2, least(c.attempts, 20)))
  where c.location = p_location and c.backup_id = p_backup_id and c.state <> 'pruned'
  returning c.next_attempt_at
$$;

-- A location's copy of a backup was deleted by its retention.
create or replace function lifeboat.copy_record_prune(p_location text, p_backup_id text, p_reason text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  c lifeboat.location_copies;
begin
  update lifeboat.location_copies x set state = 'pruned', pruned_at = pg_catalog.now()
  where x.location = p_location and x.backup_id = p_backup_id and x.state <> 'pruned'
  returning * into c;
  if c.id is null then
    return false;
  end if;
  insert into lifeboat.maintenance_log (type, description, outcome, details)
  values ('location_prune', pg_catalog.format('pruned backup %s at location %s (%s objects, %s bytes): %s',
      p_backup_id, p_location, c.objects, c.bytes, p_reason), 'success',
    pg_catalog.jsonb_build_object('location', p_location, 'backup_id', p_backup_id, 'objects', c.objects,
      'bytes', c.bytes, 'reason', p_reason));
  return true;
end
$$;

-- ---------------------------------------------------------------------------------------
-- GFS, once: which of a set of backups the newest-per-period rule keeps. lifeboat.gfs_retention
-- (the export's target, redefined here on top of it) and lifeboat.location_retention share it.
-- ---------------------------------------------------------------------------------------

-- For each UTC day, ISO week, month and year holding a backup finished by p_now, the newest
-- backup of each of the N most recent such periods (null N = every period) is kept; ties on
-- the finish time go to the greater id. Returns each kept id with its tiers, daily first.
create or replace function lifeboat.gfs_keep(
  p_ids text[], p_finished timestamptz[], p_daily integer, p_weekly integer, p_monthly integer, p_yearly integer,
  p_now timestamptz
)
returns table (id text, why text[])
language sql
stable
set search_path = ''
as $$
  with b as (
    select u.id, u.finished_at, u.finished_at at time zone 'UTC' as ts
    from unnest(p_ids, p_finished) as u(id, finished_at)
    where u.finished_at <= p_now
  ),
  policy(period, tier, tier_order, n) as (
    values ('day', 'daily', 1, p_daily), ('week', 'weekly', 2, p_weekly), ('month', 'monthly', 3, p_monthly), ('year', 'yearly', 4, p_yearly)
  ),
  newest_per_period as (
    select distinct on (p.period, pg_catalog.date_trunc(p.period, b.ts))
      p.period, p.tier, p.tier_order, p.n, b.id, pg_catalog.date_trunc(p.period, b.ts) as bucket
    from b cross join policy p
    order by p.period, pg_catalog.date_trunc(p.period, b.ts), b.finished_at desc, b.id desc
  ),
  ranked as (
    select x.*, pg_catalog.row_number() over (partition by x.period order by x.bucket desc) as rank from newest_per_period x
  )
  select k.id, pg_catalog.array_agg(k.tier order by k.tier_order)
  from ranked k where k.n is null or k.rank <= k.n
  group by k.id
$$;
comment on function lifeboat.gfs_keep(text[], timestamptz[], integer, integer, integer, integer, timestamptz) is
  'Grandfather-father-son: the ids the newest-per-period rule keeps (N most recent days, ISO weeks, months, years; null = all), with their tiers.';

-- The export target's GFS (signature and behaviour of the export jobs migration), on gfs_keep.
create or replace function lifeboat.gfs_retention(p_target text, p_now timestamptz default pg_catalog.now())
returns table (run_id bigint, backup_id text, finished_at timestamptz, keep boolean, reasons text[])
language sql
stable
set search_path = ''
as $$
  with b as (
    select r.id, r.metadata ->> 'backup_id' as backup_id, r.finished_at
    from lifeboat.backup_runs r
    where r.target = p_target and r.state = 'completed' and r.finished_at is not null
      and r.kind <> 'files' -- files backups follow their bucket's rule (lifeboat.backup_retention)
  ),
  kept as (
    -- Run ids padded so that their text order is their numeric order (the tie-break).
    select g.id::bigint as id, g.why from lifeboat.gfs_keep(
      (select pg_catalog.array_agg(pg_catalog.lpad(b.id::text, 20, '0') order by b.id) from b),
      (select pg_catalog.array_agg(b.finished_at order by b.id) from b),
      lifeboat.gfs_count('retention.gfs.daily'), lifeboat.gfs_count('retention.gfs.weekly'),
      lifeboat.gfs_count('retention.gfs.monthly'), lifeboat.gfs_count('retention.gfs.yearly'), p_now) g
  ),
  newest as (
    select b.id from b order by b.finished_at desc, b.id desc limit 1
  ),
  newest_verified as (
    select b.id from b
    where exists (select from lifeboat.verification_runs v where v.backup_run_id = b.id and v.success)
    order by b.finished_at desc, b.id desc limit 1
  )
  select b.id, b.backup_id, b.finished_at,
    k.id is not null or b.finished_at > p_now or b.id in (select id from newest) or b.id in (select id from newest_verified),
    coalesce(k.why, '{}')
      || case when b.finished_at > p_now then array['future'] else '{}'::text[] end
      || case when b.id in (select id from newest) then array['newest'] else '{}'::text[] end
      || case when b.id in (select id from newest_verified) then array['newest_verified'] else '{}'::text[] end
  from b left join kept k on k.id = b.id
  order by b.finished_at desc, b.id desc
$$;
comment on function lifeboat.gfs_retention(text, timestamptz) is
  'For each completed database backup of a target (files backups excluded): whether GFS retention (retention.gfs.*) keeps it at p_now, and why.';

-- ---------------------------------------------------------------------------------------
-- Retention per location: GFS over the verified copies at the location, with its own counts.
-- Always kept: the newest copy there, any copy that is the last verified copy of the newest
-- verified backup anywhere, and a backup another location still waits to copy.
-- ---------------------------------------------------------------------------------------

-- A location's GFS count for a tier: its own (a number, "all" = null), 0 for a tier it leaves
-- out, or the retention.gfs.* setting when it has no policy.
create or replace function lifeboat.location_gfs_count(p_retention jsonb, p_tier text)
returns integer
language sql
stable
set search_path = ''
as $$
  select case
    when p_retention is null then lifeboat.gfs_count('retention.gfs.' || p_tier)
    when p_retention ->> p_tier = 'all' then null
    else coalesce((p_retention ->> p_tier)::integer, 0) end
$$;

create or replace function lifeboat.location_retention(p_location text, p_now timestamptz default pg_catalog.now())
returns table (backup_id text, backup_finished_at timestamptz, keep boolean, reasons text[])
language sql
stable
set search_path = ''
as $$
  with loc as (
    select l.retention as r from lifeboat.locations l where l.name = p_location
  ),
  b as (
    select c.backup_id, c.backup_finished_at
    from lifeboat.location_copies c where c.location = p_location and c.state = 'copied'
  ),
  kept as (
    select g.id as backup_id, g.why from loc, lifeboat.gfs_keep(
      (select pg_catalog.array_agg(b.backup_id order by b.backup_id) from b),
      (select pg_catalog.array_agg(b.backup_finished_at order by b.backup_id) from b),
      lifeboat.location_gfs_count(loc.r, 'daily'), lifeboat.location_gfs_count(loc.r, 'weekly'),
      lifeboat.location_gfs_count(loc.r, 'monthly'), lifeboat.location_gfs_count(loc.r, 'yearly'), p_now) g
  ),
  newest_here as (select b.backup_id from b order by b.backup_finished_at desc, b.backup_id desc limit 1),
  newest_anywhere as (
    select c.backup_id from lifeboat.location_copies c where c.state = 'copied'
    order by c.backup_finished_at desc, c.backup_id desc limit 1
  ),
  last_copy as (
    select n.backup_id from newest_anywhere n
    where not exists (select from lifeboat.location_copies c
                      where c.backup_id = n.backup_id and c.state = 'copied' and c.location <> p_location)
  ),
  awaited as (
    select distinct c.backup_id from lifeboat.location_copies c
    where c.location <> p_location and c.state in ('pending', 'failed')
  )
  select b.backup_id, b.backup_finished_at,
    k.backup_id is not null or b.backup_finished_at > p_now
      or b.backup_id in (select nh.backup_id from newest_here nh) or b.backup_id in (select lc.backup_id from last_copy lc)
      or b.backup_id in (select aw.backup_id from awaited aw),
    coalesce(k.why, '{}')
      || case when b.backup_finished_at > p_now then array['future'] else '{}'::text[] end
      || case when b.backup_id in (select nh.backup_id from newest_here nh) then array['newest'] else '{}'::text[] end
      || case when b.backup_id in (select lc.backup_id from last_copy lc) then array['last_verified_copy'] else '{}'::text[] end
      || case when b.backup_id in (select aw.backup_id from awaited aw) then array['awaiting_copy'] else '{}'::text[] end
  from b left join kept k on k.backup_id = b.backup_id
  order by b.backup_finished_at desc, b.backup_id desc
$$;
comment on function lifeboat.location_retention(text, timestamptz) is
  'For each verified copy at a location: whether its retention keeps it at p_now, and why (never the newest there, nor the last verified copy of the newest backup anywhere).';

-- ---------------------------------------------------------------------------------------
-- Status: per location the newest verified copy, its age, what is pending; the 3-2-1 verdict.
-- No URL, credentials name or error text: the report is shown to status token holders.
-- ---------------------------------------------------------------------------------------

create or replace function lifeboat.location_status(now timestamptz default pg_catalog.now())
returns jsonb
language sql
stable
set search_path = ''
as $$
  with per as (
    select l.name, l.role, lifeboat.location_kind(l.url) as kind, l.offsite, l.enabled, l.storage_class,
      l.lock is not null as locked, extract(epoch from l.lag_objective)::bigint as lag_objective_seconds,
      n.backup_id as newest_backup_id, n.backup_finished_at as newest_finished_at,
      pg_catalog.round(extract(epoch from $1 - n.backup_finished_at)) as newest_age_seconds,
      coalesce(p.backups, 0) as pending_backups, coalesce(p.objects, 0) as pending_objects,
      coalesce(p.bytes, 0) as pending_bytes, coalesce(p.failing, 0) as failing_attempts,
      coalesce(v.copies, 0) as verified_copies
    from lifeboat.locations l
    left join lateral (
      select c.backup_id, c.backup_finished_at from lifeboat.location_copies c
      where c.location = l.name and c.state = 'copied' and c.verified_at <= $1
      order by c.backup_finished_at desc, c.backup_id desc limit 1) n on true
    left join lateral (
      select count(*) as backups, sum(c.objects) as objects, sum(c.bytes) as bytes, max(c.attempts) as failing
      from lifeboat.location_copies c where c.location = l.name and c.state in ('pending', 'failed')) p on true
    left join lateral (
      select count(*) as copies from lifeboat.location_copies c where c.location = l.name and c.state = 'copied') v on true
  ),
  newest_primary as (
    select max(c.backup_finished_at) as at from lifeboat.location_copies c
    join lifeboat.locations l on l.name = c.location and l.role = 'primary'
  ),
  rows as (
    select per.*, (per.newest_finished_at is not null
        and per.newest_finished_at >= coalesce((select at from newest_primary), per.newest_finished_at) - pg_catalog.make_interval(secs => per.lag_objective_seconds)
        and per.newest_age_seconds <= per.lag_objective_seconds + extract(epoch from lifeboat.backup_rpo())) as within_objective
    from per
  ),
  live as (select * from rows where rows.enabled and rows.newest_backup_id is not null),
  verdict as (
    select (select count(*) from live) as copies,
      (select count(distinct live.kind) from live) as kinds,
      (select count(*) from live where live.offsite) as offsite
  )
  select pg_catalog.jsonb_build_object(
    'configured', exists (select from lifeboat.locations),
    'problems', (select coalesce(pg_catalog.jsonb_agg(x.problem), '[]') from lifeboat.location_problems() x),
    'locations', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'name', r.name, 'role', r.role, 'kind', r.kind, 'offsite', r.offsite, 'enabled', r.enabled,
        'storage_class', r.storage_class, 'locked', r.locked, 'lag_objective_seconds', r.lag_objective_seconds,
        'newest_backup_id', r.newest_backup_id, 'newest_finished_at', r.newest_finished_at,
        'newest_age_seconds', r.newest_age_seconds, 'verified_copies', r.verified_copies,
        'pending_backups', r.pending_backups, 'pending_objects', r.pending_objects, 'pending_bytes', r.pending_bytes,
        'failing_attempts', r.failing_attempts, 'within_objective', coalesce(r.within_objective, false))
        order by case r.role when 'primary' then 0 when 'secondary' then 1 else 2 end, r.name), '[]') from rows r),
    'rule_321', (select pg_catalog.jsonb_build_object(
        'holds', v.copies >= 3 and v.kinds >= 2 and v.offsite >= 1,
        'copies', v.copies, 'kinds', v.kinds, 'offsite', v.offsite,
        'why_not', pg_catalog.to_jsonb(array_remove(array[
          case when v.copies < 3 then pg_catalog.format('%s location(s) hold a verified copy; the rule needs 3', v.copies) end,
          case when v.kinds < 2 then pg_catalog.format('%s kind(s) of storage hold a verified copy; the rule needs 2 (e.g. a directory and S3, or S3 and Azure)', v.kinds) end,
          case when v.offsite < 1 then 'no off-site location holds a verified copy: mark one with offsite = true once a copy is verified there' end], null)))
      from verdict v))
$$;
comment on function lifeboat.location_status(timestamptz) is
  'Per location: the newest verified copy, its age, what is pending, whether it meets its lag objective; and whether the 3-2-1 rule holds and why not.';

-- ---------------------------------------------------------------------------------------
-- The `locations` alert rule: a location lags its objective, or its copies keep failing.
-- ---------------------------------------------------------------------------------------

insert into lifeboat.alert_rules
  (rule, severity, threshold, unit, lookback, params, incident_severity, evaluator, description, source, remediation) values
  ('locations', 'warning', null, '', null, '{}', 'medium', 'evaluate_alerts',
   'A backup location lags behind its objective (lag_objective), or its copies failed copy.alert_after_failures times in a row',
   'lifeboat.location_status(): the newest verified copy per location against the newest backup on the primary; lifeboat.location_copies attempts',
   'Run lifeboat copy (or check the backup-copy function''s runs): a location that is down is retried with backoff; check its credentials and that the store is reachable.')
on conflict (rule) do nothing;

create or replace function lifeboat.alert_locations(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select 'locations:' || (x ->> 'name'),
    case when (x ->> 'failing_attempts')::integer >= (lifeboat.setting('copy.alert_after_failures') #>> '{}')::integer
      then pg_catalog.format('location %s: copies failed %s times in a row; %s backup(s) wait to be copied',
        x ->> 'name', x ->> 'failing_attempts', x ->> 'pending_backups')
      when x ->> 'newest_backup_id' is null then pg_catalog.format('location %s holds no verified copy yet', x ->> 'name')
      else pg_catalog.format('location %s lags its objective: its newest verified copy is %s old (objective %s)', x ->> 'name',
        pg_catalog.make_interval(secs => (x ->> 'newest_age_seconds')::double precision),
        pg_catalog.make_interval(secs => (x ->> 'lag_objective_seconds')::double precision)) end,
    pg_catalog.jsonb_build_object('location', x ->> 'name', 'role', x ->> 'role', 'newest_backup_id', x ->> 'newest_backup_id',
      'newest_age_seconds', x -> 'newest_age_seconds', 'pending_backups', x -> 'pending_backups',
      'failing_attempts', x -> 'failing_attempts')
  from pg_catalog.jsonb_array_elements(lifeboat.location_status($1) -> 'locations') x
  where (x ->> 'enabled')::boolean
    and exists (select from lifeboat.location_copies c)
    and (not (x ->> 'within_objective')::boolean
      or (x ->> 'failing_attempts')::integer >= (lifeboat.setting('copy.alert_after_failures') #>> '{}')::integer)
$$;

-- ---------------------------------------------------------------------------------------
-- The schedule: backup-copy every 15 minutes, once a location other than the primary exists.
-- ---------------------------------------------------------------------------------------

insert into lifeboat.settings (key, value, default_value, description)
values ('copy.enabled', 'null', 'null', 'Set to true to schedule backup-copy (every 15 minutes) once locations are configured')
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

insert into lifeboat.schedules (name, schedule, command, enabled, requires_setting, description) values
  ('copy', '*/15 * * * *', $c$select lifeboat.invoke('backup-copy', '{}')$c$, true, 'copy.enabled',
   'Every 15 minutes: copy new backups from the primary to every other location, then apply each location''s retention; installed once copy.enabled is set')
on conflict (name) do nothing;

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

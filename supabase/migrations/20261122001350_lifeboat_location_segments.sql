-- Change segments per location (issue 21): every segment under stream/ on the primary is
-- recorded for each other enabled location, pending until the copier has written it there
-- (or found it there with its size), so that the status counts segments among the objects
-- pending copy. Runs as the project's owner role. Idempotent.

create table if not exists lifeboat.location_segments (
  location text not null references lifeboat.locations (name) on delete cascade on update cascade,
  -- The segment's key under the store's root (stream/...).
  key text not null check (key ~ '^stream/'),
  bytes bigint not null check (bytes >= 0),
  state text not null default 'pending' check (state in ('pending', 'copied')),
  seen_at timestamptz not null default now(),
  copied_at timestamptz,
  primary key (location, key)
);
comment on table lifeboat.location_segments is
  'Per location and change segment: pending until the copier wrote it there (or found it there), then copied.';
create index if not exists location_segments_pending_idx on lifeboat.location_segments (location) where state = 'pending';

-- The copier listed the primary's segments: a pending row for each one and each other enabled
-- location that has none; pending rows of segments no longer on the primary (pruned there
-- before they were copied) are dropped, as nothing is left to copy. Returns the rows created.
create or replace function lifeboat.segment_plan(p_keys text[], p_bytes bigint[])
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  created integer;
begin
  delete from lifeboat.location_segments s
  where s.state = 'pending' and not (s.key = any (coalesce(p_keys, '{}')));
  insert into lifeboat.location_segments (location, key, bytes)
  select l.name, u.key, u.bytes from lifeboat.locations l
  cross join unnest(p_keys, p_bytes) as u(key, bytes)
  where l.enabled and l.role <> 'primary'
  on conflict (location, key) do nothing;
  get diagnostics created = row_count;
  return created;
end
$$;

-- Segments now at a location (written with the primary's sha256, or already there with their size).
create or replace function lifeboat.segment_record_copied(p_location text, p_keys text[], p_bytes bigint[])
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  done integer;
begin
  insert into lifeboat.location_segments (location, key, bytes, state, copied_at)
  select p_location, u.key, u.bytes, 'copied', pg_catalog.now() from unnest(p_keys, p_bytes) as u(key, bytes)
  on conflict (location, key) do update set state = 'copied', bytes = excluded.bytes, copied_at = excluded.copied_at
  where lifeboat.location_segments.state <> 'copied';
  get diagnostics done = row_count;
  return done;
end
$$;

-- The status of 20261122001250, with change segments among the objects pending copy
-- (pending_objects and pending_bytes count them; pending_segments alone).
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
      coalesce(p.backups, 0) as pending_backups, coalesce(p.objects, 0) + coalesce(sp.segments, 0) as pending_objects,
      coalesce(p.bytes, 0) + coalesce(sp.bytes, 0) as pending_bytes, coalesce(sp.segments, 0) as pending_segments,
      coalesce(p.failing, 0) as failing_attempts,
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
      select count(*) as segments, sum(s.bytes) as bytes
      from lifeboat.location_segments s where s.location = l.name and s.state = 'pending') sp on true
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
        'pending_segments', r.pending_segments,
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
  'Per location: the newest verified copy, its age, what is pending (backups, and objects and bytes including change segments), whether it meets its lag objective; and whether the 3-2-1 rule holds and why not.';

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

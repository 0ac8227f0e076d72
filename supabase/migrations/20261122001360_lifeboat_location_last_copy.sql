-- Retention per location never deletes the last verified copy anywhere (issue 21): the rule of
-- 20261122001250 kept only the last copy of the newest backup, which is also the newest copy
-- at its location and so was kept anyway. A copy is now also kept when no other location holds
-- a verified copy of its backup and another enabled location's own retention still keeps that
-- backup (its copy there was lost, pruned by hand or never made): reason last_verified_copy.
-- A backup every other policy has let go of is pruned as before. Idempotent.

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
  -- What every other enabled location's own retention keeps, over every backup planned there
  -- (whatever became of its copy: a copy lost there is still wanted by its policy).
  wanted_elsewhere as (
    select distinct g.id as backup_id
    from lifeboat.locations l
    cross join lateral (
      select pg_catalog.array_agg(c.backup_id order by c.backup_id) as ids,
        pg_catalog.array_agg(c.backup_finished_at order by c.backup_id) as finished
      from lifeboat.location_copies c where c.location = l.name) a
    cross join lateral lifeboat.gfs_keep(a.ids, a.finished,
      lifeboat.location_gfs_count(l.retention, 'daily'), lifeboat.location_gfs_count(l.retention, 'weekly'),
      lifeboat.location_gfs_count(l.retention, 'monthly'), lifeboat.location_gfs_count(l.retention, 'yearly'), p_now) g
    where l.enabled and l.name <> p_location
  ),
  -- The last verified copy anywhere of the newest backup, or of a backup another location's
  -- retention still keeps (its copy there is lost or was never made).
  last_copy as (
    select b.backup_id from b
    where not exists (select from lifeboat.location_copies c
                      where c.backup_id = b.backup_id and c.state = 'copied' and c.location <> p_location)
      and (b.backup_id in (select n.backup_id from newest_anywhere n) or b.backup_id in (select w.backup_id from wanted_elsewhere w))
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
  'For each verified copy at a location: whether its retention keeps it at p_now, and why (never the newest there, nor the last verified copy anywhere of the newest backup or of a backup another location''s retention keeps).';

revoke all on all functions in schema lifeboat from public, anon, authenticated;

-- The stream shipper's liveness (issue 20). The stream-ship schedule calls backup-stream
-- through pg_net every 5 seconds; a call the function refuses (a wrong key in Vault, a missing
-- function) never reaches the shipper, so nothing recorded it: only the RPO grew. Now the
-- schedule keeps the pg_net request id of its last call, and a stopped shipper says why where
-- a user looks:
-- - health check check_stream_shipper: error when no pass ran for stream.shipper_stale_after
--   while the stream is enabled, with what the last call answered (HTTP status, error code) or
--   the last pass's error;
-- - status_stream(): `shipper` {stale, last_pass_at, last_call_status, last_call_error};
-- - the rpo alert (which fires when passes stop) carries the same in its details.
-- Runs as the project's owner role. Idempotent.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('stream.shipper_stale_after', '"1 minute"'::jsonb,
   'No shipper pass for this long while the stream is enabled: check_stream_shipper fails and says what the last backup-stream call answered')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

alter table lifeboat.stream_state add column if not exists last_call_id bigint;
alter table lifeboat.stream_state add column if not exists last_call_at timestamptz;
comment on column lifeboat.stream_state.last_call_id is
  'The pg_net request id (or outbox id) of the stream-ship schedule''s last backup-stream call';

-- stream_ship(): the stream-ship schedule's command: calls backup-stream and keeps the call's id.
create or replace function lifeboat.stream_ship()
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  id bigint := lifeboat.invoke('backup-stream', '{}');
begin
  update lifeboat.stream_state x set last_call_id = id, last_call_at = pg_catalog.clock_timestamp()
  where x.slot = lifeboat.stream_slot_name();
  return id;
end
$$;
comment on function lifeboat.stream_ship() is
  'The stream-ship schedule: lifeboat.invoke(''backup-stream'') and the call''s id kept in stream_state.last_call_id.';

-- stream_last_call(): what the last backup-stream call through pg_net answered: its HTTP status
-- (null while pending or when the request failed), pg_net's error, and the function's error code
-- from a JSON error body. No row without pg_net, or once pg_net has purged the response.
create or replace function lifeboat.stream_last_call()
returns table (request_id bigint, called_at timestamptz, status_code integer, error text)
language plpgsql
stable
set search_path = ''
as $$
declare
  x lifeboat.stream_state;
begin
  select * into x from lifeboat.stream_state s where s.slot = lifeboat.stream_slot_name();
  if x.last_call_id is null or pg_catalog.to_regclass('net._http_response') is null then
    return;
  end if;
  return query execute $q$
    select r.id, $2, r.status_code,
      coalesce(r.error_msg, case when r.status_code between 200 and 299 then null
        else coalesce(
          case when pg_catalog.left(pg_catalog.ltrim(r.content), 1) = '{'
            then (r.content::jsonb ->> 'error') || coalesce(': ' || (r.content::jsonb ->> 'message'), '') end,
          pg_catalog.left(r.content, 200)) end)
    from net._http_response r where r.id = $1$q$
    using x.last_call_id, x.last_call_at;
exception when others then
  -- A response body that is not the function's JSON: its status is still the answer.
  return query execute 'select r.id, $2, r.status_code, r.error_msg from net._http_response r where r.id = $1'
    using x.last_call_id, x.last_call_at;
end
$$;
comment on function lifeboat.stream_last_call() is
  'The last stream-ship call to backup-stream as pg_net recorded it: status code and error (no row without pg_net or a call).';

-- stream_shipper(now): is the shipper passing? stale when no pass ran for
-- stream.shipper_stale_after (counted from enabling when none ever ran); with the last call's
-- answer and the last pass's error. Null without an enabled, undropped stream.
create or replace function lifeboat.stream_shipper(now timestamptz default pg_catalog.now())
returns jsonb
language sql
stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'stale', coalesce(x.last_run_at, x.enabled_at) < $1 - (lifeboat.setting('stream.shipper_stale_after') #>> '{}')::interval,
    'last_pass_at', x.last_run_at,
    'last_call_at', x.last_call_at,
    'last_call_status', c.status_code,
    'last_call_error', c.error,
    'last_pass_error', x.last_error)
  from lifeboat.stream_state x
  left join lifeboat.stream_last_call() c on true
  where x.slot = lifeboat.stream_slot_name() and x.enabled and x.dropped_at is null
$$;
comment on function lifeboat.stream_shipper(timestamptz) is
  'The shipper''s liveness: stale (no pass for stream.shipper_stale_after), last pass, last pg_net call and its answer, last pass error.';

-- check_stream_shipper(now): health of the shipper: error when it is stale, saying what the
-- last call answered. No row while no stream is enabled.
create or replace function lifeboat.check_stream_shipper(now timestamptz default pg_catalog.now())
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
as $$
  with s as (select lifeboat.stream_shipper($1) as j)
  select 'stream_shipper',
    case when (s.j ->> 'stale')::boolean then 'error' else 'ok' end,
    lifeboat.stream_slot_name(),
    case when not (s.j ->> 'stale')::boolean
        then pg_catalog.format('the shipper last passed at %s', s.j ->> 'last_pass_at')
      else pg_catalog.format('no shipper pass since %s%s%s',
        coalesce(s.j ->> 'last_pass_at', 'the stream was enabled'),
        case when s.j ->> 'last_call_status' is not null or s.j ->> 'last_call_error' is not null
          then pg_catalog.format('; the last backup-stream call (%s) answered %s%s', s.j ->> 'last_call_at',
            coalesce(s.j ->> 'last_call_status', 'no HTTP status'), coalesce(' ' || (s.j ->> 'last_call_error'), ''))
          else '' end,
        coalesce('; the last pass failed: ' || (s.j ->> 'last_pass_error'), '')) end,
    case when not (s.j ->> 'stale')::boolean then ''
      when (s.j ->> 'last_call_status')::int in (401, 403)
        then 'The function refused the key from Vault: make the secret named by the setting invoke.key_secret the project''s secret (service) key.'
      when (s.j ->> 'last_call_status')::int = 404
        then 'The backup-stream function is not deployed: supabase functions deploy backup-stream.'
      when s.j ->> 'last_call_at' is null
        then 'The stream-ship cron job does not run: check lifeboat.schedules (stream-ship) and cron.job_run_details, or run lifeboat stream run from a machine.'
      else 'Check lifeboat stream status, the backup-stream function''s logs and export.target; lifeboat stream run from a machine ships meanwhile.' end,
    s.j || pg_catalog.jsonb_build_object('stale_after', lifeboat.setting('stream.shipper_stale_after') #>> '{}')
  from s where s.j is not null
$$;
comment on function lifeboat.check_stream_shipper(timestamptz) is
  'The stream shipper passes (uniform check shape): error after stream.shipper_stale_after without a pass, with the last call''s answer.';

insert into lifeboat.checks (name, suite, position, description) values
  ('check_stream_shipper', 'health', 46, 'The continuous-capture shipper passes regularly; when not, what its last call answered')
on conflict (name) do update set suite = excluded.suite, position = excluded.position, description = excluded.description;

-- The schedule calls stream_ship() (the call's id is kept); apply_schedules() re-creates the
-- cron job with the new command when the stream is enabled.
update lifeboat.schedules set command = 'select lifeboat.stream_ship()', updated_at = pg_catalog.now()
where name = 'stream-ship' and command is distinct from 'select lifeboat.stream_ship()';
select jobname, action from lifeboat.apply_schedules() where jobname = 'lifeboat-stream-ship';

-- status_stream(now): as in 1100, plus the shipper's liveness.
create or replace function lifeboat.status_stream(now timestamptz default pg_catalog.now())
returns jsonb
language sql
stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'slot', x.slot, 'enabled', x.enabled, 'enabled_at', x.enabled_at,
    'running', x.enabled and x.dropped_at is null and w.slot is not null,
    'dropped_at', x.dropped_at, 'drop_reason', x.drop_reason,
    'achieved_rpo_seconds', pg_catalog.round(extract(epoch from $1 - lifeboat.stream_recovery_point())::numeric, 1),
    'recovery_point', lifeboat.stream_recovery_point(),
    'last_commit_at', x.last_commit_at, 'last_run_at', x.last_run_at,
    'lag_bytes', w.lag_bytes, 'retained_bytes', w.retained_bytes, 'wal_status', w.wal_status, 'safe_wal_size', w.safe_wal_size,
    'segments', (select count(*) from lifeboat.stream_segments g where g.slot = x.slot),
    'segment_bytes', (select coalesce(sum(g.bytes), 0) from lifeboat.stream_segments g where g.slot = x.slot),
    'window', lifeboat.stream_window($1),
    'last_error', x.last_error is not null,
    'shipper', (select pg_catalog.jsonb_build_object('stale', (p.j ->> 'stale')::boolean, 'last_call_status', (p.j ->> 'last_call_status')::int)
      from (select lifeboat.stream_shipper($1) as j) p where p.j is not null))
  from lifeboat.stream_state x
  left join lifeboat.stream_slot_wal() w on true
  where x.slot = lifeboat.stream_slot_name()
$$;
comment on function lifeboat.status_stream(timestamptz) is
  'Continuous capture status: achieved RPO, lag and retained WAL, point-in-time window, the shipper''s liveness (no error text: the status token sees it).';

-- alert_rpo: as in 1100; its details also say whether the shipper passes and what its last call answered.
create or replace function lifeboat.alert_rpo(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  with p as (select lifeboat.stream_recovery_point() as at,
    (lifeboat.setting('stream.rpo_floor') #>> '{}')::interval as floor, lifeboat.stream_shipper($1) as shipper)
  select 'rpo:' || o.data_class,
    pg_catalog.format('achieved RPO %s exceeds the %s objective of %s%s', pg_catalog.date_trunc('second', $1 - p.at), o.data_class,
      greatest(o.rpo, p.floor),
      case when (p.shipper ->> 'stale')::boolean
        then pg_catalog.format(' (no shipper pass since %s%s)', coalesce(p.shipper ->> 'last_pass_at', 'enabling'),
          coalesce('; last backup-stream call answered ' || (p.shipper ->> 'last_call_status'), ''))
        else '' end),
    pg_catalog.jsonb_build_object('observed_value', pg_catalog.round(extract(epoch from $1 - p.at)::numeric, 1),
      'threshold', extract(epoch from greatest(o.rpo, p.floor)), 'data_class', o.data_class, 'recovery_point', p.at,
      'shipper', p.shipper)
  from lifeboat.recovery_point_objectives o cross join p
  where p.at is not null and $1 - p.at > greatest(o.rpo, p.floor)
$$;

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

-- Lifeboat notifications: channels (Slack, Discord, signed webhooks, email, healthchecks.io
-- pings), the queue of deliveries with deduplication, cooldown and resolve messages, and
-- the bookkeeping of every attempt with retries and backoff. The database decides WHAT to
-- send and WHEN; the sending is done over HTTP by the backup-status function
-- (POST /backup-status/notify, supabase/functions/_shared/notify/), which pg_cron triggers
-- through lifeboat.invoke() when something is due.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('notify.retry_base', '"30 seconds"'::jsonb, 'First retry delay of a failed notification; doubles per attempt'),
  ('notify.retry_max', '"1 hour"', 'Longest retry delay of a failed notification'),
  ('notify.max_attempts', '6', 'Attempts before a notification is marked dead'),
  ('notify.lease', '"2 minutes"', 'How long a claimed notification is held before another dispatcher may retry it'),
  ('notify.ping_lookback', '"1 day"', 'How far back cron runs are turned into healthchecks pings')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- Channel secrets never live in this table: `target` and `secret_ref` name an edge
-- function secret ('env:NAME', set with `supabase secrets set NAME=…`) or a Vault secret
-- ('vault:NAME'). `url:https://…` is accepted for endpoints that grant nothing by
-- themselves (an internal relay, a local test receiver).
create table if not exists lifeboat.notification_channels (
  id bigint generated always as identity primary key,
  name text not null unique check (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  kind text not null check (kind in ('slack', 'discord', 'webhook', 'email', 'healthchecks')),
  -- Where to send: the webhook URL, the email API base URL, or the healthchecks ping base URL.
  target text not null check (target ~ '^(env:[A-Z_][A-Z0-9_]*|vault:[A-Za-z0-9_.-]+|url:https?://[^[:space:]]+)$'),
  -- The webhook signing secret or the email API key.
  secret_ref text check (secret_ref ~ '^(env:[A-Z_][A-Z0-9_]*|vault:[A-Za-z0-9_.-]+)$'),
  -- Alerts below this severity are not sent (critical > warning > info).
  min_severity text not null default 'warning' check (min_severity in ('critical', 'warning', 'info')),
  -- Only these rules (null = all).
  rules text[],
  -- No second firing message for the same dedup key within this time (flapping).
  cooldown interval not null default interval '1 hour' check (cooldown >= interval '0'),
  -- While an alert keeps firing, remind every this long (null = never).
  repeat_interval interval check (repeat_interval > interval '0'),
  -- email: {"from": "...", "to": ["..."]}; healthchecks: {"jobs": "lifeboat-%", "create": false}.
  config jsonb not null default '{}',
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  constraint notification_channels_secret check (kind not in ('webhook', 'email') or secret_ref is not null),
  constraint notification_channels_email check (kind <> 'email'
    or (config ? 'from' and pg_catalog.jsonb_typeof(config -> 'to') = 'array' and pg_catalog.jsonb_array_length(config -> 'to') > 0))
);
comment on table lifeboat.notification_channels is
  'Where alerts and job pings go. target/secret_ref are references (env:NAME, vault:NAME), never the secret itself.';

create table if not exists lifeboat.notification_deliveries (
  id bigint generated always as identity primary key,
  channel_id bigint not null references lifeboat.notification_channels (id) on delete cascade,
  kind text not null check (kind in ('firing', 'reminder', 'resolved', 'ping_start', 'ping_success', 'ping_fail', 'test')),
  alert_event_id bigint references lifeboat.alert_events (id) on delete set null,
  dedup_key text,
  cron_runid bigint,
  -- What to say, captured when queued: every retry sends the same message.
  event jsonb not null,
  state text not null default 'pending' check (state in ('pending', 'sending', 'delivered', 'dead')),
  attempts integer not null default 0 check (attempts >= 0),
  created_at timestamptz not null default now(),
  next_attempt_at timestamptz not null default now(),
  claimed_at timestamptz,
  delivered_at timestamptz,
  last_status integer,
  last_error text
);
comment on table lifeboat.notification_deliveries is
  'One row per message to send: alert firing/reminder/resolved, or a healthchecks ping around a cron run.';
-- One firing and one resolved message per alert episode and channel; one ping per run and kind.
create unique index if not exists notification_deliveries_alert_uniq
  on lifeboat.notification_deliveries (channel_id, alert_event_id, kind) where kind in ('firing', 'resolved');
create unique index if not exists notification_deliveries_ping_uniq
  on lifeboat.notification_deliveries (channel_id, cron_runid, kind) where cron_runid is not null;
create index if not exists notification_deliveries_due_idx
  on lifeboat.notification_deliveries (next_attempt_at) where state in ('pending', 'sending');
create index if not exists notification_deliveries_key_idx
  on lifeboat.notification_deliveries (channel_id, dedup_key, created_at desc);

create table if not exists lifeboat.notification_attempts (
  delivery_id bigint not null references lifeboat.notification_deliveries (id) on delete cascade,
  attempt integer not null,
  at timestamptz not null default now(),
  status integer,
  error text,
  duration_ms integer,
  primary key (delivery_id, attempt)
);
comment on table lifeboat.notification_attempts is 'Every attempt to deliver a notification: HTTP status or error, and duration.';

insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep, filter, position, description) values
  ('lifeboat', 'notification_deliveries', 'created_at', interval '1 year', 'state in (''delivered'', ''dead'')', 35,
   'Finished notification deliveries (and their attempts): 1 year')
on conflict (schema_name, table_name) do nothing;

-- severity_rank(severity): critical 3, warning 2, info 1.
create or replace function lifeboat.severity_rank(severity text)
returns integer
language sql
immutable
set search_path = ''
as $$
  select case severity when 'critical' then 3 when 'warning' then 2 when 'info' then 1 else 0 end
$$;

-- alert_message(alert): the event a notification about an alert carries.
create or replace function lifeboat.alert_message(a lifeboat.alert_events)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object('alert_id', a.id, 'rule', a.rule, 'severity', a.severity, 'state', a.state,
    'dedup_key', a.dedup_key, 'summary', a.summary, 'first_seen', a.first_seen, 'last_seen', a.last_seen,
    'resolved_at', a.resolved_at, 'occurrences', a.occurrences, 'incident_id', a.incident_id,
    'remediation', (select r.remediation from lifeboat.alert_rules r where r.rule = a.rule))
$$;

-- queue_notifications(now): queues what alert_events call for, per enabled alert channel:
-- - firing: once per alert episode, unless the same dedup key fired on this channel within
--   its cooldown (a flapping or bursting failure sends one message);
-- - reminder: while still firing, every repeat_interval;
-- - resolved: once, for an episode whose firing message was queued.
-- Returns how many deliveries it queued.
create or replace function lifeboat.queue_notifications(now timestamptz default pg_catalog.now())
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  n integer;
  total integer := 0;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('lifeboat.queue_notifications'));

  insert into lifeboat.notification_deliveries (channel_id, kind, alert_event_id, dedup_key, event, created_at, next_attempt_at)
  select c.id, 'firing', a.id, a.dedup_key, lifeboat.alert_message(a), $1, $1
  from lifeboat.alert_events a
  join lifeboat.notification_channels c on c.enabled and c.kind <> 'healthchecks'
    and lifeboat.severity_rank(a.severity) >= lifeboat.severity_rank(c.min_severity)
    and (c.rules is null or a.rule = any (c.rules))
  where a.state = 'firing' and a.first_seen <= $1
    and not exists (select from lifeboat.notification_deliveries d
      where d.channel_id = c.id and d.dedup_key = a.dedup_key and d.kind in ('firing', 'reminder')
        and (d.alert_event_id = a.id or d.created_at > $1 - c.cooldown))
  on conflict do nothing;
  get diagnostics n = row_count;
  total := total + n;

  insert into lifeboat.notification_deliveries (channel_id, kind, alert_event_id, dedup_key, event, created_at, next_attempt_at)
  select c.id, 'reminder', a.id, a.dedup_key, lifeboat.alert_message(a), $1, $1
  from lifeboat.alert_events a
  join lifeboat.notification_channels c on c.enabled and c.kind <> 'healthchecks' and c.repeat_interval is not null
    and lifeboat.severity_rank(a.severity) >= lifeboat.severity_rank(c.min_severity)
    and (c.rules is null or a.rule = any (c.rules))
  where a.state = 'firing'
    and exists (select from lifeboat.notification_deliveries d
      where d.channel_id = c.id and d.alert_event_id = a.id and d.kind = 'firing')
    and not exists (select from lifeboat.notification_deliveries d
      where d.channel_id = c.id and d.alert_event_id = a.id and d.kind in ('firing', 'reminder')
        and d.created_at > $1 - c.repeat_interval);
  get diagnostics n = row_count;
  total := total + n;

  insert into lifeboat.notification_deliveries (channel_id, kind, alert_event_id, dedup_key, event, created_at, next_attempt_at)
  select c.id, 'resolved', a.id, a.dedup_key, lifeboat.alert_message(a), $1, $1
  from lifeboat.alert_events a
  join lifeboat.notification_channels c on c.enabled and c.kind <> 'healthchecks'
  where a.state = 'resolved' and a.resolved_at <= $1 and a.resolved_at > $1 - interval '7 days'
    and exists (select from lifeboat.notification_deliveries d
      where d.channel_id = c.id and d.alert_event_id = a.id and d.kind = 'firing')
  on conflict do nothing;
  get diagnostics n = row_count;
  return total + n;
end
$$;
comment on function lifeboat.queue_notifications(timestamptz) is
  'Queues firing, reminder and resolved notifications for alert_events per channel, with deduplication and cooldown.';

-- queue_job_pings(now): for each healthchecks channel, a start ping and a success or fail
-- ping per run of each watched pg_cron job (config.jobs, a LIKE pattern, default
-- 'lifeboat-%'), for runs since the channel was created. Returns how many it queued.
create or replace function lifeboat.queue_job_pings(now timestamptz default pg_catalog.now())
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  n integer;
  lookback interval := (lifeboat.setting('notify.ping_lookback') #>> '{}')::interval;
begin
  insert into lifeboat.notification_deliveries (channel_id, kind, cron_runid, dedup_key, event, created_at, next_attempt_at)
  select c.id, k.kind, d.runid, 'job:' || j.jobname,
    pg_catalog.jsonb_build_object('job', j.jobname, 'runid', d.runid, 'status', d.status,
      'start_time', d.start_time, 'end_time', d.end_time),
    $1, $1
  from lifeboat.notification_channels c
  join cron.job j on j.jobname like coalesce(c.config ->> 'jobs', 'lifeboat-%') and j.username = current_user
  join cron.job_run_details d on d.jobid = j.jobid
  cross join lateral (
    select 'ping_start' as kind, 1 as ord where d.start_time is not null
    union all select 'ping_success', 2 where d.status = 'succeeded'
    union all select 'ping_fail', 2 where d.status = 'failed'
  ) k
  where c.kind = 'healthchecks' and c.enabled
    and coalesce(d.start_time, d.end_time) >= greatest(c.created_at, $1 - lookback)
    and coalesce(d.start_time, d.end_time) <= $1
  order by d.runid, k.ord
  on conflict do nothing;
  get diagnostics n = row_count;
  return n;
end
$$;
comment on function lifeboat.queue_job_pings(timestamptz) is
  'Queues healthchecks.io-style start/success/fail pings for the runs of watched pg_cron jobs.';

-- claim_notifications(limit, now): claims due deliveries (pending and due, or sending with
-- an expired lease after a dispatcher crashed), oldest first, without blocking on rows
-- another dispatcher holds. The at-least-once rule (lifeboat.lease_until(), settings
-- notify.*): each claim increments attempts, the fencing token record_notification()
-- requires, and leases the delivery until next_attempt_at.
create or replace function lifeboat.claim_notifications(max_rows integer default 20, now timestamptz default pg_catalog.now())
returns table (id bigint, attempt integer, kind text, event jsonb, created_at timestamptz, channel_name text,
  channel_kind text, target text, secret_ref text, config jsonb)
language sql
volatile
set search_path = ''
as $$
  with due as (
    select d.id from lifeboat.notification_deliveries d
    where d.state in ('pending', 'sending') and d.next_attempt_at <= $2
    order by d.id
    limit greatest(max_rows, 1)
    for update skip locked
  ),
  claimed as (
    update lifeboat.notification_deliveries d
    set state = 'sending', attempts = d.attempts + 1, claimed_at = $2,
        next_attempt_at = lifeboat.lease_until('notify', $2)
    from due where d.id = due.id
    returning d.*
  )
  select cl.id, cl.attempts, cl.kind, cl.event, cl.created_at, c.name, c.kind, c.target, c.secret_ref, c.config
  from claimed cl join lifeboat.notification_channels c on c.id = cl.channel_id
  order by cl.id
$$;
comment on function lifeboat.claim_notifications(integer, timestamptz) is
  'Claims due notification deliveries for a dispatcher; returns them with their channel (references, not secrets).';

-- record_notification(id, attempt, status, error, duration, now): records an attempt and
-- moves the delivery on by the at-least-once rule (lifeboat.delivery_outcome(), settings
-- notify.*): delivered, retried with backoff, or dead. A stale attempt changes nothing.
-- A delivered alert message is noted on the alert and on its incident's timeline.
create or replace function lifeboat.record_notification(
  delivery_id bigint, attempt integer, http_status integer, error text,
  duration_ms integer default null, now timestamptz default pg_catalog.now()
)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  d lifeboat.notification_deliveries;
  outcome text;
  err text := pg_catalog.left(error, 500);
  inc bigint;
begin
  select * into d from lifeboat.notification_deliveries x where x.id = delivery_id for update;
  if not found or d.attempts <> attempt or d.state <> 'sending' then
    return 'stale';
  end if;
  insert into lifeboat.notification_attempts (delivery_id, attempt, at, status, error, duration_ms)
  values (delivery_id, attempt, $6, http_status, err, duration_ms)
  on conflict do nothing;

  outcome := lifeboat.delivery_outcome('notify', d.attempts, http_status);
  if outcome = 'delivered' then
    update lifeboat.notification_deliveries x
    set state = 'delivered', delivered_at = $6, last_status = http_status, last_error = null
    where x.id = delivery_id;
    if d.alert_event_id is not null then
      update lifeboat.alert_events a
      set last_notified_at = $6, notified_state = case when d.kind = 'resolved' then 'resolved' else 'firing' end,
          notifications = a.notifications + 1
      where a.id = d.alert_event_id
      returning a.incident_id into inc;
      if inc is not null then
        insert into lifeboat.incident_events (incident_id, at, kind, message, details)
        select inc, $6, 'notified',
          pg_catalog.format('%s message sent to %s (%s)', d.kind, c.name, c.kind),
          pg_catalog.jsonb_build_object('delivery_id', d.id, 'channel', c.name)
        from lifeboat.notification_channels c where c.id = d.channel_id;
      end if;
    end if;
    return 'delivered';
  elsif outcome = 'dead' then
    update lifeboat.notification_deliveries x
    set state = 'dead', last_status = http_status, last_error = err
    where x.id = delivery_id;
    return 'dead';
  end if;
  update lifeboat.notification_deliveries x
  set state = 'pending', next_attempt_at = $6 + lifeboat.retry_delay('notify', d.attempts),
      last_status = http_status, last_error = err
  where x.id = delivery_id;
  return 'retry';
end
$$;
comment on function lifeboat.record_notification(bigint, integer, integer, text, integer, timestamptz) is
  'Records a delivery attempt: delivered, retry with exponential backoff, or dead. Stale attempts are ignored.';

-- notifications_due(now): true when a delivery waits to be sent.
create or replace function lifeboat.notifications_due(now timestamptz default pg_catalog.now())
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (select from lifeboat.notification_deliveries d
    where d.state in ('pending', 'sending') and d.next_attempt_at <= $1)
$$;

-- dispatch_notifications(): the scheduled job. Queues alert messages and job pings, then,
-- if anything is due and no earlier trigger still waits in the outbox, asks the
-- backup-status function to send (lifeboat.invoke: pg_net on Supabase, the outbox locally).
-- Returns the invocation id, or null when there was nothing to do.
create or replace function lifeboat.dispatch_notifications()
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  waiting boolean := false;
begin
  perform lifeboat.queue_notifications();
  perform lifeboat.queue_job_pings();
  if not lifeboat.notifications_due() then
    return null;
  end if;
  if pg_catalog.to_regclass('lifeboat.outbox') is not null then
    execute $q$select exists (select from lifeboat.outbox o where o.function_name = 'backup-status'
      and o.delivered_at is null and o.dead_at is null)$q$ into waiting;
  end if;
  if waiting then
    return null;
  end if;
  return lifeboat.invoke('backup-status', '{"action": "notify"}');
end
$$;
comment on function lifeboat.dispatch_notifications() is
  'Scheduled every minute: queues notifications and pings, and triggers the backup-status dispatcher when any is due.';

insert into lifeboat.schedules (name, schedule, command, description) values
  ('notify-dispatch', '* * * * *', 'select lifeboat.dispatch_notifications()',
   'Every minute: queue alert notifications and healthchecks pings, and trigger the sender when any is due')
on conflict (name) do nothing;
select jobname, action from lifeboat.apply_schedules() where jobname = 'lifeboat-notify-dispatch';

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;

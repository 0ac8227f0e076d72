-- Lifeboat at-least-once delivery: the one lease, backoff and retry rule both queues use,
-- lifeboat.outbox (edge-function calls, drained by `lifeboat outbox`) and
-- lifeboat.notification_deliveries (alert messages and pings, sent by the backup-status
-- function). A queue is named by the prefix of its settings: <queue>.lease,
-- <queue>.retry_base, <queue>.retry_max, <queue>.max_attempts.
--
-- - A claim counts as one attempt and leases the message until lease_until(): the message
--   is due again then, so a worker that dies mid-delivery only delays it.
-- - The attempt number is the fencing token: a result for an attempt that is no longer the
--   current one (the lease ran out and another worker took over) changes nothing ('stale').
-- - delivery_outcome(): 2xx delivers; a network error (no status), 408, 429 or 5xx retries
--   after retry_delay() until max_attempts, then the message is dead; any other status is
--   permanent (dead at once).
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.

-- lease_until(queue, at, lease): when a message claimed at `at` is due again; the lease
-- is the argument, or setting <queue>.lease.
create or replace function lifeboat.lease_until(queue text, at timestamptz, lease interval default null)
returns timestamptz
language sql
stable
set search_path = ''
as $$
  select at + coalesce(lease, (lifeboat.setting(queue || '.lease') #>> '{}')::interval)
$$;
comment on function lifeboat.lease_until(text, timestamptz, interval) is
  'When a message of a queue claimed at a time is due again: that time plus the lease (argument, or setting <queue>.lease).';

-- retry_delay(queue, attempts): <queue>.retry_base * 2^(attempts-1), capped at <queue>.retry_max.
create or replace function lifeboat.retry_delay(queue text, attempts integer)
returns interval
language sql
stable
set search_path = ''
as $$
  select least(
    (lifeboat.setting(queue || '.retry_max') #>> '{}')::interval,
    (lifeboat.setting(queue || '.retry_base') #>> '{}')::interval
      * pg_catalog.power(2, least(greatest(attempts, 1) - 1, 30)))
$$;
comment on function lifeboat.retry_delay(text, integer) is
  'Exponential backoff of a queue: <queue>.retry_base doubled per attempt, capped at <queue>.retry_max.';

-- delivery_outcome(queue, attempts, http_status): what an attempt's result makes of the
-- message: 'delivered', 'retry' or 'dead'.
create or replace function lifeboat.delivery_outcome(queue text, attempts integer, http_status integer)
returns text
language sql
stable
set search_path = ''
as $$
  select case
    when http_status between 200 and 299 then 'delivered'
    when (http_status is null or http_status in (408, 429) or http_status >= 500)
      and attempts < (lifeboat.setting(queue || '.max_attempts'))::text::integer then 'retry'
    else 'dead' end
$$;
comment on function lifeboat.delivery_outcome(text, integer, integer) is
  'The at-least-once retry rule: 2xx delivered; no status, 408, 429 or 5xx retry until <queue>.max_attempts; else dead.';

revoke all on all functions in schema lifeboat from public, anon, authenticated;

-- The outbox protocol the worker follows: claim (leased, one attempt each), record (delivered,
-- retry with exponential backoff, dead), stale results ignored, requeue.
-- Concurrent claiming (SKIP LOCKED across sessions) is tested in tests/stack/outbox.test.ts.
begin;
select plan(27);

-- The outbox transport, forced (pg_net is installed here, as on Supabase).
update lifeboat.settings set value = '"outbox"' where key = 'invoke.transport';
-- Only this test's messages: a queue of its own.
update lifeboat.settings set value = '{"t-a": "q-test", "t-b": "q-test", "t-c": "q-test"}' where key = 'invoke.queues';
create temp table t_ids on commit drop as
select f as label, lifeboat.invoke(f, jsonb_build_object('n', f)) as id from unnest(array['t-a', 't-b', 't-c']) f;

select is(lifeboat.outbox_next_due('q-test') <= clock_timestamp(), true, 'new messages are due now');
create temp table t_c1 on commit drop as select * from lifeboat.outbox_claim('q-test', 2);
select is((select count(*)::int from t_c1), 2, 'a claim takes at most the batch size');
select is((select array_agg(distinct attempts) from t_c1), array[1], 'each claim counts as an attempt');
select ok((select bool_and(next_attempt_at > clock_timestamp() + interval '1 minute') from t_c1),
  'claimed messages are leased (not due again for the lease)');
select is((select count(*)::int from lifeboat.outbox_claim('q-test', 10)), 1, 'the next claim gets only the unleased one');
select is((select count(*)::int from lifeboat.outbox_claim('q-test', 10)), 0, 'then nothing is due');
select is((select count(*)::int from lifeboat.outbox_claim('default', 10) c where c.queue = 'q-test'), 0,
  'a worker on another queue never sees them');

-- t-a: delivered first time.
select is(lifeboat.outbox_record((select id from t_ids where label = 't-a'), 1, 200, '{"ok":true}', null, 12), 'delivered',
  'a 2xx response delivers the message');
select results_eq($$select last_status, last_response, delivered_at is not null from lifeboat.outbox where id = (select id from t_ids where label = 't-a')$$,
  $$values (200, '{"ok":true}'::text, true)$$, 'status and response are recorded');
select is(lifeboat.outbox_record((select id from t_ids where label = 't-a'), 1, 200, 'again', null), 'stale',
  'a second result for the same attempt is ignored');
select results_eq($$select attempt, status, response, duration_ms from lifeboat.outbox_attempts
    where outbox_id = (select id from t_ids where label = 't-a')$$,
  $$values (1, 200, '{"ok":true}'::text, 12)$$, 'each attempt is kept in outbox_attempts');

-- t-b: fails, retried with backoff, then dead at max_attempts.
select is(lifeboat.retry_delay('outbox', 1), interval '10 seconds', 'the first retry waits outbox.retry_base');
select is(lifeboat.retry_delay('outbox', 3), interval '40 seconds', 'then the delay doubles per attempt');
select is(lifeboat.retry_delay('outbox', 30), interval '1 hour', 'up to outbox.retry_max');
select is(lifeboat.outbox_record((select id from t_ids where label = 't-b'), 1, 503, 'busy', null), 'retry',
  'a 5xx is retried');
select ok((select next_attempt_at between clock_timestamp() + interval '9 seconds' and clock_timestamp() + interval '11 seconds'
  from lifeboat.outbox where id = (select id from t_ids where label = 't-b')), 'after the backoff delay');
select is(lifeboat.outbox_record((select id from t_ids where label = 't-b'), 2, 200, 'late', null), 'stale',
  'a result for an attempt that was never claimed is ignored');
update lifeboat.settings set value = '2' where key = 'outbox.max_attempts';
update lifeboat.outbox set next_attempt_at = now() - interval '1 second' where id = (select id from t_ids where label = 't-b');
select is((select attempts from lifeboat.outbox_claim('q-test', 10) where function_name = 't-b'), 2, 'the retry is claimed as attempt 2');
select is(lifeboat.outbox_record((select id from t_ids where label = 't-b'), 2, null, null, 'connection refused'), 'dead',
  'at outbox.max_attempts the message is dead');
select results_eq($$select last_status, last_error, dead_at is not null, delivered_at is null from lifeboat.outbox
    where id = (select id from t_ids where label = 't-b')$$,
  $$values (null::int, 'connection refused'::text, true, true)$$, 'with the last error kept');
select is((select count(*)::int from lifeboat.outbox_claim('q-test', 10)), 0, 'a dead message is never claimed');

-- t-c: a 4xx other than 408/429 is permanent; 429 is not.
select is(lifeboat.outbox_record((select id from t_ids where label = 't-c'), 1, 429, 'slow down', null), 'retry',
  '429 is retried');
update lifeboat.outbox set next_attempt_at = now() - interval '1 second' where id = (select id from t_ids where label = 't-c');
select is((select count(*)::int from lifeboat.outbox_claim('q-test', 10)), 1, 'the retry is due again');
update lifeboat.settings set value = '5' where key = 'outbox.response_limit';
select is(lifeboat.outbox_record((select id from t_ids where label = 't-c'), 2, 404, 'no such function here', null), 'dead',
  'a 404 is permanent: dead without further attempts');
select is((select last_response from lifeboat.outbox where id = (select id from t_ids where label = 't-c')), 'no su',
  'responses are truncated to outbox.response_limit');

-- Requeue gives a dead message a fresh start.
select ok(lifeboat.outbox_requeue((select id from t_ids where label = 't-c')), 'a dead message can be requeued');
select results_eq($$select attempts, dead_at, delivered_at from lifeboat.outbox_claim('q-test', 10)$$,
  $$values (1, null::timestamptz, null::timestamptz)$$, 'and is claimed again as attempt 1');

select * from finish();
rollback;

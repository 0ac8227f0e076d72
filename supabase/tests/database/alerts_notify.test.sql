-- Notifications: channel references (never secrets), deduplication, cooldown, resolve
-- messages, reminders, retries with backoff, dead letters, fencing, and healthchecks pings.
begin;
select plan(36);

delete from lifeboat.alert_events;
delete from lifeboat.incidents;
delete from lifeboat.notification_channels;
update lifeboat.alert_rules set enabled = false;
create temporary table t0 as select timestamptz '2030-01-01 12:00:00+00' as at;
create function pg_temp.at(offset_text text) returns timestamptz language sql as
  $$ select (select at from t0) + offset_text::interval $$;
create function pg_temp.queued(k text) returns int language sql as
  $$ select count(*)::int from lifeboat.notification_deliveries where kind = k $$;

-- Channels hold references, not secrets.
select throws_ok($$insert into lifeboat.notification_channels (name, kind, target)
  values ('plain', 'slack', 'https://hooks.slack.com/services/T/B/secret')$$, '23514', null,
  'a plain secret URL is rejected: use env:, vault: or url:');
select throws_ok($$insert into lifeboat.notification_channels (name, kind, target)
  values ('unsigned', 'webhook', 'url:https://example.com/hook')$$, '23514', null,
  'a webhook without a signing secret reference is rejected');
select throws_ok($$insert into lifeboat.notification_channels (name, kind, target, secret_ref)
  values ('mail', 'email', 'url:https://api.resend.com', 'env:RESEND_API_KEY')$$, '23514', null,
  'an email channel needs from and to');
select throws_ok($$insert into lifeboat.notification_channels (name, kind, target, secret_ref)
  values ('leaky', 'webhook', 'url:https://example.com/hook', 'hunter2')$$, '23514', null,
  'a literal signing secret is rejected');
select lives_ok($$insert into lifeboat.notification_channels (name, kind, target, secret_ref, config)
  values ('mail', 'email', 'url:https://api.resend.com', 'vault:resend_key', '{"from": "a@example.com", "to": ["b@example.com"]}')$$,
  'an email channel with references and recipients');
delete from lifeboat.notification_channels;

insert into lifeboat.notification_channels (name, kind, target, min_severity, cooldown)
values ('ops-slack', 'slack', 'env:LIFEBOAT_TEST_SLACK_URL', 'warning', interval '1 hour'),
       ('pager', 'discord', 'url:http://127.0.0.1:9/discord', 'critical', interval '1 hour');

-- A warning fires (connections with a zero threshold) and is evaluated three times: one message.
update lifeboat.alert_rules set enabled = true, threshold = 0 where rule = 'connections';
select lifeboat.evaluate_alerts(pg_temp.at('0 minutes'));
select lifeboat.evaluate_alerts(pg_temp.at('1 minute'));
select lifeboat.evaluate_alerts(pg_temp.at('2 minutes'));
select is(pg_temp.queued('firing'), 1, 'a burst of identical failures queues one message');
select is((select c.name from lifeboat.notification_deliveries d join lifeboat.notification_channels c on c.id = d.channel_id),
  'ops-slack', 'only to the channel whose minimum severity it meets');
select is((select event ->> 'dedup_key' from lifeboat.notification_deliveries), 'connections', 'the message carries the alert');
select is((select event ->> 'remediation' from lifeboat.notification_deliveries),
  (select remediation from lifeboat.alert_rules where rule = 'connections'), 'and what to do about it');

-- Resolved: one resolve message.
update lifeboat.alert_rules set threshold = 0.8 where rule = 'connections';
select lifeboat.evaluate_alerts(pg_temp.at('3 minutes'));
select lifeboat.evaluate_alerts(pg_temp.at('4 minutes'));
select is(pg_temp.queued('resolved'), 1, 'resolving queues one resolve message');

-- It fires again within the cooldown: no message; still firing after the cooldown: one.
update lifeboat.alert_rules set threshold = 0 where rule = 'connections';
select lifeboat.evaluate_alerts(pg_temp.at('10 minutes'));
select is(pg_temp.queued('firing'), 1, 'a new episode within the cooldown sends nothing');
select lifeboat.evaluate_alerts(pg_temp.at('30 minutes'));
select is(pg_temp.queued('firing'), 1, 'still nothing at 30 minutes');
select lifeboat.evaluate_alerts(pg_temp.at('65 minutes'));
select is(pg_temp.queued('firing'), 2, 'past the cooldown, the still-firing alert is sent once');
select lifeboat.evaluate_alerts(pg_temp.at('70 minutes'));
select is(pg_temp.queued('firing'), 2, 'and not again');
select is(pg_temp.queued('reminder'), 0, 'no reminders without repeat_interval');
update lifeboat.notification_channels set repeat_interval = interval '2 hours' where name = 'ops-slack';
select lifeboat.queue_notifications(pg_temp.at('3 hours 10 minutes'));
select is(pg_temp.queued('reminder'), 1, 'a reminder after repeat_interval');
select lifeboat.queue_notifications(pg_temp.at('4 hours'));
select is(pg_temp.queued('reminder'), 1, 'not before the next interval');
update lifeboat.alert_rules set enabled = false where rule = 'connections';
select lifeboat.evaluate_alerts(pg_temp.at('5 hours'));
select is(pg_temp.queued('resolved'), 2, 'the second episode resolves with one message');

-- Claiming and recording: retry with backoff, fencing, delivery, dead letters.
delete from lifeboat.notification_deliveries where id <> (select min(id) from lifeboat.notification_deliveries);
update lifeboat.notification_deliveries set next_attempt_at = pg_temp.at('0 minutes');
create temporary table c1 as select * from lifeboat.claim_notifications(10, pg_temp.at('6 hours'));
select is((select count(*)::int from c1), 1, 'a due delivery is claimed');
select is((select attempt from c1), 1, 'as attempt 1');
select is((select target from c1), 'env:LIFEBOAT_TEST_SLACK_URL', 'the claim returns the reference, not a secret');
select is((select count(*)::int from lifeboat.claim_notifications(10, pg_temp.at('6 hours'))), 0,
  'a claimed delivery is not claimed twice');
select is(lifeboat.record_notification((select id from c1), 1, 503, 'HTTP 503', 12, pg_temp.at('6 hours')), 'retry',
  'a 503 is retried');
select is((select next_attempt_at from lifeboat.notification_deliveries where id = (select id from c1)),
  pg_temp.at('6 hours 30 seconds'), 'after 30 s (first backoff)');
select is((select count(*)::int from lifeboat.claim_notifications(10, pg_temp.at('6 hours 10 seconds'))), 0,
  'not before its backoff');
create temporary table c2 as select * from lifeboat.claim_notifications(10, pg_temp.at('6 hours 31 seconds'));
select is((select attempt from c2), 2, 'claimed again as attempt 2');
select is(lifeboat.record_notification((select id from c1), 1, 200, null, 5, pg_temp.at('6 hours 32 seconds')), 'stale',
  'a late answer to attempt 1 changes nothing');
select is(lifeboat.record_notification((select id from c2), 2, null, 'timed out', 10000, pg_temp.at('6 hours 41 seconds')), 'retry',
  'a timeout is retried');
select is((select next_attempt_at from lifeboat.notification_deliveries where id = (select id from c1)),
  pg_temp.at('6 hours 1 minute 41 seconds'), 'after 60 s (the backoff doubles)');
create temporary table c3 as select * from lifeboat.claim_notifications(10, pg_temp.at('7 hours'));
select is(lifeboat.record_notification((select id from c3), 3, 200, null, 8, pg_temp.at('7 hours')), 'delivered', '2xx delivers');
select is((select array_agg(status order by attempt) from lifeboat.notification_attempts where delivery_id = (select id from c1)),
  array[503, null, 200], 'every attempt is recorded');
select is((select notified_state from lifeboat.alert_events a join lifeboat.notification_deliveries d on d.alert_event_id = a.id
  where d.id = (select id from c1)), 'firing', 'the alert records what was last sent');

insert into lifeboat.notification_deliveries (channel_id, kind, event, next_attempt_at)
select id, 'test', '{}', pg_temp.at('0 minutes') from lifeboat.notification_channels where name = 'pager';
create temporary table c4 as select * from lifeboat.claim_notifications(10, pg_temp.at('8 hours'));
select is(lifeboat.record_notification((select id from c4), 1, 404, 'HTTP 404', 3, pg_temp.at('8 hours')), 'dead',
  'a 404 is not retried');

-- healthchecks pings around cron runs: start plus success or fail, once per run.
insert into lifeboat.notification_channels (name, kind, target, created_at, config)
values ('hc', 'healthchecks', 'env:LIFEBOAT_TEST_HC_URL', now() - interval '1 hour', '{"jobs": "lifeboat-ping-test"}');
select cron.schedule('lifeboat-ping-test', '0 0 1 1 *', 'select 1');
-- Run ids above every real one: postgres may not use cron.runid_seq on Supabase.
insert into cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
select jobid, (select coalesce(max(d.runid), 0) + 1000000 from cron.job_run_details d) + row_number() over (), 'postgres', current_user, 'select 1', s, '', now() - interval '5 minutes', now() - interval '4 minutes'
from cron.job, unnest(array['succeeded', 'failed']) s where jobname = 'lifeboat-ping-test';
select is(lifeboat.queue_job_pings(), 4, 'two runs queue four pings');
select set_eq($$select kind from lifeboat.notification_deliveries where dedup_key = 'job:lifeboat-ping-test'$$,
  array['ping_start', 'ping_success', 'ping_fail'], 'start, success and fail pings');
select is(lifeboat.queue_job_pings(), 0, 'queuing again adds nothing');

select * from finish();
rollback;

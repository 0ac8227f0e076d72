-- Export jobs (migration 20261122000600): one active job per target, fenced part
-- completion, unclaim, release to failure, the stale sweeper, chunk planning and GFS.
begin;
select plan(25);

select has_function('lifeboat', 'export_claim_part', array['bigint', 'text', 'interval']);
select has_function('lifeboat', 'gfs_retention', array['text', 'timestamp with time zone']);
select is((select value from lifeboat.settings where key = 'retention.gfs.daily'), '7'::jsonb, 'GFS daily default 7');
select is((select value from lifeboat.settings where key = 'retention.gfs.yearly'), '"all"'::jsonb, 'GFS yearly default: all');
select ok(not has_function_privilege('anon', 'lifeboat.export_claim_part(bigint,text,interval)', 'execute'), 'anon cannot claim parts');

insert into lifeboat.backup_runs (kind, target, state, started_at, metadata)
values ('full', 'pgtap://t', 'running', now(), '{"origin":"backup-export","backup_id":"20260101T000000Z-0000000a"}');
select throws_ok(
  $$insert into lifeboat.backup_runs (kind, target, state, started_at, metadata)
    values ('full', 'pgtap://t', 'running', now(), '{"origin":"backup-export","backup_id":"20260101T000000Z-0000000b"}')$$,
  '23505', null, 'a second active job for the same target is refused');
select throws_ok(
  $$insert into lifeboat.backup_runs (kind, target, state, started_at, metadata)
    values ('full', 'pgtap://t/', 'running', now(), '{"origin":"cli","backup_id":"20260101T000000Z-0000000d"}')$$,
  '23505', null, 'a CLI run into a target with an active job is refused too (trailing slash ignored)');
select lives_ok(
  $$insert into lifeboat.backup_runs (kind, state) values ('full', 'planned'), ('full', 'planned')$$,
  'runs without a target are not limited');

create temp table run as select id from lifeboat.backup_runs where target = 'pgtap://t';
create table public.pgtap_chunks (id int primary key, v text);
insert into public.pgtap_chunks select i, md5(i::text) from generate_series(1, 5000) i;
analyze public.pgtap_chunks;
select is(lifeboat.export_plan_table((select id from run), 'public', 'pgtap_chunks', 8192) > 1, true, 'a table is cut into several key ranges');
select is((select count(*) from lifeboat.backup_parts where run_id = (select id from run) and lower_bound is null)::int, 1,
  'exactly one part is open below');
select is((select count(*) from lifeboat.backup_parts where run_id = (select id from run) and upper_bound is null)::int, 1,
  'exactly one part is open above');
select is(
  (select count(*) from lifeboat.backup_parts a join lifeboat.backup_parts b
     on a.run_id = b.run_id and b.chunk = a.chunk + 1 and a.upper_bound = b.lower_bound
   where a.run_id = (select id from run))::int,
  (select count(*) - 1 from lifeboat.backup_parts where run_id = (select id from run))::int,
  'ranges are contiguous: each upper bound is the next lower bound');

create temp table c1 as select * from lifeboat.export_claim_part((select id from run), 'w1', interval '1 hour');
select is((select attempt from c1), 1, 'a claim is attempt 1');
select ok(lifeboat.export_unclaim_part((select id from c1), 1), 'an unclaimed part goes back');
select is((select attempt from lifeboat.backup_parts where id = (select id from c1)), 0, 'unclaiming does not count an attempt');
create temp table c2 as select * from lifeboat.export_claim_part((select id from run), 'w2', interval '1 hour');
select is((select id from c2), (select id from c1), 'the same part is claimed again');
select ok(lifeboat.export_complete_part((select id from c2), 1, 'k0', 10, repeat('a', 64), 5, 20, 's1', '0/1'),
  'the current attempt completes');
select ok(not lifeboat.export_complete_part((select id from c2), 1, 'k0', 10, repeat('a', 64), 5, 20, 's1', '0/1'),
  'a repeated completion is refused: no part counted twice');

create temp table c3 as select * from lifeboat.export_claim_part((select id from run), 'w3', interval '1 hour');
select is(lifeboat.export_release_part((select id from c3), 1, 'boom', 3), 'pending', 'a failed attempt goes back to pending');
update lifeboat.backup_parts set attempt = 2 where id = (select id from c3);
create temp table c4 as select * from lifeboat.export_claim_part((select id from run), 'w3', interval '1 hour');
select is(lifeboat.export_release_part((select id from c4), 3, 'boom', 3), 'failed', 'the last attempt fails the part');
select is((select state from lifeboat.backup_runs where id = (select id from run)), 'failed', '... and the job, loudly');
select is((select count(*) from lifeboat.alert_events where dedup_key = 'backup_export_failed:pgtap://t' and state = 'firing')::int, 1,
  'with a firing alert');

insert into lifeboat.backup_runs (kind, target, state, started_at, last_progress_at, metadata)
values ('full', 'pgtap://s', 'running', now() - interval '3 hours', now() - interval '2 hours',
        '{"origin":"backup-export","backup_id":"20260101T000000Z-0000000c"}');
insert into lifeboat.backup_runs (kind, target, state, started_at, last_progress_at, metadata)
values ('full', '/pgtap/cli-store', 'running', now() - interval '3 hours', now() - interval '2 hours',
        '{"origin":"cli","source":"cli","backup_id":"20260101T000000Z-0000000e"}');
select is((select count(*) from lifeboat.export_sweep_stale() s where s.target = 'pgtap://s')::int, 1, 'the sweeper fails a stale job');
select is((select state from lifeboat.backup_runs where target = '/pgtap/cli-store'), 'failed',
  'a dead CLI run is swept too, so it cannot hold its target forever');
select is((select severity from lifeboat.alert_events where dedup_key = 'backup_export_stale:pgtap://s'), 'critical',
  'and raises a stale alert');

select * from finish();
rollback;

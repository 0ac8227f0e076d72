-- Files jobs, per-bucket schedules and retention (migration 20261122000900): the seeds'
-- defaults, the cron words, schedule names from any bucket id, a 'files' kind for runs and
-- parts, and nothing granted to the API roles.
begin;
select plan(14);

select is(lifeboat.setting('files.buckets') -> 'assets',
  '{"schedule": "daily", "keep_days": 90, "versioned": true}'::jsonb, 'assets: daily, kept 90 days, versioned');
select is(lifeboat.setting('files.buckets') -> 'user_uploads',
  '{"schedule": "hourly", "keep_days": 30, "versioned": true}'::jsonb, 'user_uploads: hourly, kept 30 days, versioned');
select is(lifeboat.files_cron('hourly'), '15 * * * *', 'hourly runs at minute 15');
select is(lifeboat.files_cron(' Daily '), '45 0 * * *', 'daily runs at 00:45 UTC, after export-daily');
select is(lifeboat.files_cron('*/30 * * * *'), '*/30 * * * *', 'a cron expression is kept as given');
select is(lifeboat.files_schedule_name('assets'), 'files-assets', 'a plain bucket id names its schedule');
select matches(lifeboat.files_schedule_name('My Bucket!'), '^files-my-bucket--[0-9a-f]{8}$', 'other ids are made safe, with a hash');
select ok(lifeboat.files_schedule_name(repeat('x', 200)) ~ '^[a-z0-9][a-z0-9_-]{0,53}$', 'a long id still fits lifeboat.schedules');
select is((select command from lifeboat.schedules where name = 'files-user_uploads'),
  $$select lifeboat.invoke('backup-export', '{"mode": "files", "buckets": ["user_uploads"]}'::jsonb)$$,
  'the schedule invokes backup-export in files mode through lifeboat.invoke');
select is((select requires_setting from lifeboat.schedules where name = 'files-assets'), 'export.target',
  'installed only once export.target is set');

update lifeboat.settings set value = '{"only_this": {"schedule": "hourly"}}' where key = 'files.buckets';
select results_eq($$select bucket, schedule_name, cron from lifeboat.sync_file_schedules()$$,
  $$values ('only_this'::text, 'files-only_this'::text, '15 * * * *'::text)$$, 'sync follows the setting');
select is((select array_agg(name order by name) from lifeboat.schedules where name like 'files-%'),
  array['files-only_this'], 'rows of buckets no longer configured are dropped');

select lives_ok($$insert into lifeboat.backup_runs (kind, target, state, started_at, metadata) values ('files', 's3://t/pgtap/', 'running', now(), '{}')$$,
  'a run may be a files run');
select ok(not has_function_privilege('anon', 'lifeboat.sync_file_schedules()', 'execute')
  and not has_function_privilege('authenticated', 'lifeboat.files_blobs_in_flight()', 'execute'), 'the API roles cannot call them');

select * from finish();
rollback;

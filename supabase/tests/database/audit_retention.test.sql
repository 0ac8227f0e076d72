-- Retention: purge_expired() deletes exactly what each policy says, never backups, logs what
-- it deleted, and copes with awkward identifiers and tables it cannot touch.
begin;
select plan(24);

-- Count only this test's rows: set aside whatever other suites left (rolled back at the end).
delete from lifeboat.incident_events;
update lifeboat.alert_events set incident_id = null;
delete from lifeboat.incidents;
delete from lifeboat.alert_events;
delete from lifeboat.drills;
delete from lifeboat.maintenance_log;
delete from lifeboat.metric_snapshots;

-- Seeded policies (seed documents: maintenance logs 12 months, compliance records 7 years).
select results_eq(
  $$select table_name, keep from lifeboat.retention_policies
    where schema_name = 'lifeboat' and table_name in ('maintenance_log', 'incidents', 'incident_events', 'drills', 'verification_runs')
    order by table_name$$,
  $$values ('drills', interval '7 years'), ('incident_events', interval '7 years'), ('incidents', interval '7 years'),
           ('maintenance_log', interval '12 months'), ('verification_runs', interval '7 years')$$,
  'maintenance logs are kept 12 months, incident and recovery documentation 7 years');
select is((select keep from lifeboat.retention_policies where schema_name = 'cron' and table_name = 'job_run_details'),
  interval '30 days', 'pg_cron run history is kept 30 days');
select throws_ok($$insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep)
  values ('lifeboat', 'backup_runs', 'created_at', interval '1 day')$$, '23514', null,
  'no retention policy may purge backup runs here');
select throws_ok($$insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep)
  values ('lifeboat', 'x', 'y', interval '1 hour')$$, '23514', null, 'a policy keeps at least a day');

-- Start from known contents: this test owns these tables inside its transaction.
delete from lifeboat.alert_events;
delete from lifeboat.incidents;
delete from lifeboat.maintenance_log;
delete from lifeboat.metric_snapshots;

insert into lifeboat.maintenance_log (logged_at, type, description, outcome) values
  (now() - interval '13 months', 'test', 'old', 'success'),
  (now() - interval '11 months', 'test', 'recent', 'success');
insert into lifeboat.metric_snapshots (taken_at, connections, active_connections, max_connections, database_size_bytes) values
  (now() - interval '100 days', 1, 1, 100, 1), (now() - interval '1 day', 1, 1, 100, 1);
insert into lifeboat.incidents (severity, title, status, opened_at, resolved_at) values
  ('high', 'resolved 8y ago', 'resolved', now() - interval '9 years', now() - interval '8 years'),
  ('high', 'opened 9y ago, resolved 6y ago', 'resolved', now() - interval '9 years', now() - interval '6 years'),
  ('low', 'open for 8 years', 'open', now() - interval '8 years', null);
insert into lifeboat.incident_events (incident_id, at, kind, message)
select id, opened_at, 'opened', title from lifeboat.incidents;
insert into lifeboat.alert_events (rule, severity, dedup_key, state, first_seen, last_seen, resolved_at) values
  ('r', 'warning', 'old-resolved', 'resolved', now() - interval '2 years', now() - interval '2 years', now() - interval '2 years'),
  ('r', 'warning', 'old-firing', 'firing', now() - interval '2 years', now() - interval '2 years', null);
insert into lifeboat.drills (started_at, success) values (now() - interval '8 years', true), (now() - interval '1 year', true);
insert into lifeboat.backup_runs (kind, created_at, started_at, state) values ('full', now() - interval '10 years', now() - interval '10 years', 'running');

-- A user table with awkward names, under a policy of its own.
create schema "Odd ☃ ""schema""";
create table "Odd ☃ ""schema"""."Order Log" ("Logged At" timestamptz not null, "select" int);
insert into "Odd ☃ ""schema"""."Order Log" values (now() - interval '3 days', 1), (now() - interval '3 days', 2), (now(), 3);
insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep, filter) values
  ('Odd ☃ "schema"', 'Order Log', 'Logged At', interval '1 day', '"select" <> 2'),
  ('public', 'no such table', 'at', interval '1 day', null);

-- Dry run: counts, deletes nothing, logs nothing.
create temp table t_dry on commit drop as select * from lifeboat.purge_expired(dry_run => true);
select results_eq(
  $$select table_name, rows, action from t_dry
    where table_name in ('maintenance_log', 'metric_snapshots', 'incidents', 'incident_events', 'alert_events', 'drills', 'Order Log')
    order by table_name$$,
  $$values ('Order Log', 1::bigint, 'would delete'), ('alert_events', 1::bigint, 'would delete'),
           ('drills', 1::bigint, 'would delete'), ('incident_events', 1::bigint, 'would delete'),
           ('incidents', 1::bigint, 'would delete'), ('maintenance_log', 1::bigint, 'would delete'),
           ('metric_snapshots', 1::bigint, 'would delete')$$,
  'a dry run counts what each policy would delete');
select is((select count(*)::int from lifeboat.maintenance_log), 2, 'a dry run deletes nothing and logs nothing');
select is((select count(*)::int from "Odd ☃ ""schema"""."Order Log"), 3, 'a dry run leaves user tables alone');
select ok((select cutoff = now() - interval '12 months' from t_dry where table_name = 'maintenance_log'),
  'the cutoff is now() minus the policy''s keep');

-- The real run.
create temp table t_purge on commit drop as select * from lifeboat.purge_expired();
select is((select action from t_purge where table_name = 'no such table'), 'skipped: table does not exist',
  'a policy for a missing table is skipped and reported');
select set_eq($$select description from lifeboat.maintenance_log where type = 'test'$$, array['recent'],
  'maintenance_log rows older than 12 months are deleted, newer ones kept');
select is((select count(*)::int from lifeboat.metric_snapshots), 1, 'metric snapshots older than 90 days are deleted');
select set_eq($$select title from lifeboat.incidents$$,
  array['opened 9y ago, resolved 6y ago', 'open for 8 years'],
  'only incidents resolved over 7 years ago are deleted; open ones never are');
select set_eq($$select message from lifeboat.incident_events$$,
  array['opened 9y ago, resolved 6y ago', 'open for 8 years'],
  'the timeline of a kept incident is kept, however old its events');
select set_eq($$select dedup_key from lifeboat.alert_events$$, array['old-firing'],
  'resolved alerts older than a year are deleted, firing ones never are');
select is((select count(*)::int from lifeboat.drills where started_at < now() - interval '7 years'), 0,
  'drills older than 7 years are deleted');
select is((select count(*)::int from lifeboat.drills), 1, 'newer drills are kept');
select is((select count(*)::int from lifeboat.backup_runs where created_at < now() - interval '9 years'), 1,
  'backup runs are never purged here');
select set_eq($$select "select" from "Odd ☃ ""schema"""."Order Log"$$, array[2, 3],
  'quoted schema, table and column names work, and the policy filter is honoured');

-- What it deleted is on record.
select is((select count(*)::int from lifeboat.maintenance_log where type = 'retention_purge'), 1,
  'a real run writes one maintenance_log entry');
select is((select outcome from lifeboat.maintenance_log where type = 'retention_purge'), 'partial',
  'a skipped policy makes the outcome partial');
select is(
  (select (e ->> 'rows')::int from lifeboat.maintenance_log l, jsonb_array_elements(l.details -> 'tables') e
   where l.type = 'retention_purge' and e ->> 'table' = 'lifeboat.maintenance_log'),
  1, 'the entry records rows deleted per table');
select ok(
  (select bool_and(e ? 'cutoff' and e ? 'keep') from lifeboat.maintenance_log l, jsonb_array_elements(l.details -> 'tables') e
   where l.type = 'retention_purge'), 'the entry records each table''s cutoff and keep');
select is(
  (select (e ->> 'table') from lifeboat.maintenance_log l, jsonb_array_elements(l.details -> 'tables') e
   where l.type = 'retention_purge' and e ->> 'table' like '%Order Log%'),
  '"Odd ☃ ""schema"""."Order Log"', 'tables are named quoted in the record');

-- A policy on a table this role may read but not delete from is skipped, not an error.
delete from lifeboat.retention_policies where table_name in ('no such table', 'Order Log');
insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep)
values ('pg_catalog', 'pg_stat_activity', 'backend_start', interval '1 day');
select is((select action from lifeboat.purge_expired() where table_name = 'pg_stat_activity'), 'skipped: not permitted',
  'a table the role may not delete from is skipped');

select * from finish();
rollback;

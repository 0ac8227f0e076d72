-- Audit tables: structure, the backup part claim/complete protocol, incidents and alerts
-- invariants, and snapshot_metrics() over awkward identifiers.
begin;
select plan(45);

select has_table('lifeboat', t, format('lifeboat.%s exists', t))
from unnest(array['backup_runs', 'backup_parts', 'verification_runs', 'drills', 'maintenance_log',
  'incidents', 'incident_events', 'alert_events', 'metric_snapshots', 'retention_policies']) t;
select has_view('lifeboat', 'backup_run_progress', 'backup_run_progress view exists');

-- --- backup runs --------------------------------------------------------------------------
select throws_ok($$insert into lifeboat.backup_runs (kind) values ('incremental')$$, '23514', null,
  'a run kind is full or tables');
select throws_ok($$insert into lifeboat.backup_runs (kind, state, started_at) values ('full', 'completed', now())$$,
  '23514', null, 'a completed run needs finished_at and a manifest');
select throws_ok($$insert into lifeboat.backup_runs (kind, state, started_at, finished_at) values ('full', 'failed', now(), now())$$,
  '23514', null, 'a failed run needs an error');

create temp table t_run on commit drop as
with r as (insert into lifeboat.backup_runs (kind, label, target, state, started_at)
           values ('full', 'test', 's3://bucket/prefix', 'running', now()) returning id)
select id from r;

-- Parts of three tables, one with an awkward name in another schema.
insert into lifeboat.backup_parts (run_id, table_schema, table_name, chunk, lower_bound, upper_bound)
select t_run.id, s, n, c, lb, ub from t_run, (values
  ('public', 'orders', 0, null::jsonb, '[1000]'::jsonb),
  ('public', 'orders', 1, '[1000]'::jsonb, null::jsonb),
  ('Odd ☃ "schema"', 'select', 0, null::jsonb, null::jsonb)) v(s, n, c, lb, ub);
select throws_ok($$insert into lifeboat.backup_parts (run_id, table_schema, table_name, chunk)
  select id, 'public', 'orders', 0 from t_run$$, '23505', null, 'a chunk of a table is planned once per run');

create temp table t_claims (worker text, part_id bigint, attempt int) on commit drop;
insert into t_claims select 'w1', p.id, p.attempt from t_run, lifeboat.claim_backup_part(t_run.id, 'w1') p;
insert into t_claims select 'w2', p.id, p.attempt from t_run, lifeboat.claim_backup_part(t_run.id, 'w2') p;
insert into t_claims select 'w3', p.id, p.attempt from t_run, lifeboat.claim_backup_part(t_run.id, 'w3') p;
select is((select count(distinct part_id)::int from t_claims), 3, 'three claims take three different parts');
select is((select count(*)::int from t_run, lifeboat.claim_backup_part(t_run.id, 'w4')), 0,
  'nothing is left to claim once every part is claimed');
select is((select array_agg(distinct attempt) from t_claims), array[1], 'a first claim is attempt 1');
select is((select claimed_by from lifeboat.backup_parts where id = (select part_id from t_claims where worker = 'w2')),
  'w2', 'the part records who claimed it');

select ok(lifeboat.complete_backup_part((select part_id from t_claims where worker = 'w1'), 1,
  'runs/1/public/orders/0.ndjson.gz', 100, repeat('a', 64), 10), 'the holder completes its part');
select ok(not lifeboat.complete_backup_part((select part_id from t_claims where worker = 'w1'), 1,
  'runs/1/public/orders/0.ndjson.gz', 100, repeat('a', 64), 10), 'completing it again changes nothing');

-- w2 stalls: its claim goes stale, w5 takes the part over with attempt 2.
update lifeboat.backup_parts set claimed_at = now() - interval '1 hour'
where id = (select part_id from t_claims where worker = 'w2');
select results_eq(
  $$select p.id, p.attempt, p.claimed_by from t_run, lifeboat.claim_backup_part(t_run.id, 'w5', interval '15 minutes') p$$,
  $$select part_id, 2, 'w5' from t_claims where worker = 'w2'$$,
  'a stale claim is taken over with the next attempt number');
select ok(not lifeboat.complete_backup_part((select part_id from t_claims where worker = 'w2'), 1,
  'runs/1/public/orders/1.ndjson.gz', 50, repeat('b', 64), 5), 'the stalled worker can no longer complete it');
select ok(lifeboat.complete_backup_part((select part_id from t_claims where worker = 'w2'), 2,
  'runs/1/public/orders/1.ndjson.gz', 50, repeat('b', 64), 5), 'the new holder completes it');
select throws_ok(format($$select lifeboat.complete_backup_part(%s, 1, 'runs/1/public/orders/0.ndjson.gz', 1, %L, 1)$$,
  (select part_id from t_claims where worker = 'w3'), repeat('c', 64)), '23505', null,
  'two parts of a run cannot share an object key');
select throws_ok(format($$select lifeboat.complete_backup_part(%s, 1, 'x', 1, 'not-a-sha', 1)$$,
  (select part_id from t_claims where worker = 'w3')), '23514', null, 'sha256 must be 64 hex digits');
select throws_ok($$update lifeboat.backup_parts set state = 'done' where state = 'claimed'$$, '23514', null,
  'a part cannot be done without object key, size, sha256 and row count');

select results_eq(
  $$select parts_total, parts_done, bytes_done, rows_done from lifeboat.backup_run_progress
    where run_id = (select id from t_run)$$,
  $$values (3::bigint, 2::bigint, 150::bigint, 15::bigint)$$,
  'progress counts each done part once');
select isnt((select last_progress_at from lifeboat.backup_runs where id = (select id from t_run)), null,
  'completing a part records progress on the run');

-- --- drills, incidents, alerts -------------------------------------------------------------
insert into lifeboat.drills (measured_rto, objective, success) values (interval '40 minutes', interval '1 hour', true),
  (interval '90 minutes', interval '1 hour', true);
select results_eq($$select met_objective from lifeboat.drills order by id desc limit 2$$,
  $$values (false), (true)$$, 'a drill knows whether it met its objective');

select throws_ok($$insert into lifeboat.incidents (severity, title, status) values ('high', 'x', 'resolved')$$,
  '23514', null, 'a resolved incident needs resolved_at');
select throws_ok($$insert into lifeboat.incidents (severity, title) values ('sev0', 'x')$$,
  '23514', null, 'severity is critical, high, medium or low');
insert into lifeboat.incidents (severity, title, dedup_key) values ('high', 'first', 'k:test');
select throws_ok($$insert into lifeboat.incidents (severity, title, dedup_key) values ('high', 'second', 'k:test')$$,
  '23505', null, 'one open incident per dedup key');
insert into lifeboat.incident_events (incident_id, kind, message)
select id, 'opened', 'test' from lifeboat.incidents where dedup_key = 'k:test';
select is((select actor from lifeboat.incident_events where message = 'test'), current_user::text,
  'timeline events record who wrote them');
update lifeboat.incidents set status = 'resolved', resolved_at = now(), follow_up_actions = array['a', 'b']
where dedup_key = 'k:test';
select lives_ok($$insert into lifeboat.incidents (severity, title, dedup_key) values ('low', 'again', 'k:test')$$,
  'a new incident can open once the previous one is resolved');
delete from lifeboat.incidents where title = 'first';
select is((select count(*)::int from lifeboat.incident_events where message = 'test'), 0,
  'deleting an incident deletes its timeline');

insert into lifeboat.alert_events (rule, severity, dedup_key) values ('r', 'warning', 'a:test');
select throws_ok($$insert into lifeboat.alert_events (rule, severity, dedup_key) values ('r', 'warning', 'a:test')$$,
  '23505', null, 'one firing alert per dedup key');
select throws_ok($$update lifeboat.alert_events set state = 'resolved' where dedup_key = 'a:test'$$,
  '23514', null, 'a resolved alert needs resolved_at');

select throws_ok($$insert into lifeboat.maintenance_log (type, description, outcome) values ('x', 'y', 'fine')$$,
  '23514', null, 'maintenance outcome is success, partial, failed or skipped');

-- --- snapshot_metrics() --------------------------------------------------------------------
create schema "Odd ☃ ""schema""";
create table "Odd ☃ ""schema"""."Mixed ""Case"" Tbl" (id int primary key, "select" text);
insert into "Odd ☃ ""schema"""."Mixed ""Case"" Tbl" select g, repeat('x', 200) from generate_series(1, 500) g;
create table public."Part Parent" (id int, at date) partition by range (at);
create table public."part 2026" partition of public."Part Parent" for values from ('2026-01-01') to ('2027-01-01');
update lifeboat.settings set value = '100000' where key = 'metrics.top_tables';

create temp table t_snap on commit drop as select * from lifeboat.snapshot_metrics();
select is((select count(*)::int from lifeboat.metric_snapshots where id = (select id from t_snap)), 1,
  'snapshot_metrics() records one row');
select ok((select connections >= 1 and max_connections > 0 and database_size_bytes > 0 from t_snap),
  'the snapshot has connections and the database size');
select ok((select table_sizes @> jsonb_build_array(jsonb_build_object('schema', 'Odd ☃ "schema"',
  'name', 'Mixed "Case" Tbl', 'kind', 'table')) from t_snap), 'awkward schema and table names are recorded exactly');
select ok((select table_sizes @> '[{"schema": "public", "name": "part 2026"}]' from t_snap),
  'partitions are sized individually');
select ok((select statements_calls > 0 and statements_mean_exec_ms >= 0 from t_snap),
  'query time comes from pg_stat_statements');
update lifeboat.settings set value = '1' where key = 'metrics.top_tables';
select is((select jsonb_array_length(table_sizes) from lifeboat.snapshot_metrics()), 1,
  'metrics.top_tables limits the table list');

select * from finish();
rollback;

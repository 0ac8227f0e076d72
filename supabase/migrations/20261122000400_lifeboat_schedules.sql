-- Lifeboat schedules: pg_cron jobs installed from lifeboat.schedules, lifeboat.invoke()
-- (pg_net + Vault on Supabase, a durable outbox drained by `lifeboat outbox`
-- elsewhere), the jobs' own functions (verification, bloat check), and failed cron runs
-- turned into alerts and incidents. Runs as the owner role (postgres). Idempotent.
-- Works with pg_cron 1.4 (minute granularity) and 1.6: only cron.schedule(name, schedule,
-- command), cron.unschedule(jobid) and cron.alter_job(jobid, active => …) are used.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('export.target', 'null'::jsonb,
   'Where the daily export writes (set by the export setup). The daily export schedule stays off while this is null.'),
  ('invoke.transport', '"auto"',
   'lifeboat.invoke(): auto (pg_net when pg_net and Vault are installed, else the outbox), pg_net, or outbox'),
  ('invoke.url_secret', '"lifeboat_project_url"', 'Vault secret holding the project URL (https://<ref>.supabase.co)'),
  ('invoke.key_secret', '"lifeboat_service_key"', 'Vault secret holding the key sent to functions (secret key or service_role JWT)'),
  ('invoke.timeout_ms', '5000', 'pg_net request timeout for lifeboat.invoke()'),
  ('invoke.queues', '{}', 'Outbox queue per function name ({"fn": "queue"}); others go to "default"'),
  ('outbox.lease', '"2 minutes"', 'How long a claimed outbox message is held before it is due again (a worker may pass its own)'),
  ('outbox.retry_base', '"10 seconds"', 'First retry delay; doubles per attempt'),
  ('outbox.retry_max', '"1 hour"', 'Longest retry delay'),
  ('outbox.max_attempts', '8', 'Attempts before an outbox message is marked dead'),
  ('outbox.response_limit', '2000', 'Characters of a response body kept in the outbox'),
  ('cron.watch_jobs', '"lifeboat-%"', 'LIKE pattern of pg_cron job names whose failures raise alerts'),
  ('cron.incident_after_failures', '3', 'Consecutive failed runs of a job that open an incident'),
  ('cron.failure_lookback', '"8 days"', 'How far back record_cron_failures() reads cron.job_run_details')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- ---------------------------------------------------------------------------------------
-- Outbox: durable edge-function invocations for projects without pg_net.
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.outbox (
  id bigint generated always as identity primary key,
  queue text not null default 'default',
  function_name text not null check (function_name ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$'),
  body jsonb not null default '{}',
  created_at timestamptz not null default now(),
  attempts integer not null default 0 check (attempts >= 0),
  -- When the message is next due; a claim pushes it out by the lease, so a worker that
  -- dies mid-delivery only delays it.
  next_attempt_at timestamptz not null default now(),
  last_attempt_at timestamptz,
  delivered_at timestamptz,
  dead_at timestamptz,
  last_status integer,
  last_response text,
  last_error text,
  constraint outbox_final check (delivered_at is null or dead_at is null)
);
comment on table lifeboat.outbox is
  'Edge-function calls waiting for (or done by) the outbox worker: at-least-once, retried with backoff, then dead.';
create index if not exists outbox_due_idx on lifeboat.outbox (queue, next_attempt_at)
  where delivered_at is null and dead_at is null;

create table if not exists lifeboat.outbox_attempts (
  id bigint generated always as identity primary key,
  outbox_id bigint not null references lifeboat.outbox (id) on delete cascade,
  attempt integer not null,
  at timestamptz not null default now(),
  status integer,
  response text,
  error text,
  duration_ms integer,
  constraint outbox_attempts_uniq unique (outbox_id, attempt)
);
comment on table lifeboat.outbox_attempts is 'Every delivery attempt of an outbox message and what came back.';

insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep, filter, position, description) values
  ('lifeboat', 'outbox_attempts', 'at', interval '30 days',
   'outbox_id in (select o.id from lifeboat.outbox o where o.created_at < $1 and (o.delivered_at is not null or o.dead_at is not null))',
   80, 'Delivery attempts of finished outbox messages: 30 days'),
  ('lifeboat', 'outbox', 'created_at', interval '30 days', 'delivered_at is not null or dead_at is not null', 81,
   'Delivered or dead outbox messages: 30 days; pending ones are never purged')
on conflict (schema_name, table_name) do nothing;

-- Wakes listening workers at commit; the payload is the queue name.
create or replace function lifeboat.outbox_notify()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify('lifeboat_outbox', new.queue);
  return null;
end
$$;

drop trigger if exists outbox_notify on lifeboat.outbox;
create trigger outbox_notify after insert on lifeboat.outbox
  for each row execute function lifeboat.outbox_notify();

-- outbox_claim(): takes up to p_limit due messages of a queue for delivery, skipping rows
-- another worker holds. Each claim counts as an attempt and leases the row for p_lease
-- (default: setting outbox.lease), by the rule in lifeboat.lease_until().
create or replace function lifeboat.outbox_claim(
  p_queue text default 'default', p_limit integer default 10, p_lease interval default null
)
returns setof lifeboat.outbox
language sql
volatile
set search_path = ''
as $$
  with due as (
    select o.id from lifeboat.outbox o
    where o.queue = p_queue and o.delivered_at is null and o.dead_at is null
      and o.next_attempt_at <= pg_catalog.clock_timestamp()
    order by o.next_attempt_at, o.id
    limit p_limit
    for update skip locked
  )
  update lifeboat.outbox o
  set attempts = o.attempts + 1, last_attempt_at = pg_catalog.clock_timestamp(),
      next_attempt_at = lifeboat.lease_until('outbox', pg_catalog.clock_timestamp(), p_lease)
  from due
  where o.id = due.id
  returning o.*
$$;
comment on function lifeboat.outbox_claim(text, integer, interval) is
  'Claims due outbox messages of a queue (FOR UPDATE SKIP LOCKED); each claim is one attempt.';

-- outbox_record(): records the outcome of one attempt by the at-least-once rule
-- (lifeboat.delivery_outcome(), settings outbox.*): delivered, retry with backoff, or dead.
-- A result for an attempt that is no longer current is ignored: 'stale'.
create or replace function lifeboat.outbox_record(
  p_id bigint, p_attempt integer, p_status integer, p_response text, p_error text,
  p_duration_ms integer default null
)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  o lifeboat.outbox;
  keep integer := (lifeboat.setting('outbox.response_limit'))::text::integer;
  response text := pg_catalog.left(p_response, keep);
  err text := pg_catalog.left(p_error, 500);
  outcome text;
begin
  select * into o from lifeboat.outbox x where x.id = p_id for update;
  if not found or o.attempts <> p_attempt or o.delivered_at is not null or o.dead_at is not null then
    return 'stale';
  end if;
  insert into lifeboat.outbox_attempts (outbox_id, attempt, status, response, error, duration_ms)
  values (p_id, p_attempt, p_status, response, err, p_duration_ms)
  on conflict (outbox_id, attempt) do nothing;

  outcome := lifeboat.delivery_outcome('outbox', o.attempts, p_status);
  if outcome = 'delivered' then
    update lifeboat.outbox x set delivered_at = pg_catalog.clock_timestamp(), last_status = p_status,
      last_response = response, last_error = null
    where x.id = p_id;
    return 'delivered';
  elsif outcome = 'dead' then
    update lifeboat.outbox x set dead_at = pg_catalog.clock_timestamp(), last_status = p_status,
      last_response = response, last_error = err
    where x.id = p_id;
    return 'dead';
  else
    update lifeboat.outbox x set next_attempt_at = pg_catalog.clock_timestamp() + lifeboat.retry_delay('outbox', o.attempts),
      last_status = p_status, last_response = response, last_error = err
    where x.id = p_id;
    return 'retry';
  end if;
end
$$;
comment on function lifeboat.outbox_record(bigint, integer, integer, text, text, integer) is
  'Records one delivery attempt by lifeboat.delivery_outcome(): delivered (2xx), retry (network error, 408, 429, 5xx) or dead; stale if no longer current.';

-- When the next pending message of a queue is due (null when none), so a worker can sleep
-- exactly until then.
create or replace function lifeboat.outbox_next_due(p_queue text default 'default')
returns timestamptz
language sql
stable
set search_path = ''
as $$
  select min(o.next_attempt_at) from lifeboat.outbox o
  where o.queue = p_queue and o.delivered_at is null and o.dead_at is null
$$;

-- outbox_requeue(id): gives a dead (or delivered) message a fresh set of attempts.
create or replace function lifeboat.outbox_requeue(p_id bigint)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  q text;
begin
  update lifeboat.outbox o
  set attempts = 0, next_attempt_at = pg_catalog.now(), dead_at = null, delivered_at = null
  where o.id = p_id
  returning o.queue into q;
  if q is null then
    return false;
  end if;
  -- The trigger only fires on insert; wake the workers for the requeued message too.
  perform pg_catalog.pg_notify('lifeboat_outbox', q);
  return true;
end
$$;
comment on function lifeboat.outbox_requeue(bigint) is 'Makes an outbox message due again with a fresh set of attempts.';

-- ---------------------------------------------------------------------------------------
-- invoke(function, body): calls an edge function from SQL (a cron job, a trigger).
-- ---------------------------------------------------------------------------------------

-- The transport invoke() will use: 'pg_net' or 'outbox'.
create or replace function lifeboat.invoke_transport()
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  wanted text := lifeboat.setting('invoke.transport') #>> '{}';
  available boolean := pg_catalog.to_regprocedure('net.http_post(text,jsonb,jsonb,jsonb,integer)') is not null
    and pg_catalog.to_regclass('vault.decrypted_secrets') is not null;
begin
  if wanted = 'outbox' then
    return 'outbox';
  elsif wanted = 'pg_net' and not available then
    raise exception 'invoke.transport is pg_net, but pg_net or Vault is not installed'
      using errcode = 'feature_not_supported',
            hint = 'Enable the pg_net and supabase_vault extensions, or set invoke.transport to auto.';
  elsif wanted not in ('auto', 'pg_net') then
    raise exception 'invoke.transport must be auto, pg_net or outbox (it is %)', wanted
      using errcode = 'invalid_parameter_value';
  end if;
  return case when available then 'pg_net' else 'outbox' end;
end
$$;

-- A Vault secret by name, or an error that says how to create it (never its value).
create or replace function lifeboat.vault_secret(p_name text)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v text;
begin
  execute 'select s.decrypted_secret from vault.decrypted_secrets s where s.name = $1 order by s.created_at desc limit 1'
    into v using p_name;
  if v is null or v = '' then
    raise exception 'Vault secret "%" is missing', p_name
      using errcode = 'undefined_object',
            hint = pg_catalog.format('Create it in the SQL editor: select vault.create_secret(''<value>'', %L);', p_name);
  end if;
  return v;
end
$$;

-- invoke(): posts body to the edge function. With pg_net and Vault (Supabase) it returns
-- pg_net's request id (the request is sent after commit); otherwise it queues the call in
-- lifeboat.outbox and returns the outbox id. All pg_net and Vault references are dynamic,
-- so this compiles and runs where neither is installed.
create or replace function lifeboat.invoke(function_name text, body jsonb default '{}')
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  base_url text;
  api_key text;
  headers jsonb;
  request_id bigint;
  queue text;
begin
  if function_name is null or function_name !~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$' then
    raise exception 'invalid edge function name: %', coalesce(pg_catalog.quote_literal(function_name), 'null')
      using errcode = 'invalid_parameter_value',
            hint = 'Use the function''s slug: letters, digits, "-" and "_".';
  end if;
  body := coalesce(body, '{}');

  if lifeboat.invoke_transport() = 'pg_net' then
    base_url := pg_catalog.rtrim(lifeboat.vault_secret(
      lifeboat.setting('invoke.url_secret') #>> '{}'), '/');
    api_key := lifeboat.vault_secret(lifeboat.setting('invoke.key_secret') #>> '{}');
    headers := pg_catalog.jsonb_build_object('Content-Type', 'application/json', 'apikey', api_key);
    -- A legacy service_role JWT also goes in Authorization, which verify_jwt functions
    -- require; an sb_secret_ key is not a JWT and the platform rejects it there.
    if api_key not like 'sb\_%' then
      headers := headers || pg_catalog.jsonb_build_object('Authorization', 'Bearer ' || api_key);
    end if;
    execute 'select net.http_post(url := $1, body := $2, headers := $3, timeout_milliseconds := $4)'
      into request_id
      using base_url || '/functions/v1/' || function_name, body, headers,
            (lifeboat.setting('invoke.timeout_ms'))::text::integer;
    return request_id;
  end if;

  queue := coalesce(lifeboat.setting('invoke.queues') ->> function_name, 'default');
  insert into lifeboat.outbox (queue, function_name, body)
  values (queue, function_name, body)
  returning id into request_id;
  return request_id;
end
$$;
comment on function lifeboat.invoke(text, jsonb) is
  'Calls an edge function: pg_net with URL and key from Vault (returns the pg_net request id), else queues it in lifeboat.outbox (returns the outbox id).';

-- ---------------------------------------------------------------------------------------
-- The scheduled jobs' own functions.
-- ---------------------------------------------------------------------------------------

-- run_daily_verification(): runs lifeboat.diagnose() (every registered check) and records a
-- verification_runs row. A check that cannot run is recorded as a failed
-- verification rather than lost.
create or replace function lifeboat.run_daily_verification()
returns lifeboat.verification_runs
language plpgsql
volatile
set search_path = ''
as $$
declare
  checker text;
  v lifeboat.verification_runs;
  msg text;
  state text;
begin
  -- Every registered check (the foundation's lifeboat.diagnose()).
  checker := 'lifeboat.diagnose()';
  insert into lifeboat.verification_runs (kind, source, started_at)
  values ('scheduled', checker, pg_catalog.clock_timestamp())
  returning * into v;
  begin
    execute pg_catalog.format(
      'select count(*)::int, (count(*) filter (where r.level = ''warn''))::int, (count(*) filter (where r.level = ''error''))::int,
              coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) filter (where r.level <> ''ok''), ''[]'')
         from %s r', checker)
      into v.checks_total, v.warnings, v.errors, v.findings;
    v.success := v.errors = 0;
  exception when others then
    get stacked diagnostics msg = message_text, state = returned_sqlstate;
    v.success := false;
    v.details := pg_catalog.jsonb_build_object('error', msg, 'sqlstate', state);
  end;
  update lifeboat.verification_runs r
  set finished_at = pg_catalog.clock_timestamp(), success = v.success, checks_total = coalesce(v.checks_total, 0),
      warnings = coalesce(v.warnings, 0), errors = coalesce(v.errors, 0), findings = coalesce(v.findings, '[]'),
      details = v.details
  where r.id = v.id
  returning * into v;
  return v;
end
$$;
comment on function lifeboat.run_daily_verification() is
  'Runs lifeboat.diagnose() (every registered check) and records the result in verification_runs.';

-- run_analyze(): ANALYZE of every user table, one transaction per table (locks stay few
-- and short on databases with thousands of tables; a whole-database ANALYZE inside one
-- function would hold a lock per table until the end), skipping locked tables, then a
-- maintenance_log entry. A procedure, called as `call lifeboat.run_analyze()`.
-- No SET clause: a procedure with one cannot COMMIT. Every name below is qualified.
create or replace procedure lifeboat.run_analyze()
language plpgsql
as $$
declare
  r record;
  started timestamptz := pg_catalog.clock_timestamp();
  analyzed integer := 0;
  failed integer := 0;
begin
  for r in
    select n.nspname, c.relname from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'm', 'p') and not c.relispartition
      and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
      and n.nspname !~ '^pg_(toast_)?temp_'
    order by n.nspname, c.relname
  loop
    begin
      -- Partitioned tables are analyzed through their parent, which recurses.
      execute pg_catalog.format('analyze (skip_locked) %I.%I', r.nspname, r.relname);
      analyzed := analyzed + 1;
    exception when others then
      -- Dropped since the list was read, or not ours to analyze.
      failed := failed + 1;
    end;
    commit;
  end loop;
  insert into lifeboat.maintenance_log (type, description, outcome, details)
  values ('analyze',
    pg_catalog.format('analyzed %s tables in %s', analyzed,
      pg_catalog.date_trunc('second', pg_catalog.clock_timestamp() - started)),
    case when failed > 0 then 'partial' else 'success' end,
    pg_catalog.jsonb_build_object('analyzed', analyzed, 'failed', failed,
      'seconds', pg_catalog.round(extract(epoch from pg_catalog.clock_timestamp() - started)::numeric, 3)));
  commit;
end
$$;
comment on procedure lifeboat.run_analyze() is
  'ANALYZE every user table, one transaction each, skipping locked ones; logged in maintenance_log. Run with CALL.';

-- run_bloat_check(): runs lifeboat.diagnose_bloat() when installed and logs a summary in
-- maintenance_log; logs 'skipped' where it is not installed.
create or replace function lifeboat.run_bloat_check()
returns lifeboat.maintenance_log
language plpgsql
volatile
set search_path = ''
as $$
declare
  total integer;
  warns integer;
  errs integer;
  findings jsonb;
  entry lifeboat.maintenance_log;
begin
  if not exists (
      select from pg_catalog.pg_proc p
      where p.pronamespace = 'lifeboat'::regnamespace and p.proname = 'diagnose_bloat' and p.pronargs = p.pronargdefaults) then
    insert into lifeboat.maintenance_log (type, description, outcome)
    values ('bloat_check', 'bloat check skipped: lifeboat.diagnose_bloat() is not installed', 'skipped')
    returning * into entry;
    return entry;
  end if;
  execute 'select count(*)::int, (count(*) filter (where r.level = ''warn''))::int, (count(*) filter (where r.level = ''error''))::int,
                  coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) filter (where r.level <> ''ok''), ''[]'')
             from lifeboat.diagnose_bloat() r'
    into total, warns, errs, findings;
  insert into lifeboat.maintenance_log (type, description, outcome, details)
  values ('bloat_check',
    pg_catalog.format('bloat check: %s objects checked, %s warnings, %s errors', total, warns, errs),
    'success',
    pg_catalog.jsonb_build_object('checked', total, 'warnings', warns, 'errors', errs,
      'findings', (select coalesce(pg_catalog.jsonb_agg(f), '[]') from (
        select f from pg_catalog.jsonb_array_elements(findings) f limit 50) s)))
  returning * into entry;
  return entry;
end
$$;
comment on function lifeboat.run_bloat_check() is 'Runs lifeboat.diagnose_bloat() and logs what it found in maintenance_log.';

-- ---------------------------------------------------------------------------------------
-- Schedules: the desired pg_cron jobs. Update a row, then call lifeboat.apply_schedules().
-- ---------------------------------------------------------------------------------------

create table if not exists lifeboat.schedules (
  -- The pg_cron job is named 'lifeboat-' || name.
  name text primary key check (name ~ '^[a-z0-9][a-z0-9_-]{0,53}$'),
  schedule text not null,
  command text not null,
  enabled boolean not null default true,
  -- The job is installed only while this lifeboat.settings key holds a non-null value.
  requires_setting text,
  description text not null default '',
  updated_at timestamptz not null default now()
);
comment on table lifeboat.schedules is
  'Desired pg_cron jobs (times in UTC). Edit a row, then run select * from lifeboat.apply_schedules();';

insert into lifeboat.schedules (name, schedule, command, enabled, requires_setting, description) values
  ('export-daily', '0 0 * * *', $c$select lifeboat.invoke('backup-export', '{"mode":"full"}')$c$, true, 'export.target',
   'Daily full export at 00:00 UTC; installed only once export.target is set'),
  ('verify-daily', '30 1 * * *', 'select lifeboat.run_daily_verification()', true, null,
   'Daily verification: every check, recorded in verification_runs'),
  ('analyze-weekly', '0 3 * * 0', 'call lifeboat.run_analyze()', true, null,
   'Weekly ANALYZE (Sunday 03:00 UTC): one transaction per table, skips locked tables'),
  ('bloat-check-weekly', '30 3 * * 0', 'select lifeboat.run_bloat_check()', true, null,
   'Weekly bloat check (Sunday 03:30 UTC), logged in maintenance_log'),
  ('metrics-hourly', '7 * * * *', 'select lifeboat.snapshot_metrics()', true, null,
   'Hourly metric snapshot for trends'),
  ('purge-monthly', '0 4 1 * *', 'select lifeboat.purge_expired()', true, null,
   'Monthly retention purge (1st, 04:00 UTC), logged in maintenance_log'),
  ('cron-failures', '*/5 * * * *', 'select lifeboat.record_cron_failures()', true, null,
   'Every 5 minutes: failed lifeboat jobs become alerts, persistent failures incidents')
on conflict (name) do nothing;

-- apply_schedules(): makes pg_cron match lifeboat.schedules. Installs or updates every
-- wanted job (enabled, and its required setting present), unschedules unwanted ones and
-- any other 'lifeboat-' job of this role. Returns what it did per job. Idempotent.
create or replace function lifeboat.apply_schedules()
returns table (jobname text, schedule text, active boolean, action text)
language plpgsql
volatile
set search_path = ''
as $$
declare
  s record;
  j record;
begin
  for s in
    select 'lifeboat-' || sc.name as job, sc.schedule, sc.command,
      sc.enabled and (sc.requires_setting is null
        or coalesce(lifeboat.setting(sc.requires_setting), 'null') not in ('null'::jsonb, '""'::jsonb)) as wanted
    from lifeboat.schedules sc
    order by sc.name
  loop
    select cj.jobid, cj.schedule, cj.command, cj.active into j
    from cron.job cj where cj.jobname = s.job and cj.username = current_user;
    jobname := s.job;
    schedule := s.schedule;
    if s.wanted then
      if j.jobid is null then
        action := 'scheduled';
      elsif j.schedule = s.schedule and j.command = s.command and j.active then
        action := 'unchanged';
      else
        action := 'updated';
      end if;
      if action <> 'unchanged' then
        -- Upserts by (name, user); it does not touch 'active', hence alter_job below.
        perform cron.schedule(s.job, s.schedule, s.command);
        if j.jobid is not null and not j.active then
          perform cron.alter_job(j.jobid, active => true);
        end if;
      end if;
      active := true;
    else
      -- unschedule(name) raises when there is no such job: go by the id we found.
      if j.jobid is not null then
        perform cron.unschedule(j.jobid);
        action := 'unscheduled';
      else
        action := 'not scheduled';
      end if;
      active := false;
    end if;
    return next;
  end loop;

  for j in
    select cj.jobid, cj.jobname, cj.schedule from cron.job cj
    where cj.username = current_user and pg_catalog.left(cj.jobname, 9) = 'lifeboat-'
      and not exists (select from lifeboat.schedules sc where 'lifeboat-' || sc.name = cj.jobname)
    order by cj.jobname
  loop
    perform cron.unschedule(j.jobid);
    jobname := j.jobname;
    schedule := j.schedule;
    active := false;
    action := 'removed';
    return next;
  end loop;
end
$$;
comment on function lifeboat.apply_schedules() is
  'Installs, updates and removes pg_cron jobs so they match lifeboat.schedules. Safe to run any time.';

-- ---------------------------------------------------------------------------------------
-- Failed cron runs → alerts and incidents.
-- ---------------------------------------------------------------------------------------

-- cron_job_status(): per watched job (cron.watch_jobs), its latest finished run and how
-- many runs have failed since its last success, within cron.failure_lookback. Runs are
-- ordered by runid; a run without times (pg_cron could not connect) still counts.
create or replace function lifeboat.cron_job_status()
returns table (jobname text, last_runid bigint, last_status text, last_message text, last_run_at timestamptz,
               consecutive_failures integer, last_success_at timestamptz)
language sql
stable
set search_path = ''
as $$
  with cfg as (
    select lifeboat.setting('cron.watch_jobs') #>> '{}' as pattern,
      (lifeboat.setting('cron.failure_lookback') #>> '{}')::interval as lookback
  ),
  jobs as (
    select j.jobid, j.jobname::text as jobname from cron.job j, cfg where j.jobname like cfg.pattern
  ),
  -- Runs are numbered in start order, so an undated run (a failed connection: pg_cron sets
  -- neither time) is inside the lookback when it comes after the last run dated before it.
  boundary as (
    select coalesce(max(d.runid), 0) as runid from cron.job_run_details d, cfg
    where coalesce(d.start_time, d.end_time) <= pg_catalog.now() - cfg.lookback
  ),
  runs as (
    select d.jobid, d.runid, d.status, d.return_message, coalesce(d.start_time, d.end_time) as at
    from cron.job_run_details d
    join jobs on jobs.jobid = d.jobid
    cross join cfg
    cross join boundary b
    where d.status in ('succeeded', 'failed')
      and (coalesce(d.start_time, d.end_time) > pg_catalog.now() - cfg.lookback
        or (d.start_time is null and d.end_time is null and d.runid > b.runid))
  ),
  ok as (
    select r.jobid, max(r.runid) as runid, max(r.at) as at from runs r where r.status = 'succeeded' group by r.jobid
  )
  select j.jobname, l.runid, l.status, l.return_message, l.at,
    (select count(*) from runs r
      where r.jobid = j.jobid and r.status = 'failed' and r.runid > coalesce(ok.runid, 0))::integer,
    ok.at
  from jobs j
  left join ok on ok.jobid = j.jobid
  left join lateral (
    select r.runid, r.status, r.return_message, r.at from runs r where r.jobid = j.jobid order by r.runid desc limit 1
  ) l on true
$$;
comment on function lifeboat.cron_job_status() is
  'Latest finished run and consecutive failures of each watched pg_cron job.';

-- record_job_outcome(): the alert/incident state machine for one job, given its latest run.
--   failed    → a firing alert 'cron_job_failed:<job>' (created or refreshed); from
--               cron.incident_after_failures consecutive failures on, an open incident
--               linked to it, with a timeline event per new failed run;
--   succeeded → the firing alert and the open incident are resolved.
-- Returns what changed: fired, refreshed, incident_opened, incident_updated, resolved, none.
create or replace function lifeboat.record_job_outcome(
  p_job text, p_failed boolean, p_consecutive integer, p_message text, p_runid bigint
)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  key text := 'cron_job_failed:' || p_job;
  threshold integer := (lifeboat.setting('cron.incident_after_failures'))::text::integer;
  a lifeboat.alert_events;
  prev_runid bigint;
  inc_id bigint;
  result text := 'none';
  message text := pg_catalog.left(coalesce(p_message, ''), 500);
begin
  if p_failed then
    select x.* into a from lifeboat.alert_events x where x.dedup_key = key and x.state = 'firing' for update;
    prev_runid := (a.details ->> 'last_runid')::bigint;
    if a.id is null then
      insert into lifeboat.alert_events (rule, severity, dedup_key, summary, occurrences, details)
      values ('cron_job_failed', 'warning', key,
        pg_catalog.format('pg_cron job %s failed', p_job), greatest(p_consecutive, 1),
        pg_catalog.jsonb_build_object('job', p_job, 'last_runid', p_runid, 'consecutive_failures', p_consecutive,
          'last_message', message))
      on conflict (dedup_key) where state = 'firing' do nothing
      returning * into a;
      if a.id is null then
        -- A concurrent run created it first; refresh that one below.
        select x.* into a from lifeboat.alert_events x where x.dedup_key = key and x.state = 'firing' for update;
      else
        result := 'fired';
      end if;
    end if;
    if result <> 'fired' then
      update lifeboat.alert_events x
      set last_seen = pg_catalog.now(), occurrences = greatest(x.occurrences, p_consecutive, 1),
          details = x.details || pg_catalog.jsonb_build_object('last_runid', p_runid,
            'consecutive_failures', p_consecutive, 'last_message', message)
      where x.id = a.id
      returning * into a;
      result := 'refreshed';
    end if;

    if p_consecutive >= threshold then
      select i.id into inc_id from lifeboat.incidents i where i.dedup_key = key and i.status = 'open';
      if inc_id is null then
        insert into lifeboat.incidents (severity, title, impact, dedup_key, source, follow_up_actions)
        values ('high', pg_catalog.format('Scheduled job %s keeps failing', p_job),
          pg_catalog.format('%s consecutive runs of pg_cron job %s failed; what it does (backups, checks, retention) is not happening.',
            p_consecutive, p_job),
          key, 'cron',
          array['Read return_message in cron.job_run_details for the job and fix the cause'])
        on conflict (dedup_key) where status = 'open' and dedup_key is not null do nothing
        returning id into inc_id;
        if inc_id is not null then
          insert into lifeboat.incident_events (incident_id, kind, message, details)
          values (inc_id, 'opened',
            pg_catalog.format('opened after %s consecutive failed runs of %s', p_consecutive, p_job),
            pg_catalog.jsonb_build_object('alert_id', a.id, 'runid', p_runid, 'message', message));
          update lifeboat.alert_events x set incident_id = inc_id, severity = 'critical' where x.id = a.id;
          result := 'incident_opened';
        end if;
      elsif prev_runid is distinct from p_runid then
        insert into lifeboat.incident_events (incident_id, kind, message, details)
        values (inc_id, 'update', pg_catalog.format('%s failed again (%s consecutive failures)', p_job, p_consecutive),
          pg_catalog.jsonb_build_object('runid', p_runid, 'message', message));
        update lifeboat.incidents i set updated_at = pg_catalog.now() where i.id = inc_id;
        update lifeboat.alert_events x set incident_id = inc_id where x.id = a.id and x.incident_id is null;
        result := 'incident_updated';
      end if;
    end if;
    return result;
  end if;

  -- Succeeded: resolve whatever is open for this job.
  update lifeboat.alert_events x set state = 'resolved', resolved_at = pg_catalog.now(), last_seen = pg_catalog.now()
  where x.dedup_key = key and x.state = 'firing';
  if found then
    result := 'resolved';
  end if;
  for inc_id in
    update lifeboat.incidents i
    set status = 'resolved', resolved_at = pg_catalog.now(), updated_at = pg_catalog.now(),
        resolution = coalesce(i.resolution, pg_catalog.format('pg_cron job %s succeeded again (run %s)', p_job, p_runid))
    where i.dedup_key = key and i.status = 'open'
    returning i.id
  loop
    insert into lifeboat.incident_events (incident_id, kind, message, details)
    values (inc_id, 'resolved', pg_catalog.format('%s succeeded again', p_job),
      pg_catalog.jsonb_build_object('runid', p_runid));
    result := 'resolved';
  end loop;
  return result;
end
$$;
comment on function lifeboat.record_job_outcome(text, boolean, integer, text, bigint) is
  'Alert and incident bookkeeping for one pg_cron job given its latest run (called by record_cron_failures()).';

-- record_cron_failures(): brings alerts and incidents in line with cron.job_run_details.
-- Scheduled every few minutes; returns one row per job whose state changed.
create or replace function lifeboat.record_cron_failures()
returns table (jobname text, action text)
language plpgsql
volatile
set search_path = ''
as $$
declare
  s record;
  watched text[] := '{}';
begin
  for s in select * from lifeboat.cron_job_status() st order by st.jobname loop
    watched := watched || s.jobname;
    continue when s.last_status is null;
    jobname := s.jobname;
    action := lifeboat.record_job_outcome(s.jobname, s.last_status = 'failed', s.consecutive_failures,
      s.last_message, s.last_runid);
    if action <> 'none' then
      return next;
    end if;
  end loop;

  -- A job that was unscheduled cannot succeed again: close what it left open.
  for s in
    select x.id, x.details ->> 'job' as job from lifeboat.alert_events x
    where x.rule = 'cron_job_failed' and x.state = 'firing' and not ((x.details ->> 'job') = any (watched))
  loop
    perform lifeboat.record_job_outcome(s.job, false, 0, null, null);
    jobname := s.job;
    action := 'resolved (job no longer scheduled)';
    return next;
  end loop;
end
$$;
comment on function lifeboat.record_cron_failures() is
  'Turns failed runs of watched pg_cron jobs into alerts (and incidents when they persist); resolves them on success.';

-- ---------------------------------------------------------------------------------------
-- check_cron_failures() (suite health): failed pg_cron runs within health.cron_failure_window
-- (warn from one, error at health.cron_failures_error), counting failed runs that pg_cron
-- left without times (it could not connect), with the alerts and open incidents that
-- record_cron_failures() keeps (metadata alerting_jobs, open_incidents; an open incident is
-- an error, a firing alert at least a warning).
-- ---------------------------------------------------------------------------------------

create or replace function lifeboat.check_cron_failures()
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
as $$
  with cron_fail as (
    select
      (lifeboat.setting('health.cron_failure_window') #>> '{}')::interval as win,
      (lifeboat.setting('health.cron_failures_error'))::text::int as error_at
  ),
  -- Runs are numbered in start order: an undated failed run (pg_cron could not connect and
  -- set no time) is inside the window when it follows the last run dated before the window.
  cron_boundary as (
    select coalesce(max(d.runid), 0) as runid from cron.job_run_details d, cron_fail f
    where coalesce(d.start_time, d.end_time) <= pg_catalog.now() - f.win
  ),
  cron_failed_runs as (
    select d.jobid from cron.job_run_details d, cron_fail f, cron_boundary b
    where d.status = 'failed'
      and (coalesce(d.start_time, d.end_time) > pg_catalog.now() - f.win
        or (d.start_time is null and d.end_time is null and d.runid > b.runid))
  ),
  cron_fail_count as (
    select f.win, f.error_at,
      (select count(*) from cron_failed_runs)::int as failed,
      (select pg_catalog.jsonb_agg(distinct j.jobname) from cron_failed_runs d
        join cron.job j on j.jobid = d.jobid) as jobs
    from cron_fail f
  ),
  cron_alerts as (
    select
      (select count(*) from lifeboat.alert_events x
        where x.rule = 'cron_job_failed' and x.state = 'firing')::int as firing,
      (select pg_catalog.jsonb_agg(x.details ->> 'job' order by x.first_seen) from lifeboat.alert_events x
        where x.rule = 'cron_job_failed' and x.state = 'firing') as jobs,
      (select pg_catalog.jsonb_agg(i.id order by i.id) from lifeboat.incidents i
        where i.status = 'open' and i.source = 'cron') as incidents
  )
  select 'cron_failures', case
      when f.failed >= f.error_at or a.incidents is not null then 'error'
      when f.failed > 0 or a.firing > 0 then 'warn'
      else 'ok' end,
    'cron.job_run_details',
    pg_catalog.format('%s failed pg_cron runs in the last %s', f.failed, f.win)
      || case when a.firing > 0
           then pg_catalog.format('; %s Lifeboat jobs failing now, %s open incidents', a.firing,
             coalesce(pg_catalog.jsonb_array_length(a.incidents), 0))
           else '' end,
    case when f.failed > 0 or a.firing > 0
      then 'Read return_message in cron.job_run_details for the failing jobs and fix or unschedule them; '
        || 'see lifeboat.alert_events (state = ''firing'') and lifeboat.incidents (status = ''open''). They resolve on the next successful run.'
      else '' end,
    pg_catalog.jsonb_build_object('observed_value', f.failed, 'observed_unit', 'runs',
      'window', f.win::text, 'jobs', coalesce(f.jobs, '[]'::jsonb),
      'alerting_jobs', coalesce(a.jobs, '[]'::jsonb), 'open_incidents', coalesce(a.incidents, '[]'::jsonb))
  from cron_fail_count f, cron_alerts a
$$;
comment on function lifeboat.check_cron_failures() is
  'Failed pg_cron runs in health.cron_failure_window (undated ones too) with their alerts and open incidents (uniform check shape).';

insert into lifeboat.checks (name, suite, position, description) values
  ('check_cron_failures', 'health', 30, 'Failed pg_cron runs, with their alerts and open incidents')
on conflict (name) do update set suite = excluded.suite, position = excluded.position, description = excluded.description;

-- Install the jobs.
select jobname, action from lifeboat.apply_schedules();

-- Nothing in lifeboat is granted to the API roles; service_role needs none of this yet.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;
revoke all on all procedures in schema lifeboat from public, anon, authenticated;

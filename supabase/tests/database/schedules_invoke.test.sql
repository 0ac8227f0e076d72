-- lifeboat.invoke(): the outbox where pg_net and Vault are absent (this stack), and the
-- pg_net branch's exact arguments against a stand-in net.http_post and vault.decrypted_secrets
-- created inside this transaction (same signature as pg_net 0.20), which record their calls.
begin;
select plan(26);

select has_function('lifeboat', 'invoke', array['text', 'jsonb']);
select ok(to_regprocedure('net.http_post(text,jsonb,jsonb,jsonb,integer)') is null
  and to_regclass('vault.decrypted_secrets') is null, 'this stack has neither pg_net nor Vault');
select is(lifeboat.invoke_transport(), 'outbox', 'so invoke() uses the outbox');

-- --- outbox branch ---------------------------------------------------------------------------
create temp table t_ids (label text, id bigint) on commit drop;
insert into t_ids select 'plain', lifeboat.invoke('backup-export', '{"mode":"full"}');
select results_eq(
  $$select queue, function_name, body, attempts, delivered_at, dead_at from lifeboat.outbox
    where id = (select id from t_ids where label = 'plain')$$,
  $$values ('default'::text, 'backup-export'::text, '{"mode":"full"}'::jsonb, 0, null::timestamptz, null::timestamptz)$$,
  'invoke() queues the call in lifeboat.outbox and returns its id');
select ok((select next_attempt_at <= now() from lifeboat.outbox where id = (select id from t_ids where label = 'plain')),
  'a new message is due at once');
insert into t_ids select 'nullbody', lifeboat.invoke('echo', null);
select is((select body from lifeboat.outbox where id = (select id from t_ids where label = 'nullbody')), '{}'::jsonb,
  'a null body is sent as {}');
update lifeboat.settings set value = '{"echo": "fast-lane"}' where key = 'invoke.queues';
insert into t_ids select 'routed', lifeboat.invoke('echo', '{}');
select is((select queue from lifeboat.outbox where id = (select id from t_ids where label = 'routed')), 'fast-lane',
  'invoke.queues routes a function to its own queue');
select has_trigger('lifeboat', 'outbox', 'outbox_notify', 'inserts notify listening workers');

select throws_ok($$select lifeboat.invoke('../etc/passwd', '{}')$$, '22023', null, 'a path is not a function name');
select throws_ok($$select lifeboat.invoke('a/b', '{}')$$, '22023', null, 'a slash is refused');
select throws_ok($$select lifeboat.invoke('', '{}')$$, '22023', null, 'an empty name is refused');
select throws_ok($$select lifeboat.invoke(null, '{}')$$, '22023', null, 'a null name is refused');
update lifeboat.settings set value = '"pg_net"' where key = 'invoke.transport';
select throws_ok($$select lifeboat.invoke('echo', '{}')$$, '0A000', null,
  'forcing pg_net where it is not installed says so');
update lifeboat.settings set value = '"carrier-pigeon"' where key = 'invoke.transport';
select throws_ok($$select lifeboat.invoke('echo', '{}')$$, '22023', null, 'an unknown transport is refused');
update lifeboat.settings set value = '"auto"' where key = 'invoke.transport';

-- --- pg_net branch, against a recording stand-in ---------------------------------------------
create schema net;
create table net.recorded_calls (id bigserial primary key, url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds int);
create function net.http_post(
  url text, body jsonb default '{}'::jsonb, params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb, timeout_milliseconds integer default 5000
) returns bigint language sql as $$
  insert into net.recorded_calls (url, body, params, headers, timeout_milliseconds)
  values (url, body, params, headers, timeout_milliseconds) returning id + 1000
$$;
create schema vault;
create table vault.decrypted_secrets (
  id uuid primary key default gen_random_uuid(), name text unique, description text default '', secret text,
  decrypted_secret text, key_id uuid, nonce bytea, created_at timestamptz default now(), updated_at timestamptz default now());
insert into vault.decrypted_secrets (name, decrypted_secret) values
  ('lifeboat_project_url', 'https://abcdefghijklmnop.supabase.co/'),
  ('lifeboat_service_key', 'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln');

select is(lifeboat.invoke_transport(), 'pg_net', 'with pg_net and Vault present, invoke() uses pg_net');
create temp table t_outbox_count on commit drop as select count(*) as n from lifeboat.outbox;
select is(lifeboat.invoke('backup-export', '{"mode":"full"}'), 1001::bigint,
  'invoke() returns pg_net''s request id (the stand-in answers 1000 + its call number)');
select results_eq(
  $$select url, body, headers, timeout_milliseconds from net.recorded_calls order by id desc limit 1$$,
  $$values ('https://abcdefghijklmnop.supabase.co/functions/v1/backup-export'::text, '{"mode":"full"}'::jsonb,
            '{"Content-Type": "application/json",
              "apikey": "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln",
              "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln"}'::jsonb, 5000)$$,
  'pg_net gets <project url>/functions/v1/<name>, the body, and the key as apikey and Bearer JWT');
select is((select params from net.recorded_calls order by id desc limit 1), '{}'::jsonb, 'no query parameters are added');
select is((select count(*) from lifeboat.outbox), (select n from t_outbox_count), 'nothing goes to the outbox');

-- An sb_secret_ key is not a JWT: it goes in apikey only.
update vault.decrypted_secrets set decrypted_secret = 'sb_secret_abc123' where name = 'lifeboat_service_key';
update lifeboat.settings set value = '2000' where key = 'invoke.timeout_ms';
select is(lifeboat.invoke('echo', '{"ping": 1}'), 1002::bigint, 'each call is a new pg_net request');
select results_eq($$select headers, timeout_milliseconds from net.recorded_calls order by id desc limit 1$$,
  $$values ('{"Content-Type": "application/json", "apikey": "sb_secret_abc123"}'::jsonb, 2000)$$,
  'a secret key is sent as apikey without Authorization; the timeout comes from settings');

-- Secret names come from settings; a missing secret is named, with how to create it.
update lifeboat.settings set value = '"other_url"' where key = 'invoke.url_secret';
select throws_ok($$select lifeboat.invoke('echo', '{}')$$, '42704', 'Vault secret "other_url" is missing',
  'a missing Vault secret is named in the error');
insert into vault.decrypted_secrets (name, decrypted_secret) values ('other_url', 'http://127.0.0.1:9');
select is(lifeboat.invoke('echo', '{}'), 1003::bigint, 'the call goes out once the secret exists');
select is((select url from net.recorded_calls order by id desc limit 1), 'http://127.0.0.1:9/functions/v1/echo',
  'the URL secret named in invoke.url_secret is used');
select ok(not exists (
    select from lifeboat.outbox o where o.body::text like '%sb_secret_abc123%' or o.last_error like '%sb_secret%'),
  'no key ends up in the outbox');

-- The outbox can be forced even where pg_net exists.
update lifeboat.settings set value = '"outbox"' where key = 'invoke.transport';
insert into t_ids select 'forced', lifeboat.invoke('echo', '{}');
select is((select function_name from lifeboat.outbox where id = (select id from t_ids where label = 'forced')), 'echo',
  'invoke.transport = outbox queues even with pg_net installed');

select * from finish();
rollback;

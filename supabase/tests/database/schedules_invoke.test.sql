-- lifeboat.invoke() on a Supabase project: the real pg_net and Vault. pg_net queues a request in
-- net.http_request_queue and sends it only after commit, so every call here is inspected in the
-- queue and never sent (the transaction is rolled back). Then the outbox, forced by setting and
-- chosen where pg_net is missing (dropped inside this transaction).
begin;
select plan(25);

select has_function('lifeboat', 'invoke', array['text', 'jsonb']);
select ok(to_regprocedure('net.http_post(text,jsonb,jsonb,jsonb,integer)') is not null
  and to_regclass('vault.decrypted_secrets') is not null, 'this stack has the real pg_net and Vault');
select is(lifeboat.invoke_transport(), 'pg_net', 'so invoke() uses pg_net');

-- --- pg_net branch, with secrets of this test's own ----------------------------------------------
select lives_ok($$select vault.create_secret('https://abcdefghijklmnop.supabase.co/', 'lb_test_url')$$,
  'postgres can create a Vault secret');
select vault.create_secret('eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln', 'lb_test_key');
update lifeboat.settings set value = '"lb_test_url"' where key = 'invoke.url_secret';
update lifeboat.settings set value = '"lb_test_key"' where key = 'invoke.key_secret';
create temp table t_outbox_count on commit drop as select count(*) as n from lifeboat.outbox;
create temp table t_req on commit drop as
  select 'jwt'::text as label, lifeboat.invoke('backup-export', '{"mode":"full"}') as id;
select results_eq(
  $$select q.method::text, q.url, q.headers, pg_catalog.convert_from(q.body, 'utf8')::jsonb, q.timeout_milliseconds
    from net.http_request_queue q where q.id = (select id from t_req where label = 'jwt')$$,
  $$values ('POST'::text, 'https://abcdefghijklmnop.supabase.co/functions/v1/backup-export'::text,
            '{"Content-Type": "application/json",
              "apikey": "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln",
              "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln"}'::jsonb,
            '{"mode":"full"}'::jsonb, 5000)$$,
  'pg_net queues a POST to <project url>/functions/v1/<name> with the body, and the key as apikey and Bearer JWT');
select is((select count(*) from lifeboat.outbox), (select n from t_outbox_count), 'nothing goes to the outbox');

-- An sb_secret_ key is not a JWT: it goes in apikey only.
select vault.update_secret(s.id, 'sb_secret_abc123') from vault.secrets s where s.name = 'lb_test_key';
update lifeboat.settings set value = '2000' where key = 'invoke.timeout_ms';
insert into t_req select 'secret', lifeboat.invoke('echo', '{"ping": 1}');
select isnt((select id from t_req where label = 'secret'), (select id from t_req where label = 'jwt'),
  'each call is a new pg_net request');
select results_eq(
  $$select q.headers, q.timeout_milliseconds from net.http_request_queue q where q.id = (select id from t_req where label = 'secret')$$,
  $$values ('{"Content-Type": "application/json", "apikey": "sb_secret_abc123"}'::jsonb, 2000)$$,
  'a secret key is sent as apikey without Authorization; the timeout comes from settings');

-- Secret names come from settings; a missing secret is named, with how to create it.
update lifeboat.settings set value = '"other_url"' where key = 'invoke.url_secret';
select throws_ok($$select lifeboat.invoke('echo', '{}')$$, '42704', 'Vault secret "other_url" is missing',
  'a missing Vault secret is named in the error');
select vault.create_secret('http://127.0.0.1:9', 'other_url');
insert into t_req select 'other', lifeboat.invoke('echo', '{}');
select is((select q.url from net.http_request_queue q where q.id = (select id from t_req where label = 'other')),
  'http://127.0.0.1:9/functions/v1/echo', 'the URL secret named in invoke.url_secret is used');
select ok(not exists (
    select from lifeboat.outbox o where o.body::text like '%sb_secret_abc123%' or o.last_error like '%sb_secret%'),
  'no key ends up in the outbox');

-- --- outbox branch, forced by setting ----------------------------------------------------------
update lifeboat.settings set value = '"outbox"' where key = 'invoke.transport';
select is(lifeboat.invoke_transport(), 'outbox', 'invoke.transport = outbox is honoured with pg_net installed');
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
update lifeboat.settings set value = '"carrier-pigeon"' where key = 'invoke.transport';
select throws_ok($$select lifeboat.invoke('echo', '{}')$$, '22023', null, 'an unknown transport is refused');

-- --- where pg_net is not installed (plain Postgres, or not enabled yet) --------------------------
drop extension pg_net;
update lifeboat.settings set value = '"auto"' where key = 'invoke.transport';
select is(lifeboat.invoke_transport(), 'outbox', 'without pg_net, auto falls back to the outbox');
update lifeboat.settings set value = '"pg_net"' where key = 'invoke.transport';
select throws_ok($$select lifeboat.invoke('echo', '{}')$$, '0A000', null,
  'forcing pg_net where it is not installed says so');
update lifeboat.settings set value = '"auto"' where key = 'invoke.transport';
insert into t_ids select 'fallback', lifeboat.invoke('echo', '{}');
select is((select function_name from lifeboat.outbox where id = (select id from t_ids where label = 'fallback')), 'echo',
  'and the call is queued in the outbox');

select * from finish();
rollback;

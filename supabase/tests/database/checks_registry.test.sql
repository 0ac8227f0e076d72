-- The check registry (lifeboat.checks) and the settings defaults (lifeboat.settings.default_value).
begin;
select plan(16);

-- Every registered check names an existing set-returning function in lifeboat.
select is((select count(*)::int from lifeboat.checks k
  where not exists (select from pg_proc p where p.pronamespace = 'lifeboat'::regnamespace and p.proname = k.name and p.proretset)),
  0, 'every registry row names a set-returning lifeboat function');
select results_eq($$select name from lifeboat.checks where suite = 'health' order by position$$,
  array['check_connections', 'check_cron_scheduler', 'check_cron_failures', 'check_backup_age', 'check_stream_slot',
    'check_stream_shipper']::text[],
  'health() runs its six checks in order');
select results_eq($$select "check" from lifeboat.health()$$,
  array['connections', 'cron_scheduler', 'cron_failures', 'backup_age']::text[],
  'in registry order (the stream checks have no row while no stream is enabled)');

-- Adding a check is one function and one row; it declares the suite arguments it needs by name.
create function lifeboat.check_registry_probe(only_schemas text[] default null, exact_counts boolean default false)
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql stable set search_path = ''
as $$ select 'registry_probe', 'ok', 'probe', pg_catalog.format('schemas %s, exact %s', only_schemas, exact_counts), '',
  pg_catalog.jsonb_build_object('exact', exact_counts) $$;
insert into lifeboat.checks (name, suite, position) values ('check_registry_probe', 'integrity', 5);
select is((select detail from lifeboat.check_integrity(true, '1 second', array['public']) where "check" = 'registry_probe'),
  'schemas {public}, exact t', 'a new integrity check runs with the suite arguments it declares');
select is((select "check" from lifeboat.check_integrity(only_schemas => array['public']) limit 1), 'registry_probe',
  'at its position');
select ok(exists (select from lifeboat.diagnose() where "check" = 'registry_probe'), 'diagnose() runs it too');
update lifeboat.checks set enabled = false where name = 'check_registry_probe';
select ok(not exists (select from lifeboat.check_integrity() where "check" = 'registry_probe'), 'a disabled check does not run');
insert into lifeboat.checks (name, suite, position) values ('check_no_such_function', 'security', 1);
select lives_ok($$select * from lifeboat.security_audit()$$, 'a row without its function is skipped with a warning');
select throws_ok($$insert into lifeboat.checks (name, suite, position) values ('x', 'nonsense', 1)$$, '23514', null,
  'the suite is one of health, integrity, diagnostics, security');

-- Settings: the default lives in default_value; value is what is in effect.
select is((select count(*)::int from lifeboat.settings where value is null or default_value is null), 0,
  'every setting has a value and a default');
select is((select default_value from lifeboat.settings where key = 'checks.bloat_warn_ratio'), '2'::jsonb,
  'the default lives in default_value');
select is(lifeboat.setting('checks.bloat_warn_ratio'), '2'::jsonb, 'setting() reads the value');
update lifeboat.settings set value = '3' where key = 'checks.bloat_warn_ratio';
select is(lifeboat.setting('checks.bloat_warn_ratio'), '3'::jsonb, 'a changed value is in effect');
update lifeboat.settings set value = 'null' where key = 'checks.bloat_warn_ratio';
select is(lifeboat.setting('checks.bloat_warn_ratio'), '2'::jsonb, 'a null value falls back to default_value');
create temp table seq_on_defaults on commit drop as select level, object, detail from lifeboat.check_sequences();
update lifeboat.settings set value = 'null' where key like 'checks.sequence_%';
select results_eq($$select level, object, detail from lifeboat.check_sequences() order by object$$,
  $$select level, object, detail from seq_on_defaults order by object$$,
  'a check whose settings are null runs on their defaults');
select is(lifeboat.setting('no.such.key'), null, 'an unknown key is null');

select * from finish();
rollback;

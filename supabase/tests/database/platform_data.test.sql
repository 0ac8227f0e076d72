-- The platform's data in a backup: every auth and storage table of this (faithful) project is
-- classified, the identity tables and buckets/objects are copied by default and the short-lived
-- ones only on request, the versions are read, and only what users added to platform tables
-- (their triggers, policies, grants) becomes post-data, never the platform's own DDL.
begin;
select plan(12);

select is((select count(*)::int from lifeboat.platform_tables() where class = 'unclassified'), 0,
  'every auth and storage table of GoTrue v2.196.0 and Storage v1.70.6 is classified');
select ok((select bool_and(copied) from lifeboat.platform_tables()
  where (schema_name, table_name) in (('auth', 'users'), ('auth', 'identities'), ('auth', 'mfa_factors'),
    ('auth', 'sso_providers'), ('auth', 'sso_domains'), ('auth', 'saml_providers'), ('storage', 'buckets'), ('storage', 'objects'))),
  'users, identities, MFA factors, SSO/SAML, buckets and objects are copied by default');
select ok((select not bool_or(copied) from lifeboat.platform_tables() where class in ('sessions', 'audit', 'never')),
  'sessions, tokens, the audit log and bookkeeping are not copied by default');
select ok((select bool_and(copied) from lifeboat.platform_tables(true, false) where class = 'sessions'),
  'include_sessions copies the short-lived tables');
select ok((select bool_and(copied) from lifeboat.platform_tables(false, true) where class = 'audit')
  and (select not bool_or(copied) from lifeboat.platform_tables(false, true) where class = 'sessions'),
  'include_audit copies the audit log only');
select ok((select not bool_or(copied) from lifeboat.platform_tables(true, true) where class = 'never'),
  'never means never');
select ok((lifeboat.platform_versions()->>'auth') ~ '^[0-9]{14}$', 'GoTrue''s version is read');
select ok((lifeboat.platform_versions()->>'storage')::int > 0, 'Storage''s version is read');
select ok(exists (select from lifeboat.ddl_platform_objects()
  where kind = 'trigger' and object_name = 'users.on_auth_user_created' and ddl ~ '^CREATE OR REPLACE TRIGGER'),
  'the user''s trigger on auth.users is exported, replaceable');
select ok(not exists (select from lifeboat.ddl_platform_objects() o
  join pg_trigger t on o.object_name = split_part(o.object_name, '.', 1) || '.' || t.tgname
  join pg_proc p on p.oid = t.tgfoid
  where o.kind = 'trigger' and p.pronamespace::regnamespace::text in ('storage', 'auth')),
  'triggers whose function is the platform''s are never exported');
select is((select count(*)::int from lifeboat.ddl_platform_objects() where kind = 'policy' and ddl ~ '^create policy' and schema_name = 'storage'),
  (select count(*)::int from pg_policy where polrelid = 'storage.objects'::regclass or polrelid = 'storage.buckets'::regclass),
  'every policy on storage.objects and storage.buckets is exported');
select ok(not exists (select from lifeboat.ddl_platform_objects() where ddl ~* 'create (table|function|index)'),
  'no platform DDL (tables, functions, indexes) is exported');

select * from finish();
rollback;

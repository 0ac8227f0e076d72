-- Lifeboat and the platform's schemas (auth, storage): which of their tables hold the user's
-- data (the rows a backup copies), which versions of GoTrue and Storage made them, and the
-- objects users add to them (triggers, policies, grants). The platform's own DDL in these
-- schemas is never exported: a new project already has it. The classification is checked
-- against GoTrue v2.196.0 and Storage v1.70.6 (docs/format.md, "Platform data"). Idempotent.

-- Every auth and storage table, classified. class: 'included' (copied by default),
-- 'sessions' (--include-auth-sessions), 'audit' (--include-auth-audit), 'never'.
create or replace function lifeboat.platform_table_classes()
returns table (schema_name text, table_name text, class text, reason text)
language sql
immutable
set search_path = ''
as $$
  select v.s, v.t, v.c, v.r from (values
    ('auth', 'users', 'included', 'who the users are: ids, emails, phones, bcrypt password hashes, metadata'),
    ('auth', 'identities', 'included', 'the sign-in identities of each user (email, OAuth providers)'),
    ('auth', 'mfa_factors', 'included', 'enrolled TOTP, phone and WebAuthn factors'),
    ('auth', 'webauthn_credentials', 'included', 'registered passkeys'),
    ('auth', 'sso_providers', 'included', 'SSO providers users sign in through'),
    ('auth', 'sso_domains', 'included', 'email domains mapped to SSO providers'),
    ('auth', 'saml_providers', 'included', 'SAML metadata of the SSO providers'),
    ('auth', 'oauth_clients', 'included', 'OAuth clients registered with the project''s OAuth server'),
    ('auth', 'oauth_consents', 'included', 'consents users gave to OAuth clients'),
    ('auth', 'sessions', 'sessions', 'live sessions: restoring them elsewhere revives logins (security risk)'),
    ('auth', 'refresh_tokens', 'sessions', 'live refresh tokens: restoring them elsewhere revives logins (security risk)'),
    ('auth', 'mfa_amr_claims', 'sessions', 'per-session authentication claims'),
    ('auth', 'mfa_challenges', 'sessions', 'pending MFA challenges, minutes long'),
    ('auth', 'flow_state', 'sessions', 'pending PKCE and OAuth flows, minutes long'),
    ('auth', 'one_time_tokens', 'sessions', 'pending confirmation, recovery and magic-link tokens'),
    ('auth', 'sso_sessions', 'sessions', 'SSO sessions (legacy)'),
    ('auth', 'saml_relay_states', 'sessions', 'pending SAML sign-ins'),
    ('auth', 'oauth_authorizations', 'sessions', 'pending OAuth server authorization codes'),
    ('auth', 'oauth_client_states', 'sessions', 'pending OAuth client state'),
    ('auth', 'webauthn_challenges', 'sessions', 'pending passkey challenges'),
    ('auth', 'audit_log_entries', 'audit', 'the auth audit log: large, and history rather than state'),
    ('auth', 'instances', 'never', 'GoTrue''s legacy instance row; the new project has its own'),
    ('auth', 'schema_migrations', 'never', 'GoTrue''s migration bookkeeping; the version is recorded in the manifest'),
    ('auth', 'custom_oauth_providers', 'never', 'auth provider settings with secrets sealed by the project''s key: set them up again'),
    ('storage', 'buckets', 'included', 'buckets and their settings (public, size limit, MIME types)'),
    ('storage', 'objects', 'included', 'the metadata row of every file (the bytes are not in these rows)'),
    ('storage', 'prefixes', 'included', 'folder rows Storage''s triggers derive from objects, which stay quiet during a restore'),
    ('storage', 'buckets_analytics', 'included', 'analytics bucket definitions'),
    ('storage', 'buckets_vectors', 'included', 'vector bucket definitions'),
    ('storage', 'vector_indexes', 'included', 'vector index definitions'),
    ('storage', 'iceberg_namespaces', 'included', 'Iceberg catalog namespaces of analytics buckets'),
    ('storage', 'iceberg_tables', 'included', 'Iceberg catalog tables of analytics buckets'),
    ('storage', 's3_multipart_uploads', 'never', 'uploads in flight, whose parts live only in the source''s file backend'),
    ('storage', 's3_multipart_uploads_parts', 'never', 'parts of uploads in flight'),
    ('storage', 'migrations', 'never', 'Storage''s migration bookkeeping; the version is recorded in the manifest')
  ) v(s, t, c, r)
$$;
comment on function lifeboat.platform_table_classes() is
  'Every GoTrue (auth) and Storage table with its backup class (included, sessions, audit, never) and why.';

-- The platform tables of this database an export copies, with their class. Tables of the
-- platform schemas that the classification does not know (a newer GoTrue or Storage) are
-- returned with class 'unclassified' and not copied, so the manifest can name them.
create or replace function lifeboat.platform_tables(include_sessions boolean default false, include_audit boolean default false)
returns table (schema_name text, table_name text, class text, copied boolean)
language sql
stable
set search_path = ''
as $$
  select n.nspname::text, c.relname::text, coalesce(k.class, 'unclassified'),
    coalesce(k.class = 'included' or (k.class = 'sessions' and include_sessions) or (k.class = 'audit' and include_audit), false)
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  left join lifeboat.platform_table_classes() k on k.schema_name = n.nspname and k.table_name = c.relname
  where n.nspname in ('auth', 'storage') and c.relkind = 'r' and c.relpersistence = 'p'
  order by 1, 2
$$;
comment on function lifeboat.platform_tables(boolean, boolean) is
  'The auth and storage tables present here, their class, and whether an export with these options copies their rows.';

-- The schema versions of GoTrue (auth.schema_migrations) and Storage (storage.migrations),
-- null when absent or unreadable: {"auth": "20250804100000", "storage": 63}.
create or replace function lifeboat.platform_versions()
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  auth_version text;
  storage_version int;
begin
  if pg_catalog.to_regclass('auth.schema_migrations') is not null
     and pg_catalog.has_table_privilege('auth.schema_migrations', 'select') then
    execute 'select max(version::text) from auth.schema_migrations where version ~ ''^[0-9]+$''' into auth_version;
  end if;
  if pg_catalog.to_regclass('storage.migrations') is not null
     and pg_catalog.has_table_privilege('storage.migrations', 'select') then
    execute 'select max(id) from storage.migrations' into storage_version;
  end if;
  return pg_catalog.jsonb_build_object('auth', auth_version, 'storage', storage_version);
end
$$;
comment on function lifeboat.platform_versions() is
  'GoTrue''s latest migration version and Storage''s latest migration id (null when absent or unreadable).';

-- What users add to the platform's tables, as post-data: triggers whose function lives outside
-- the managed schemas (e.g. on_auth_user_created on auth.users), every policy on auth and
-- storage tables (the platform creates none), and the grants the exporting role made on them.
-- Each statement replaces what exists, so a restore into the same project does not fail.
create or replace function lifeboat.ddl_platform_objects()
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with rels as (
    select c.oid, c.relname, n.nspname
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('auth', 'storage') and c.relkind in ('r', 'p', 'v')
  ),
  stmts as (
    select 1 as grp, r.nspname, r.relname, t.tgname::text as name, 0 as sub, 'trigger' as kind,
      pg_catalog.regexp_replace(pg_catalog.pg_get_triggerdef(t.oid), '^CREATE TRIGGER', 'CREATE OR REPLACE TRIGGER') as ddl
    from rels r
    join pg_catalog.pg_trigger t on t.tgrelid = r.oid
    join pg_catalog.pg_proc p on p.oid = t.tgfoid
    join pg_catalog.pg_namespace pn on pn.oid = p.pronamespace
    where not t.tgisinternal and t.tgparentid = 0 and t.tgconstraint = 0
      and pn.nspname <> all (lifeboat.managed_schemas())
    union all
    select 2, r.nspname, r.relname, p.polname::text, 0, 'policy',
      pg_catalog.format('drop policy if exists %I on %I.%I', p.polname, r.nspname, r.relname)
    from rels r join pg_catalog.pg_policy p on p.polrelid = r.oid
    union all
    select 2, x.schema_name, pg_catalog.split_part(x.object_name, '.', 1), pg_catalog.split_part(x.object_name, '.', 2), 1,
      x.kind, x.ddl
    from lifeboat.ddl_policies(array(select n.oid from pg_catalog.pg_namespace n where n.nspname in ('auth', 'storage'))) x
    where x.kind = 'policy'
    union all
    select 3, r.nspname, r.relname, g.grantee::regrole::text, 0, 'grant',
      pg_catalog.format('grant %s on table %I.%I to %s', pg_catalog.lower(pg_catalog.string_agg(g.privilege_type, ', ' order by g.privilege_type)),
        r.nspname, r.relname, case when g.grantee = 0 then 'public' else pg_catalog.quote_ident(g.grantee::regrole::text) end)
    from rels r
    join pg_catalog.pg_class c on c.oid = r.oid
    cross join lateral pg_catalog.aclexplode(c.relacl) g
    where g.grantor = (select ro.oid from pg_catalog.pg_roles ro where ro.rolname = current_user)
      and g.grantee <> g.grantor
    group by r.nspname, r.relname, g.grantee
  )
  select (pg_catalog.row_number() over (order by s.grp, s.nspname, s.relname, s.name, s.sub))::int,
    s.kind, s.nspname::text, s.relname::text || '.' || s.name, s.ddl
  from stmts s
$$;
comment on function lifeboat.ddl_platform_objects() is
  'Post-data rows for what users add to auth and storage tables: their triggers, policies and grants (never the platform''s own DDL).';

-- Vault secrets (--include-vault), decrypted, as statements that re-create them with
-- vault.create_secret on the target, whose Vault has its own key; a secret whose name the
-- target has already is updated instead. The text goes only into the age-encrypted post-data.
-- Lifeboat's own secrets (lifeboat*) belong to each project and are left out.
create or replace function lifeboat.ddl_vault_secrets()
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language plpgsql
stable
set search_path = ''
as $$
begin
  if pg_catalog.to_regclass('vault.decrypted_secrets') is null
     or not pg_catalog.has_table_privilege('vault.decrypted_secrets', 'select') then
    raise exception 'lifeboat.ddl_vault_secrets: this role cannot read vault.decrypted_secrets'
      using errcode = '42501', hint = 'Back up as postgres (which Supabase lets read Vault), or leave out --include-vault.';
  end if;
  return query execute $q$
    select (pg_catalog.row_number() over (order by s.name, s.id))::int, 'vault secret'::text, 'vault'::text,
      coalesce(s.name, s.id::text),
      pg_catalog.format(E'do $lifeboat$
begin
  if pg_catalog.to_regnamespace(''vault'') is not null then
'
        '    if exists (select from vault.secrets v where v.name = %1$L) then
'
        '      perform vault.update_secret((select v.id from vault.secrets v where v.name = %1$L), %2$L, %1$L, %3$L);
'
        '    else
      perform vault.create_secret(%2$L, %1$L, %3$L);
    end if;
  end if;
end
$lifeboat$',
        s.name, s.decrypted_secret, s.description)
    from vault.decrypted_secrets s
    where coalesce(s.name, '') not like 'lifeboat%'
  $q$;
end
$$;
comment on function lifeboat.ddl_vault_secrets() is
  'Post-data rows that re-create the Vault secrets (decrypted) with vault.create_secret, for backups taken with --include-vault.';

revoke all on all functions in schema lifeboat from public, anon, authenticated;

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('export.include_auth_sessions', 'false'::jsonb, 'backup-export also copies GoTrue''s short-lived tables (sessions, refresh tokens, flow state…); restoring live tokens into another project revives logins'),
  ('export.include_auth_audit', 'false'::jsonb, 'backup-export also copies GoTrue''s audit log (auth.audit_log_entries)'),
  ('export.include_vault', 'false'::jsonb, 'backup-export also exports the Vault secrets, decrypted inside the encrypted backup (never with export.unencrypted)')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

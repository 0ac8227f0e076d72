-- What the project's owner does in the dashboard before Lifeboat runs, as `postgres` (not a
-- superuser: supautils runs privileged extensions' creation as supabase_admin). Run by
-- scripts/stack.sh at every start, so it is idempotent. Variables: url, key, signing_key (psql -v).

-- pgTAP for the pgTAP suites and drill assertions; pg_net so pg_cron reaches the functions.
create extension if not exists pgtap with schema extensions;
create extension if not exists pg_net with schema extensions;

-- The project URL and a secret key in Vault, where lifeboat.invoke() reads them (docs/sql.md,
-- "Configuring Vault on hosted Supabase"). Kept current: the stack's port or keys may change.
select vault.update_secret(s.id, :'url') from vault.secrets s
 where s.name = 'lifeboat_project_url';
select vault.create_secret(:'url', 'lifeboat_project_url', 'Project URL for pg_net calls to edge functions')
 where not exists (select from vault.secrets s where s.name = 'lifeboat_project_url');
select vault.update_secret(s.id, :'key') from vault.secrets s
 where s.name = 'lifeboat_service_key';
select vault.create_secret(:'key', 'lifeboat_service_key', 'Secret API key for pg_net calls to edge functions')
 where not exists (select from vault.secrets s where s.name = 'lifeboat_service_key');

-- The Ed25519 signing key (PKCS#8 PEM, the stack dir's signing.key.signing) backup-export signs
-- manifests with: the Vault secret the setting export.signing_key_secret names by default
-- (docs/backup-export.md, "Signing").
select vault.update_secret(s.id, :'signing_key') from vault.secrets s
 where s.name = 'lifeboat_signing_key';
select vault.create_secret(:'signing_key', 'lifeboat_signing_key', 'Ed25519 key backup-export signs backups with')
 where not exists (select from vault.secrets s where s.name = 'lifeboat_signing_key');

-- Signed backups (issue 17): what the project recorded about each manifest, and where the
-- backup-export function finds its signing key.
--
-- manifest_sha256: the sha256 of the manifest.json bytes a completed run stored. `lifeboat
-- verify` compares it with the manifest in the store, so a manifest replaced after the run
-- (re-signed or not) and a backup the project never recorded are both flagged.

alter table lifeboat.backup_runs
  add column if not exists manifest_sha256 text;

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conname = 'backup_runs_manifest_sha256' and conrelid = 'lifeboat.backup_runs'::pg_catalog.regclass
  ) then
    alter table lifeboat.backup_runs
      add constraint backup_runs_manifest_sha256 check (manifest_sha256 ~ '^[0-9a-f]{64}$');
  end if;
end
$$;

comment on column lifeboat.backup_runs.manifest_sha256 is
  'sha256 (lowercase hex) of the manifest.json a completed run stored; verify flags a stored manifest that differs';

-- The function signs manifests with the Ed25519 key (PKCS#8 PEM) in this Vault secret,
-- unless the LIFEBOAT_SIGNING_KEY function secret holds one. Null: no Vault lookup.
insert into lifeboat.settings (key, value, default_value, description)
values ('export.signing_key_secret', '"lifeboat_signing_key"', '"lifeboat_signing_key"',
  'Name of the Vault secret holding the Ed25519 signing key (PKCS#8 PEM from lifeboat keygen) backup-export signs manifests with')
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- Completed runs record metadata.table_count (the tables in the manifest): lifeboat.last_backup
-- (20261122000700_lifeboat_alerts.sql) does not count a backup of 0 tables from a database
-- that has tables.

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

-- Recoverability never counts a backup that holds no table while the database has tables
-- (e.g. a mistyped --include-schema): completed runs record metadata.table_count, and
-- last_backup (behind check_backup_age, the RPO alert and status_report) skips such runs.
-- Runs recorded before table_count existed count as before.

-- Whether the database has a table an export covers (outside the managed, system and
-- extension schemas).
create or replace function lifeboat.has_exportable_tables()
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (
    select from pg_catalog.pg_class c
    where c.relkind in ('r', 'p') and c.relpersistence <> 't'
      and c.relnamespace = any (lifeboat.ddl_scope())
      and not exists (select from pg_catalog.pg_depend d
        where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid and d.deptype = 'e'))
$$;
comment on function lifeboat.has_exportable_tables() is
  'Whether the database has a table a full backup covers; a backup of 0 tables then restores nothing.';

create or replace function lifeboat.last_backup(backup_kind text, now timestamptz default pg_catalog.now())
returns table (id bigint, kind text, recovery_point timestamptz, finished_at timestamptz,
  bytes bigint, duration_seconds double precision, consistent boolean)
language sql
stable
set search_path = ''
as $$
  select r.id, r.kind, coalesce(r.snapshot_at, r.started_at, r.finished_at), r.finished_at, r.bytes,
    extract(epoch from r.finished_at - coalesce(r.started_at, r.created_at))::double precision, r.consistent
  from lifeboat.backup_runs r
  where r.kind = backup_kind and r.state = 'completed' and r.finished_at <= $2
    and (coalesce((r.metadata ->> 'table_count')::int, 1) > 0 or not lifeboat.has_exportable_tables())
  order by r.finished_at desc, r.id desc
  limit 1
$$;
comment on function lifeboat.last_backup(text, timestamptz) is
  'The newest completed backup of a kind (full or tables) at a point in time, with its recovery point; a backup of 0 tables from a database that has tables does not count.';

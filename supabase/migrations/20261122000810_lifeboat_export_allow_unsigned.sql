-- backup-export signs every backup (issue 17): without a signing key it refuses to start a job,
-- unless the operator opts out of signing explicitly with this setting.
insert into lifeboat.settings (key, value, default_value, description)
values ('export.allow_unsigned', 'false', 'false',
  'true: backup-export writes unsigned backups when it has no signing key (verify/restore/drill then need --allow-unsigned); false: it refuses to start a job without one')
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- supabase_vault 0.3.1's after-create grants, run by supautils when `postgres` creates the
-- extension and by the platform setup (which creates it as supabase_admin, as the image does).
-- The pinned supabase/postgres scripts were written for vault 0.2.8, whose objects were not
-- extension-owned; newer upstream grants the same in supabase_vault/after-create.sql. Access
-- stays revoked from PUBLIC, anon and authenticated.
grant usage on schema vault to postgres with grant option;
grant select, delete on vault.secrets, vault.decrypted_secrets to postgres with grant option;
grant execute on function vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid),
  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea) to postgres with grant option;
-- service_role managed Vault through pgsodium up to vault 0.2.8; upstream keeps that access.
grant usage on schema vault to service_role;
grant select, delete on vault.secrets, vault.decrypted_secrets to service_role;
grant execute on function vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid),
  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea) to service_role;

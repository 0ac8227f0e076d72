-- What a new hosted Supabase project has that the pinned supabase/postgres setup scripts do not
-- create here. Run once per cluster by scripts/stack.sh as supabase_admin, after the upstream
-- init scripts and migrations. Every line is listed in docs/supabase-compat.md.

-- Vault is installed in every hosted project. supabase_vault 0.3.1 needs no pgsodium.
create extension if not exists supabase_vault;
\ir vault-after-create.sql

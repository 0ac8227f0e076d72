/**
 * The key backup-export signs manifests with: the `LIFEBOAT_SIGNING_KEY` function secret
 * (PKCS#8 PEM) when set, else the Vault secret named by the setting
 * `export.signing_key_secret`, read through `lifeboat.vault_secret()` (the function's
 * database role may call it; other roles may not). Without either, a new job is refused
 * ({@link requireSigningKey}) unless the setting `export.allow_unsigned` is true; then the
 * backup is written unsigned, and verify/restore/drill refuse it without --allow-unsigned.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { importSigningKey } from "../format/mod.ts";
import type { ExportConfig } from "./config.ts";
import { JobError } from "./job_error.ts";

/** What the refusal says: where the key goes, and the explicit way out. */
export const NO_SIGNING_KEY_MESSAGE =
  "no signing key: backup-export signs every backup and found no key. Make one with " +
  "'lifeboat keygen --output key.txt' and store its private half in Vault: " +
  "select vault.create_secret('<contents of key.txt.signing>', 'lifeboat_signing_key'); " +
  "(the name is the setting export.signing_key_secret), or set the LIFEBOAT_SIGNING_KEY function secret. " +
  "To write unsigned backups instead, set lifeboat.settings export.allow_unsigned to true";

/**
 * Checks, before a job is created, that finalize will be able to sign its manifest: throws a
 * 409 {@link JobError} `signing_key_missing` without a key, unless `export.allow_unsigned`.
 */
export async function requireSigningKey(sql: Sql, cfg: ExportConfig, env = Deno.env): Promise<void> {
  if (cfg.allowUnsigned) return;
  if (await loadSigningKey(sql, env) === null) throw new JobError(409, "signing_key_missing", NO_SIGNING_KEY_MESSAGE);
}

/** Reads and imports the function's signing key; a malformed key is an error, a missing one null. */
export async function loadSigningKey(sql: Sql, env = Deno.env): Promise<CryptoKey | null> {
  const pem = await readSigningKeyPem(sql, env);
  return pem ? await importSigningKey(pem) : null;
}

/** The signing key's PKCS#8 PEM: the function secret, else the Vault secret; null when neither is set. */
export async function readSigningKeyPem(
  sql: Sql,
  env: { get(name: string): string | undefined } = Deno.env,
): Promise<string | null> {
  const fromEnv = env.get("LIFEBOAT_SIGNING_KEY");
  if (fromEnv) return fromEnv;
  try {
    const [r] = await sql`
      select case when s.name is null then null else lifeboat.vault_secret(s.name) end as pem
      from (select lifeboat.setting('export.signing_key_secret') #>> '{}' as name) s`;
    return (r?.pem as string | null) ?? null;
  } catch {
    return null; // no Vault, or no such secret: no key
  }
}

/**
 * The key backup-export signs manifests with: the `LIFEBOAT_SIGNING_KEY` function secret
 * (PKCS#8 PEM) when set, else the Vault secret named by the setting
 * `export.signing_key_secret`, read through `lifeboat.vault_secret()` (the function's
 * database role may call it; other roles may not). Null when neither holds a key: the
 * backup is written unsigned, and verify/restore/drill refuse it without --allow-unsigned.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { importSigningKey } from "../format/mod.ts";

/** Reads and imports the function's signing key; a malformed key is an error, a missing one null. */
export async function loadSigningKey(sql: Sql, env = Deno.env): Promise<CryptoKey | null> {
  const fromEnv = env.get("LIFEBOAT_SIGNING_KEY");
  if (fromEnv) return await importSigningKey(fromEnv);
  let pem: string | null = null;
  try {
    const [r] = await sql`
      select case when s.name is null then null else lifeboat.vault_secret(s.name) end as pem
      from (select lifeboat.setting('export.signing_key_secret') #>> '{}' as name) s`;
    pem = (r?.pem as string | null) ?? null;
  } catch {
    pem = null; // no Vault, or no such secret: the backup is unsigned
  }
  return pem ? await importSigningKey(pem) : null;
}

/**
 * Which signing keys backup-verify trusts: the public half of the project's own signing key
 * (the `LIFEBOAT_SIGNING_KEY` function secret or the Vault secret backup-export signs with),
 * plus any public keys listed in the setting `verify.trusted_keys` (e.g. the key of the
 * machine that runs `lifeboat backup`). Public halves are not secret; nothing here needs an
 * age identity.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { normalizePublicKey, publicKeyOf, SigningKeyError } from "../format/mod.ts";
import { ConfigError, signingKeyPem } from "../jobs/mod.ts";
import type { ManifestTrust } from "../verify/mod.ts";
import type { VerifyConfig } from "./config.ts";

/** The trust the project's verification uses. */
export async function projectTrust(
  sql: Sql,
  cfg: VerifyConfig,
  env: { get(name: string): string | undefined } = Deno.env,
): Promise<ManifestTrust> {
  const keys: string[] = [];
  for (const k of cfg.trustedKeys) {
    try {
      keys.push(normalizePublicKey(k));
    } catch (err) {
      if (err instanceof SigningKeyError) {
        throw new ConfigError(`setting verify.trusted_keys holds something that is not an Ed25519 public key: ${err.message}`);
      }
      throw err;
    }
  }
  const pem = await signingKeyPem(sql, env);
  if (pem) {
    try {
      keys.push(await publicKeyOf(pem));
    } catch (err) {
      if (err instanceof SigningKeyError) throw new ConfigError(`the project's signing key cannot be read: ${err.message}`);
      throw err;
    }
  }
  return { trustedKeys: [...new Set(keys)], allowUnsigned: cfg.allowUnsigned };
}

/**
 * The drill's keys: its age identity, read from Vault (the secret drill.identity_secret
 * names), and the signing keys it trusts (drill.trusted_keys and the public half of the
 * project's own signing key, the one backup-export signs with).
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { parseIdentityFile } from "../crypto/mod.ts";
import { normalizePublicKey, publicKeyOf } from "../format/mod.ts";
import { signingKeyPem } from "../jobs/mod.ts";
import type { ManifestTrust } from "../verify/mod.ts";

/** Why the drill identity cannot be used; the message says what to do and never quotes the secret. */
export class DrillKeyError extends Error {
  readonly code: "drill_identity_missing" | "drill_identity_invalid" | "drill_trust_invalid";
  constructor(code: DrillKeyError["code"], message: string) {
    super(message);
    this.name = "DrillKeyError";
    this.code = code;
  }
}

/** The drill's age identities from the Vault secret `secret`. */
export async function loadDrillIdentity(sql: Sql, secret: string): Promise<string[]> {
  let text: string | null = null;
  try {
    const [r] = await sql`select lifeboat.vault_secret(${secret}) as v`;
    text = (r?.v as string | null) ?? null;
  } catch {
    text = null;
  }
  if (!text) {
    throw new DrillKeyError("drill_identity_missing",
      `the drill identity is missing: Vault has no secret '${secret}' (drill.identity_secret). Make a key pair used only for drills ` +
        `('lifeboat keygen --output drill.txt'), store it with select vault.create_secret('<contents of drill.txt>', '${secret}'); ` +
        "and add its recipient (age1…) to export.recipients");
  }
  try {
    return parseIdentityFile(text);
  } catch {
    throw new DrillKeyError("drill_identity_invalid",
      `the Vault secret '${secret}' is not an age identity (AGE-SECRET-KEY-1…): store the contents of the identity file 'lifeboat keygen' wrote`);
  }
}

/** The signing keys a drill trusts: drill.trusted_keys and the public half of the project's signing key. */
export async function drillTrust(
  sql: Sql,
  trustedKeys: string[],
  env: { get(name: string): string | undefined } = Deno.env,
): Promise<ManifestTrust> {
  const keys: string[] = [];
  for (const k of trustedKeys) {
    try {
      keys.push(normalizePublicKey(k));
    } catch {
      throw new DrillKeyError("drill_trust_invalid",
        "setting drill.trusted_keys holds something that is not an Ed25519 public key: use the one-line MCowBQYDK2VwAyEA… form");
    }
  }
  const pem = await signingKeyPem(sql, env);
  if (pem) {
    try {
      keys.push(await publicKeyOf(pem));
    } catch {
      // A malformed signing key signs nothing: nothing to trust from it.
    }
  }
  return { trustedKeys: keys, allowUnsigned: false };
}

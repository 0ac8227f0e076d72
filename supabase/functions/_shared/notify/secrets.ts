/**
 * Resolves channel references: `env:NAME` (an edge function secret), `vault:NAME` (a Vault
 * secret, read through lifeboat.vault_secret()), or `url:…` (a literal, for endpoints that
 * are not secret). The values are used for one request and never logged or stored.
 * @module
 */

/** Where references are looked up. */
export interface SecretSources {
  env: { get(name: string): string | undefined };
  /** Reads a Vault secret by name; rejects if it is missing. */
  vault?: (name: string) => Promise<string>;
}

/** An error that names the reference, not its value. */
export class SecretRefError extends Error {}

/** The value a reference points to. */
export async function resolveRef(ref: string, src: SecretSources): Promise<string> {
  const i = ref.indexOf(":");
  const scheme = ref.slice(0, i), name = ref.slice(i + 1);
  if (scheme === "url" && /^https?:\/\//.test(name)) return name;
  if (scheme === "env") {
    const v = src.env.get(name);
    if (!v) throw new SecretRefError(`secret ${ref} is not set: add it with 'supabase secrets set ${name}=…'`);
    return v;
  }
  if (scheme === "vault") {
    if (!src.vault) throw new SecretRefError(`secret ${ref} needs Vault, which is not reachable here`);
    try {
      const v = await src.vault(name);
      if (v) return v;
    } catch {
      // fall through: the message below says what to do
    }
    throw new SecretRefError(`Vault secret ${name} is missing: create it with select vault.create_secret('…', '${name}')`);
  }
  throw new SecretRefError(`unsupported reference '${scheme}:…': use env:NAME, vault:NAME or url:https://…`);
}

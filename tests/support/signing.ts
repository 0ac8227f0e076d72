// A signing key pair for the tests' backups, made once per test process: the CLI helpers pass
// it to every `lifeboat` run (LIFEBOAT_SIGNING_KEY_FILE signs, LIFEBOAT_TRUSTED_KEYS trusts).
import { generateSigningKey, importSigningKey } from "../../supabase/functions/_shared/format/mod.ts";

const dir = await Deno.makeTempDir({ prefix: "lifeboat-signing-" });
const pair = await generateSigningKey();
await Deno.writeTextFile(`${dir}/test.signing`, pair.privatePem, { mode: 0o600 });
await Deno.writeTextFile(`${dir}/test.signing.pub`, pair.publicPem);

/** The tests' signing key: its files, public key, and the imported private key for exportBackup. */
export const testSigning = {
  privateFile: `${dir}/test.signing`,
  publicFile: `${dir}/test.signing.pub`,
  publicKey: pair.publicKey,
  privatePem: pair.privatePem,
  key: await importSigningKey(pair.privatePem),
};

/** The environment that makes the CLI sign with, and trust, the tests' key. */
export const signingEnv: Record<string, string> = {
  LIFEBOAT_SIGNING_KEY_FILE: testSigning.privateFile,
  LIFEBOAT_TRUSTED_KEYS: testSigning.publicKey,
};

/**
 * `lifeboat keygen`: create an age X25519 identity file (mode 600, the same format as
 * age-keygen) and print its recipient, the public key backups are encrypted to; beside it,
 * the Ed25519 signing key backups are signed with (`PATH.signing`, mode 600) and its public
 * half (`PATH.signing.pub`), the key verify, restore and drill trust.
 * @module
 */
import { parseArgs } from "node:util";
import { generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";
import { generateSigningKey } from "../../supabase/functions/_shared/format/mod.ts";

const USAGE = `usage: lifeboat keygen --output PATH [--force]

Writes a new age identity (private key) to PATH with mode 600 and prints its recipient
(public key, age1…) on stdout. Give the recipient to 'lifeboat backup --recipient'; keep the
identity offline: it is the only way to read the backups.

Also writes the signing key pair backups are signed with: PATH.signing (private, mode 600;
give it to 'lifeboat backup --signing-key', or store it in Vault for backup-export) and
PATH.signing.pub (public; give it to verify, restore and drill with --trust-key).

options:
  -o, --output PATH   where to write the identity (refuses to overwrite)
  --force             overwrite an existing file
  -h, --help          this help`;

/** Runs `lifeboat keygen`. */
export async function run(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        output: { type: "string", short: "o" },
        force: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    console.error(`lifeboat keygen: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (!v.output) {
    console.error("lifeboat keygen: pass --output PATH for the identity file (it holds the private key)");
    return 2;
  }
  const { identity, recipient } = await generateIdentity();
  const signing = await generateSigningKey();
  const text = `# created: ${new Date().toISOString().replace(/\.\d{3}Z$/, "Z")}\n# public key: ${recipient}\n${identity}\n`;
  const files: [string, string, number][] = [
    [v.output, text, 0o600],
    [`${v.output}.signing`, signing.privatePem, 0o600],
    [`${v.output}.signing.pub`, signing.publicPem, 0o644],
  ];
  for (const [path, body, mode] of files) {
    try {
      await writeKeyFile(path, body, mode, Boolean(v.force));
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) {
        console.error(`lifeboat keygen: '${path}' already exists; choose another path (or --force to overwrite it)`);
      } else {
        console.error(`lifeboat keygen: cannot write '${path}' (${err instanceof Error ? err.name : "error"}): check the directory`);
      }
      return 1;
    }
  }
  console.error(`lifeboat keygen: signing key written to ${v.output}.signing (mode 600), its public key to ${v.output}.signing.pub:`);
  console.error(`lifeboat keygen: trusted signing key ${signing.publicKey}`);
  console.error(`lifeboat keygen: identity written to ${v.output} (mode 600); keep it safe and offline`);
  console.log(recipient);
  return 0;
}

/** Writes a key file with `mode`; never clobbers one unless `force` (it may be the only way to read old backups). */
async function writeKeyFile(path: string, body: string, mode: number, force: boolean): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, createNew: !force, truncate: true, mode });
  try {
    await f.write(new TextEncoder().encode(body));
    await Deno.chmod(path, mode); // mode only applies on creation; --force may reuse a file
    await f.sync();
  } finally {
    f.close();
  }
}

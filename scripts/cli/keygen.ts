/**
 * `lifeboat keygen`: create an age X25519 identity file (mode 600, the same format as
 * age-keygen) and print its recipient, the public key backups are encrypted to.
 * @module
 */
import { parseArgs } from "node:util";
import { generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";

const USAGE = `usage: lifeboat keygen --output PATH [--force]

Writes a new age identity (private key) to PATH with mode 600 and prints its recipient
(public key, age1…) on stdout. Give the recipient to 'lifeboat backup --recipient'; keep the
identity offline: it is the only way to read the backups.

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
  const text = `# created: ${new Date().toISOString().replace(/\.\d{3}Z$/, "Z")}\n# public key: ${recipient}\n${identity}\n`;
  try {
    // createNew: never clobber a key that may be the only way to read old backups.
    const f = await Deno.open(v.output, { write: true, create: true, createNew: !v.force, truncate: true, mode: 0o600 });
    try {
      await f.write(new TextEncoder().encode(text));
      await Deno.chmod(v.output, 0o600); // mode only applies on creation; --force may reuse a file
      await f.sync();
    } finally {
      f.close();
    }
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      console.error(`lifeboat keygen: '${v.output}' already exists; choose another path (or --force to overwrite it)`);
    } else {
      console.error(`lifeboat keygen: cannot write '${v.output}' (${err instanceof Error ? err.name : "error"}): check the directory`);
    }
    return 1;
  }
  console.error(`lifeboat keygen: identity written to ${v.output} (mode 600); keep it safe and offline`);
  console.log(recipient);
  return 0;
}

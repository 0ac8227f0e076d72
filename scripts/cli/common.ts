/**
 * What the commands share: parsing the command line with usage on error and --help,
 * reporting bad usage, count flags, and (for the backup-reading commands: verify, restore,
 * drill) opening the backup the arguments name (store, id, identities).
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseIdentityFile } from "../../supabase/functions/_shared/crypto/mod.ts";
import { openStore, type Store } from "../../supabase/functions/_shared/store/mod.ts";
import { type BackupRef, resolveBackupRef } from "./backup_ref.ts";
import { normalizePublicKey } from "../../supabase/functions/_shared/format/mod.ts";
import type { ManifestTrust } from "../../supabase/functions/_shared/verify/mod.ts";

/** The options of the backup-reading commands that say which signing keys are trusted. */
export const TRUST_OPTIONS = {
  "trust-key": { type: "string", multiple: true },
  "allow-unsigned": { type: "boolean", default: false },
} as const;

/** Usage lines of {@link TRUST_OPTIONS}. */
export const TRUST_USAGE = `  --trust-key KEY    trust backups signed by this Ed25519 public key: a .signing.pub file
                     from 'lifeboat keygen' or its one-line MCowBQYDK2VwAyEA… body
                     (repeatable; default: $LIFEBOAT_TRUSTED_KEYS, comma-separated)
  --allow-unsigned   accept a backup without a signature (older than signing); its
                     authorship cannot be checked`;

/**
 * The signing keys the user trusts, from --trust-key and $LIFEBOAT_TRUSTED_KEYS (each a key
 * or a file holding one); never from the backup. Throws an Error saying what to fix.
 */
export function readTrust(values: { "trust-key"?: string[]; "allow-unsigned"?: boolean }): ManifestTrust {
  const given = values["trust-key"]?.length
    ? values["trust-key"]
    : (Deno.env.get("LIFEBOAT_TRUSTED_KEYS") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const trustedKeys = given.map((k) => {
    let text = k;
    if (!/^MCowBQYDK2VwAyEA/.test(k) && !k.includes("-----BEGIN")) {
      try {
        text = Deno.readTextFileSync(k);
      } catch {
        throw new Error(`cannot read the trusted key file '${k}': pass a .signing.pub file or a MCowBQYDK2VwAyEA… key`);
      }
    }
    return normalizePublicKey(text);
  });
  return { trustedKeys, allowUnsigned: Boolean(values["allow-unsigned"]) };
}

/** Option definitions as `parseArgs` takes them. */
export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** The parsed command line for a set of option definitions (positionals allowed). */
export type ParsedArgs<O extends OptionSpecs> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; options: O }>
>;

/** How {@link parseCommand} treats what it does not know. */
export interface ParseSettings {
  /** Accept positional arguments (default true); a command that takes none refuses them. */
  positionals?: boolean;
  /** Leave out node:util's "To specify a positional argument…" hint from parse errors (default false). */
  shortErrors?: boolean;
}

/**
 * Parses `args` for `lifeboat <command>`. Returns the parsed arguments, or the exit status
 * when the command is already done: 2 after printing the parse error and the usage to
 * stderr, 0 after printing the usage for --help (`options` should define `help`).
 */
export function parseCommand<O extends OptionSpecs>(
  command: string,
  usage: string,
  args: string[],
  options: O,
  settings: ParseSettings = {},
): ParsedArgs<O> | number {
  let parsed: ParsedArgs<O>;
  try {
    parsed = parseArgs({ args, allowPositionals: settings.positionals ?? true, strict: true, options }) as ParsedArgs<O>;
  } catch (err) {
    let message = (err as Error).message;
    if (settings.shortErrors) message = message.replace(/\. To specify.*$/s, "");
    console.error(`lifeboat ${command}: ${message}\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    return 0;
  }
  return parsed;
}

/** Returns a reporter for bad usage: prints `lifeboat <command>: <msg>` to stderr and gives exit status 2. */
export function usageError(command: string): (msg: string) => number {
  return (msg) => {
    console.error(`lifeboat ${command}: ${msg}`);
    return 2;
  };
}

/** A count flag's value: `fallback` when absent, null when it is not an integer from 1 to `max`. */
export function countOption(raw: string | undefined, fallback: number, max: number): number | null {
  const n = raw ? Number(raw) : fallback;
  return Number.isInteger(n) && n >= 1 && n <= max ? n : null;
}

/** Reads and parses an identity file, with errors that say what to fix. */
export async function readIdentities(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new Error(`cannot read the identity file '${path}': check the path and its permissions`);
  }
  return parseIdentityFile(text);
}

/** The backup a command's arguments name, opened: its reference, the store, and the identities (null without --identity). */
export interface OpenedBackup {
  ref: BackupRef;
  store: Store;
  identities: string[] | null;
  /** The signing keys the user trusts (see {@link readTrust}). */
  trust: ManifestTrust;
}

/**
 * Resolves the backup arguments (store defaults to $LIFEBOAT_STORE), reads the identity file
 * when given and opens the store; throws an Error whose message says what to pass.
 */
export async function openBackup(
  positional: string | undefined,
  storeFlag: string | undefined,
  latest: boolean,
  identityPath: string | undefined,
  trustValues: { "trust-key"?: string[]; "allow-unsigned"?: boolean },
): Promise<OpenedBackup> {
  const ref = resolveBackupRef(positional, storeFlag, latest, Deno.env.get("LIFEBOAT_STORE"));
  const identities = identityPath ? await readIdentities(identityPath) : null;
  const trust = readTrust(trustValues);
  return { ref, identities, trust, store: openStore(ref.store) };
}

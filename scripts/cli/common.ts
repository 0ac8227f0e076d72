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
import { isBackupId, normalizePublicKey } from "../../supabase/functions/_shared/format/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import {
  chooseSource,
  describeChoice,
  envSecrets,
  loadLocations,
  type Location,
  openLocation,
  readLocationsSpec,
} from "../../supabase/functions/_shared/locations/mod.ts";
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

/** The options of the backup-reading commands that read from a location (docs/locations.md). */
export const LOCATION_OPTIONS = {
  from: { type: "string" },
  locations: { type: "string" },
} as const;

/** Usage lines of {@link LOCATION_OPTIONS}. */
export const LOCATION_USAGE = `  --from NAME        read the backup from this location of lifeboat.locations (instead of --store)
  --locations SPEC   the locations as a JSON array or a file holding one (default
                     $LIFEBOAT_LOCATIONS, else lifeboat.locations through $SUPABASE_DB_URL);
                     without --from, the first of primary, secondaries, archives whose
                     backup passes verification is used, and the choice is printed`;

/** Where the backup-reading commands look for locations. */
export interface LocationArgs {
  from?: string;
  locations?: string;
  /** The project database to read lifeboat.locations from (default $SUPABASE_DB_URL). */
  dbUrl?: string;
}

/**
 * The exit status for a failure to open the backup, after printing it: 1 when no location could
 * serve it (the store side failed), 2 when the arguments are at fault.
 */
export function openFailure(command: string, err: unknown): number {
  console.error(`lifeboat ${command}: ${err instanceof Error ? err.message : String(err)}`);
  return (err as { unavailable?: boolean })?.unavailable ? 1 : 2;
}

/** The locations: --locations, $LIFEBOAT_LOCATIONS, or the project database's lifeboat.locations. */
async function resolveLocations(spec: string | undefined, dbUrlArg?: string): Promise<Location[]> {
  const given = spec ?? Deno.env.get("LIFEBOAT_LOCATIONS");
  if (given) return await readLocationsSpec(given);
  const dbUrl = dbUrlArg ?? Deno.env.get("SUPABASE_DB_URL");
  if (!dbUrl) throw new Error("--from needs the locations: pass --locations <file> (or set LIFEBOAT_LOCATIONS or SUPABASE_DB_URL)");
  const sql = connect(dbUrl, { applicationName: "lifeboat locations", max: 1 });
  try {
    return await loadLocations(sql);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** Whether the arguments ask to read from a location rather than a store. */
export function usesLocations(where: LocationArgs | undefined, storeFlag: string | undefined, positional?: string): boolean {
  if (where === undefined) return false;
  if (where.from !== undefined || where.locations !== undefined) return true;
  // No store anywhere (no --store, $LIFEBOAT_STORE or <store>/<id>): the configured locations.
  return storeFlag === undefined && !Deno.env.get("LIFEBOAT_STORE") && (positional === undefined || isBackupId(positional));
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
  /** With locations: which one was chosen and why (print it to stderr). */
  choice?: string;
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
  where?: LocationArgs,
): Promise<OpenedBackup> {
  if (usesLocations(where, storeFlag, positional)) {
    if (storeFlag !== undefined) throw new Error("give --store or --from/--locations, not both");
    if (positional && latest) throw new Error("give a backup id or --latest, not both");
    if (positional && !isBackupId(positional)) {
      throw new Error(`'${positional}' is not a backup id: with --from/--locations, name the backup by its id (e.g. 20261122T031100Z-a1b2c3d4) or pass --latest`);
    }
    if (!positional && !latest) throw new Error("which backup? pass its id, or --latest");
    const identities = identityPath ? await readIdentities(identityPath) : null;
    const trust = readTrust(trustValues);
    const locations = await resolveLocations(where?.locations, where?.dbUrl).catch((err) => {
      // Without --from/--locations, a project that has no locations keeps the old message.
      if (where?.from === undefined && where?.locations === undefined) {
        throw new Error("no store given: pass --store <dir or s3://bucket/prefix> (or set LIFEBOAT_STORE), or configure lifeboat.locations");
      }
      throw err;
    });
    if (locations.length === 0) {
      throw new Error("no store given and no locations configured: pass --store <dir or s3://bucket/prefix> (or set LIFEBOAT_STORE), or add rows to lifeboat.locations");
    }
    const secrets = envSecrets();
    const choice = await chooseSource({ locations, open: (l) => openLocation(l, secrets), id: positional ?? null, from: where?.from, trust });
    return { ref: { store: choice.store.describe(), id: choice.backupId }, store: choice.store, identities, trust, choice: describeChoice(choice) };
  }
  const ref = resolveBackupRef(positional, storeFlag, latest, Deno.env.get("LIFEBOAT_STORE"));
  const identities = identityPath ? await readIdentities(identityPath) : null;
  const trust = readTrust(trustValues);
  return { ref, identities, trust, store: openStore(ref.store) };
}

/**
 * Finding backups in a store: listing the prefixes, telling complete ones (with a manifest)
 * from incomplete ones, picking the latest, and reading a manifest.
 * @module
 */
import { backupPrefix, isBackupId, type Manifest, MANIFEST_KEY, objectKey, parseManifest } from "../format/mod.ts";
import { type Store, StoreError } from "../store/mod.ts";
import { SIGNATURE_KEY, signerOf } from "../format/mod.ts";
import { createHash } from "node:crypto";

/** An error a user can act on: `code` is stable, the message says what to do. */
export class BackupError extends Error {
  readonly code: "not_found" | "incomplete" | "invalid" | "unreadable" | "unsigned" | "bad_signature";
  constructor(code: BackupError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BackupError";
    this.code = code;
  }
}

/** A backup prefix in a store. */
export interface BackupListing {
  id: string;
  /** True when the manifest is present (the backup finished). */
  complete: boolean;
  objects: number;
  bytes: number;
}

/** Every backup prefix in the store, oldest first, complete or not. */
export async function listBackups(store: Store, signal?: AbortSignal): Promise<BackupListing[]> {
  const byId = new Map<string, BackupListing>();
  for await (const o of store.list("", { signal })) {
    const slash = o.key.indexOf("/");
    if (slash < 0) continue;
    const id = o.key.slice(0, slash);
    if (!isBackupId(id)) continue;
    const b = byId.get(id) ?? { id, complete: false, objects: 0, bytes: 0 };
    b.objects++;
    b.bytes += o.size;
    if (o.key === objectKey(id, MANIFEST_KEY)) b.complete = true;
    byId.set(id, b);
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The id of the newest complete backup, or an error saying none exists. With `database`, only
 * backups that hold a database: files backups (`backup-export` files jobs) are passed over.
 */
export async function latestBackupId(store: Store, signal?: AbortSignal, opts: { database?: boolean } = {}): Promise<string> {
  let complete = (await listBackups(store, signal)).filter((b) => b.complete);
  const isFiles = (id: string) => readManifest(store, id, signal).then((m) => m.kind === "files", () => false);
  if (opts.database) {
    while (complete.length && await isFiles(complete[complete.length - 1].id)) complete = complete.slice(0, -1);
  }
  if (complete.length === 0) {
    throw new BackupError(
      "not_found",
      `no complete ${opts.database ? "database " : ""}backup in ${store.describe()}: run 'lifeboat backup' first, or check the store location`,
    );
  }
  // Ids carry whole seconds: backups started in the same second sort by their random suffix.
  // Their manifests' start times (milliseconds) tell which is newest.
  const second = complete[complete.length - 1].id.slice(0, 16);
  const tied = complete.filter((b) => b.id.startsWith(`${second}-`));
  if (tied.length === 1) return tied[0].id;
  let newest = tied[tied.length - 1].id;
  let newestStart = -Infinity;
  for (const b of tied) {
    const m = await readManifest(store, b.id, signal).catch(() => null);
    if (opts.database && m?.kind === "files") continue;
    const started = m ? Date.parse(m.startedAt) : -Infinity;
    if (started > newestStart) [newest, newestStart] = [b.id, started];
  }
  return newest;
}

/** Reads and validates a backup's manifest. A prefix without one is reported as incomplete. */
export async function readManifest(store: Store, id: string, signal?: AbortSignal): Promise<Manifest> {
  return (await readManifestBytes(store, id, signal)).manifest;
}

/** Which signing keys a reader trusts; never taken from the backup itself. */
export interface ManifestTrust {
  /** Ed25519 public keys (SPKI PEM or its one-line base64 body). */
  trustedKeys: string[];
  /** Accept a manifest without a signature (backups older than signing), on explicit request. */
  allowUnsigned: boolean;
}

/** A manifest whose signature was checked against the trusted keys. */
export interface AuthenticManifest {
  manifest: Manifest;
  /** sha256 of the manifest's bytes, as recorded in lifeboat.backup_runs.manifest_sha256. */
  sha256: string;
  /** The trusted key that signed it (one-line form), or null for an unsigned backup allowed by request. */
  signedBy: string | null;
}

/**
 * Reads a backup's manifest and checks its signature (`manifest.json.sig`) against the
 * trusted keys before anything else of the backup is read. Throws {@link BackupError}
 * `unsigned` or `bad_signature` when it may not be used.
 */
export async function readAuthenticManifest(
  store: Store,
  id: string,
  trust: ManifestTrust,
  signal?: AbortSignal,
): Promise<AuthenticManifest> {
  if (!isBackupId(id)) {
    throw new BackupError("invalid", `'${id}' is not a backup id (expected e.g. 20261122T031100Z-a1b2c3d4)`);
  }
  // The signature is read while the manifest is: one round trip less per verification.
  const sigRead = store.getBytes(objectKey(id, SIGNATURE_KEY), { signal }).then(
    (bytes) => ({ bytes, err: null }),
    (err: unknown) => ({ bytes: null, err }),
  );
  const { manifest, bytes } = await readManifestBytes(store, id, signal);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const read = await sigRead;
  if (read.err && !(read.err instanceof StoreError && read.err.code === "not_found")) throw read.err;
  const sig = read.bytes;
  if (!sig) {
    if (trust.allowUnsigned) return { manifest, sha256, signedBy: null };
    throw new BackupError("unsigned",
      `backup ${id} is not signed (no ${SIGNATURE_KEY}): anyone who can write to the store could have made it; ` +
        "restore it only if you know it predates signing, with --allow-unsigned");
  }
  if (trust.trustedKeys.length === 0) {
    if (trust.allowUnsigned) return { manifest, sha256, signedBy: null };
    throw new BackupError("unsigned",
      `backup ${id} is signed, but no trusted signing key was given: pass --trust-key <.signing.pub file> (or set LIFEBOAT_TRUSTED_KEYS)`);
  }
  const signer = await signerOf(bytes, sig, trust.trustedKeys);
  if (!signer) {
    throw new BackupError("bad_signature",
      `backup ${id}: ${SIGNATURE_KEY} is not a valid signature of manifest.json by any of the ${trust.trustedKeys.length} trusted key(s): ` +
        "the backup was altered or written by someone else; do not restore it");
  }
  return { manifest, sha256, signedBy: signer };
}

/** How far a backup id's time may lie after its startedAt (job ids are made before the run row). */
const ID_CLOCK_SLACK_MS = 10 * 60 * 1000;

/** The time a backup id names. */
export function idTime(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id)!;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

async function readManifestBytes(store: Store, id: string, signal?: AbortSignal): Promise<{ manifest: Manifest; bytes: Uint8Array }> {
  if (!isBackupId(id)) {
    throw new BackupError("invalid", `'${id}' is not a backup id (expected e.g. 20261122T031100Z-a1b2c3d4)`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await store.getBytes(objectKey(id, MANIFEST_KEY), { signal });
  } catch (err) {
    if (err instanceof StoreError && err.code === "not_found") {
      let any = false;
      for await (const _ of store.list(backupPrefix(id), { signal })) {
        any = true;
        break;
      }
      if (any) {
        throw new BackupError(
          "incomplete",
          `backup ${id} has no manifest.json: it is INCOMPLETE (the export never finished); do not restore it, take a new backup`,
        );
      }
      throw new BackupError("not_found", `no backup ${id} in ${store.describe()}: list the store or use --latest`);
    }
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new BackupError("invalid", `backup ${id}: manifest.json is not valid JSON`);
  }
  const m = parseManifest(json);
  if (m.id !== id) {
    throw new BackupError("invalid", `backup ${id}: manifest.json names backup ${m.id}; it was copied under the wrong prefix`);
  }
  // An id is made when the backup starts: one much newer than startedAt is an old backup
  // renamed to look recent (and be taken by --latest).
  if (idTime(id) - Date.parse(m.startedAt) > ID_CLOCK_SLACK_MS) {
    throw new BackupError("invalid",
      `backup ${id}: its id is newer than its startedAt (${m.startedAt}): an older backup was copied under a newer id; do not restore it`);
  }
  return { manifest: m, bytes };
}

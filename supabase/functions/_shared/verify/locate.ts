/**
 * Finding backups in a store: listing the prefixes, telling complete ones (with a manifest)
 * from incomplete ones, picking the latest, and reading a manifest.
 * @module
 */
import { backupPrefix, isBackupId, type Manifest, MANIFEST_KEY, objectKey, parseManifest } from "../format/manifest.ts";
import { type Store, StoreError } from "../store/types.ts";

/** An error a user can act on: `code` is stable, the message says what to do. */
export class BackupError extends Error {
  readonly code: "not_found" | "incomplete" | "invalid" | "unreadable";
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

/** The id of the newest complete backup, or an error saying none exists. */
export async function latestBackupId(store: Store, signal?: AbortSignal): Promise<string> {
  const complete = (await listBackups(store, signal)).filter((b) => b.complete);
  if (complete.length === 0) {
    throw new BackupError(
      "not_found",
      `no complete backup in ${store.describe()}: run 'lifeboat backup' first, or check the store location`,
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
    const started = await readManifest(store, b.id, signal).then((m) => Date.parse(m.startedAt), () => -Infinity);
    if (started > newestStart) [newest, newestStart] = [b.id, started];
  }
  return newest;
}

/** Reads and validates a backup's manifest. A prefix without one is reported as incomplete. */
export async function readManifest(store: Store, id: string, signal?: AbortSignal): Promise<Manifest> {
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
  return m;
}

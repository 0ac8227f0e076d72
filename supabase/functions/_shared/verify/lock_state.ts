/**
 * The write-once protection of a stored backup, as `verify` reports it: each object's lock
 * (S3 Object Lock retention, Azure immutability policy) and storage class from the store's
 * `head`, in one check whose metadata lists every object. A backup with some objects locked
 * and others not, or whose locks expire within the hour, is a warning: an attacker could erase
 * exactly the unprotected part.
 * @module
 */
import { type Check, check } from "../checks.ts";
import { backupPrefix, type Manifest, MANIFEST_KEY, objectKey } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";
import { pool } from "./integrity.ts";

/** One object's protection, as listed in the check's metadata. */
export interface ObjectLockState {
  key: string;
  /** `compliance`, `governance`, `none`, or `unknown` when `head` failed. */
  mode: string;
  /** ISO time the lock holds until, when locked. */
  retainUntil?: string;
  storageClass?: string;
}

/** A lock that ends sooner than this is reported as expiring. */
const SOON_MS = 3_600_000;

/** The `object_lock` check of every object of backup `m` (manifest and signature included), as of `now`. */
export async function checkLockState(
  store: Store,
  m: Manifest,
  opts: { concurrency?: number; signal?: AbortSignal; now?: Date } = {},
): Promise<Check> {
  const now = (opts.now ?? new Date()).getTime();
  // The manifest's objects, the manifest, and whatever else the backup stored (its signature).
  const keySet = new Set([...m.objects.map((o) => objectKey(m.id, o.key)), backupPrefix(m.id) + MANIFEST_KEY]);
  try {
    for await (const o of store.list(backupPrefix(m.id), { signal: opts.signal })) keySet.add(o.key);
  } catch {
    // Integrity reports a store that cannot be listed.
  }
  const keys = [...keySet];
  const states: ObjectLockState[] = [];
  await pool(keys, opts.concurrency ?? 4, async (key) => {
    let info;
    try {
      info = await store.head(key, { signal: opts.signal });
    } catch {
      // Integrity reports unreadable objects; here it only means the state is unknown.
      states.push({ key: key.slice(m.id.length + 1), mode: "unknown" });
      return;
    }
    const lock = info?.lock && info.lock.retainUntil.getTime() > now ? info.lock : undefined;
    states.push({
      key: key.slice(m.id.length + 1),
      mode: lock?.mode ?? "none",
      ...(lock ? { retainUntil: lock.retainUntil.toISOString() } : {}),
      ...(info?.storageClass ? { storageClass: info.storageClass } : {}),
    });
  });
  states.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const locked = states.filter((s) => s.mode === "compliance" || s.mode === "governance");
  const meta = { objects: states, locked: locked.length, total: states.length };
  if (locked.length === 0) {
    return check("object_lock", "ok", m.id, `no object of the backup is locked: anyone with write access to ${store.describe()} can delete it`,
      "For copies an attacker cannot erase, write to a bucket with S3 Object Lock (LIFEBOAT_S3_OBJECT_LOCK_MODE/_DAYS) or an Azure container with immutability policies.",
      meta);
  }
  const earliest = locked.map((s) => s.retainUntil!).sort()[0];
  const modes = [...new Set(locked.map((s) => s.mode))].join(" and ");
  if (locked.length < states.length) {
    const open = states.find((s) => s.retainUntil === undefined)!;
    return check("object_lock", "warn", m.id,
      `${locked.length} of ${states.length} objects are locked (${modes}); ${states.length - locked.length} are not, e.g. ${open.key}`,
      "An attacker can delete the unlocked objects and so the backup: take the next backups with the lock on the whole store.", meta);
  }
  if (Date.parse(earliest) - now < SOON_MS) {
    return check("object_lock", "warn", m.id, `all ${states.length} objects are locked (${modes}), but the first lock expires at ${earliest}`,
      "After that the backup can be deleted by anyone with write access; copy it to a location with a longer lock if it must outlive it.", meta);
  }
  return check("object_lock", "ok", m.id, `all ${states.length} objects are locked (${modes}) until at least ${earliest}`, "", meta);
}

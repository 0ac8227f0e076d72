/**
 * How a user names a backup: a store plus an id (`--store s3://bucket/prefix 20261122T…`), a
 * store plus `--latest`, or one location whose last segment is the id
 * (`/backups/20261122T…`, `s3://bucket/prefix/20261122T…`).
 * @module
 */
import { isBackupId } from "../../supabase/functions/_shared/format/mod.ts";

/** A resolved reference: the store spec and the id (null = the latest complete backup). */
export interface BackupRef {
  store: string;
  id: string | null;
}

/**
 * Resolves the CLI's backup arguments; throws an Error whose message says what to pass.
 * `storeFlag` falls back to `defaultStore` (e.g. $LIFEBOAT_STORE).
 */
export function resolveBackupRef(
  positional: string | undefined,
  storeFlag: string | undefined,
  latest: boolean,
  defaultStore?: string,
): BackupRef {
  const store = storeFlag ?? undefined;
  if (positional && latest) throw new Error("give a backup id or --latest, not both");
  if (positional && !store && !isBackupId(positional)) {
    const trimmed = positional.replace(/\/+$/, "");
    const slash = trimmed.lastIndexOf("/");
    const id = slash >= 0 ? trimmed.slice(slash + 1) : "";
    if (!isBackupId(id)) {
      throw new Error(
        `'${positional}' does not end with a backup id (e.g. 20261122T031100Z-a1b2c3d4): pass --store <location> <id>, or --store <location> --latest`,
      );
    }
    return { store: trimmed.slice(0, slash) || "/", id };
  }
  const s = store ?? defaultStore;
  if (!s) throw new Error("no store given: pass --store <dir, s3://bucket/prefix or az://account/container/prefix> (or set LIFEBOAT_STORE)");
  if (!positional && !latest) throw new Error("which backup? pass its id, or --latest");
  if (positional && !isBackupId(positional)) {
    throw new Error(`'${positional}' is not a backup id (expected e.g. 20261122T031100Z-a1b2c3d4)`);
  }
  return { store: s, id: positional ?? null };
}

/**
 * A check that a store can be used before anything is started on it: the bucket exists and
 * the credentials and network work (one listing request), and a local directory is one this
 * process may write to. A job accepted on a store it cannot write to would hold its target
 * and make no progress.
 * @module
 */
import { FsStore } from "./fs/mod.ts";
import { type Store, StoreError } from "./types.ts";

/** Throws {@link StoreError} when `store` cannot be used; `prefix` is listed (one request). */
export async function probeStore(store: Store, prefix: string): Promise<void> {
  if (store instanceof FsStore) {
    // Deno's permissions (an edge runtime grants no writes) before the file system's own.
    const state = Deno.permissions?.querySync?.({ name: "write", path: store.root }).state ?? "granted";
    if (state !== "granted") {
      throw new StoreError(
        "config",
        `this process may not write to the local directory ${store.root}: use s3://bucket/prefix (an edge function has no lasting file system) or a directory it may write to`,
      );
    }
  }
  for await (const _ of store.list(prefix)) break;
}

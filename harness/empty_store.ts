/**
 * Deletes everything under a store's prefix: how tests and benchmarks leave a dev stack's
 * RGW as they found it (its OSD is a 10 GiB file, and a full OSD stalls every PUT).
 * @module
 */
import type { Store } from "../supabase/functions/_shared/store/mod.ts";

/** Deletes every object under `store`'s prefix, `concurrency` at a time; returns how many. */
export async function emptyStore(store: Store, concurrency = 8): Promise<number> {
  const keys: string[] = [];
  for await (const o of store.list("")) keys.push(o.key);
  const queue = [...keys];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let k = queue.pop(); k !== undefined; k = queue.pop()) await store.delete(k);
  }));
  return keys.length;
}

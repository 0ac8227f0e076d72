/**
 * A copy inside any store: the driver's own server-side copy when it has one (S3 CopyObject),
 * else a streamed read and a put checked against the source's sha256.
 * @module
 */
import type { ReadOptions, Store, StoredObject } from "./types.ts";

/** Copies `from` to `to` in `store`, resolving once the copy is confirmed. */
export async function copyWithinStore(store: Store, from: string, to: string, opts: ReadOptions = {}): Promise<StoredObject> {
  if (store.copy) return await store.copy(from, to, opts);
  const src = await store.head(from, opts);
  return await store.put(to, await store.get(from, opts), { ...(src?.sha256 ? { sha256: src.sha256 } : {}), signal: opts.signal });
}

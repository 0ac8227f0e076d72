/**
 * Copying one object between stores: streamed (bounded memory, never decrypted), written with
 * the sha256 it must have so the destination store refuses other bytes (the fs store hashes
 * what it writes; the S3 store signs every part's sha256 and confirms size and sha256 with a
 * HEAD), and skipped when the destination already holds it with that sha256 (a resumed copy).
 * @module
 */
import type { Store } from "../store/mod.ts";
import { hashStream } from "../verify/mod.ts";
import type { CopyObject } from "./objects.ts";

/** What happened to one object. */
export type ObjectOutcome = "copied" | "present";

/** Copies `o` from `src` to `dst` unless `dst` already holds it with the same size and sha256. */
export async function copyObject(src: Store, dst: Store, o: CopyObject, signal?: AbortSignal): Promise<ObjectOutcome> {
  const there = await dst.head(o.key, { signal });
  if (there && there.size === o.size && there.sha256 === o.sha256) return "present";
  const body = o.bytes ?? await src.get(o.key, { signal });
  await dst.put(o.key, body, { sha256: o.sha256, signal });
  return "copied";
}

/** Hashes `o` where it is (the primary's own verification); true when size and sha256 match. */
export async function objectMatches(store: Store, o: CopyObject, signal?: AbortSignal): Promise<boolean> {
  if (o.bytes) return true; // the manifest: hashed when it was read
  const got = await hashStream(await store.get(o.key, { signal }));
  return got.size === o.size && got.sha256 === o.sha256;
}

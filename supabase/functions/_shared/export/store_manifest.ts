/**
 * Storing a finished backup's manifest: its signature first (when the writer has a signing
 * key), then the manifest itself, whose presence marks the backup complete.
 * @module
 */
import { type Manifest, MANIFEST_KEY } from "../format/mod.ts";
import { SIGNATURE_KEY, signManifest } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";

/** What {@link storeManifest} stored. */
export interface StoredManifest {
  key: string;
  sha256: string;
  signed: boolean;
}

/** Serializes, signs (with `signingKey`) and stores a manifest under `prefix`. */
export async function storeManifest(
  store: Store,
  prefix: string,
  manifest: Manifest,
  signingKey: CryptoKey | null,
  signal?: AbortSignal,
): Promise<StoredManifest> {
  const body = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n");
  if (signingKey) {
    const sig = await signManifest(signingKey, body);
    signal?.throwIfAborted();
    await store.put(prefix + SIGNATURE_KEY, sig, { contentType: "application/octet-stream", signal });
  }
  signal?.throwIfAborted();
  const stored = await store.put(prefix + MANIFEST_KEY, body, { contentType: "application/json", signal });
  return { key: prefix + MANIFEST_KEY, sha256: stored.sha256, signed: signingKey !== null };
}

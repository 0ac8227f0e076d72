/**
 * What a backup is made of, in the order a copy writes it: the parts the manifest lists (with
 * the manifest's sha256), the file blobs it names and the signature (with the sha256 the
 * primary recorded for them), and the manifest itself last, so that a copy is complete only
 * once everything it names is there.
 * @module
 */
import { MANIFEST_KEY, type Manifest, objectKey, parseManifest, SIGNATURE_KEY } from "../format/mod.ts";
import { type Store, StoreError } from "../store/mod.ts";
import { createHash } from "node:crypto";

/** One object to copy, from the store's root. */
export interface CopyObject {
  key: string;
  size: number;
  /** The sha256 the copy must have: from the manifest, or recorded by the primary. */
  sha256: string;
  /** The manifest's own bytes (small; read once, written last). */
  bytes?: Uint8Array;
}

/** A backup on the primary, ready to copy. */
export interface BackupToCopy {
  id: string;
  manifest: Manifest;
  finishedAt: Date;
  objects: CopyObject[];
  bytes: number;
}

/** Reads a backup's manifest from the primary and lists every object a copy holds. */
export async function backupObjects(src: Store, id: string): Promise<BackupToCopy> {
  const manifestKey = objectKey(id, MANIFEST_KEY);
  const bytes = await src.getBytes(manifestKey);
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(bytes)));
  if (manifest.id !== id) throw new StoreError("integrity", `backup ${id}: its manifest names backup ${manifest.id}; not copied`);
  const objects: CopyObject[] = manifest.objects.map((o) => ({ key: objectKey(id, o.key), size: o.size, sha256: o.sha256 }));
  const recorded = async (key: string, required: boolean): Promise<CopyObject | null> => {
    const info = await src.head(key);
    if (!info) {
      if (!required) return null;
      throw new StoreError("not_found", `backup ${id}: ${key} is named by the manifest but missing from the primary`);
    }
    if (!info.sha256) throw new StoreError("integrity", `backup ${id}: the primary recorded no sha256 for ${key}; it cannot be verified`);
    return { key, size: info.size, sha256: info.sha256 };
  };
  const blobs = [...new Set((manifest.files?.objects ?? []).map((f) => f.blob))];
  for (const blob of blobs) objects.push((await recorded(blob, true))!);
  const sig = await recorded(objectKey(id, SIGNATURE_KEY), false);
  if (sig) objects.push(sig);
  objects.push({ key: manifestKey, size: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex"), bytes });
  return {
    id,
    manifest,
    finishedAt: new Date(manifest.finishedAt),
    objects,
    bytes: objects.reduce((n, o) => n + o.size, 0),
  };
}

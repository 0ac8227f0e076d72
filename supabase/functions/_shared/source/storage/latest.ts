/**
 * The pointer to the last backup that wrote files into a blob namespace
 * (`files/<ns>/latest.json`), which the next backup reads to skip unchanged files. A missing or
 * dangling pointer only costs a full read, never correctness.
 * @module
 */
import { BLOBS_PREFIX, FilesSection, type Manifest, MANIFEST_KEY } from "../../format/mod.ts";
import type { Store } from "../../store/mod.ts";

const pointerKey = (ns: string) => `${BLOBS_PREFIX}${ns}/latest.json`;

/**
 * The files section of the last backup with files in namespace `ns`, or null. Only that
 * section is validated and kept: the rest of the manifest is not needed to reuse blobs, and a
 * second validated copy of a 10,000-file manifest was a peak of its own.
 */
export async function previousFilesManifest(store: Store, ns: string): Promise<{ files: FilesSection } | null> {
  try {
    const { id } = JSON.parse(new TextDecoder().decode(await store.getBytes(pointerKey(ns))));
    const files = JSON.parse(new TextDecoder().decode(await store.getBytes(`${id}/${MANIFEST_KEY}`)))?.files;
    return files ? { files: FilesSection.parse(files) } : null;
  } catch {
    return null;
  }
}

/** Records `m` (complete, its manifest stored) as the namespace's last backup with files. */
export async function recordFilesManifest(store: Store, m: Manifest): Promise<void> {
  if (!m.files) return;
  await store.put(pointerKey(m.files.blobNamespace), new TextEncoder().encode(JSON.stringify({ id: m.id }) + "\n"), {
    contentType: "application/json",
  });
}

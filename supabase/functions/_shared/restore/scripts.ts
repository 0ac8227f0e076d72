/**
 * Reading a backup's schema scripts (roles, pre-data, post-data, finalize) into memory: they
 * are small, and having them before anything is written lets pre-flight inspect them and
 * makes a wrong identity fail before the target is touched.
 * @module
 */
import { openStream } from "../crypto/mod.ts";
import type { Store } from "../store/mod.ts";
import { type Manifest, objectKey } from "../format/mod.ts";

/** The decrypted scripts. */
export interface BackupScripts {
  roles: string;
  preData: string;
  postData: string;
  finalize: string;
}

/** Decrypts and decompresses the four schema scripts. */
export async function readScripts(
  store: Store,
  m: Manifest,
  identities: string[] | null,
  signal?: AbortSignal,
): Promise<BackupScripts> {
  const read = async (kind: "roles" | "pre-data" | "post-data" | "finalize") => {
    const o = m.objects.find((x) => x.kind === kind);
    if (!o) return "";
    const plain = await openStream(await store.get(objectKey(m.id, o.key), { signal }),
      m.encryption.scheme === "none" ? null : identities, m.compression);
    return await new Response(plain).text();
  };
  const [roles, preData, postData, finalize] = await Promise.all([
    read("roles"), read("pre-data"), read("post-data"), read("finalize"),
  ]);
  return { roles, preData, postData, finalize };
}

/**
 * Full decryption check: every object of a backup decrypts and decompresses, and every data
 * part is its table's COPY (the header names the table the manifest files it under, the
 * rows number what the manifest says, the `\.` terminator is there), so a part that is
 * something else fails verification instead of failing a restore half-way.
 * @module
 */
import { AgeKeyError, openStream } from "../crypto/mod.ts";
import type { Store } from "../store/mod.ts";
import { type Check, check } from "../checks.ts";
import { type Manifest, objectKey, type StoredObjectEntry } from "../format/mod.ts";
import { splitPart } from "../restore/mod.ts";
import { pool } from "./integrity.ts";

/** What one object turned out to be, or null when it is what the manifest says. */
async function inspectObject(store: Store, m: Manifest, o: StoredObjectEntry, identities: string[] | null, signal?: AbortSignal) {
  const plain = await openStream(await store.get(objectKey(m.id, o.key), { signal }),
    m.encryption.scheme === "none" ? null : identities, m.compression);
  if (o.kind !== "data") {
    let bytes = 0;
    for await (const c of plain) bytes += c.byteLength;
    return { bytes, problem: null };
  }
  const part = await splitPart(plain, o.rows);
  if (!o.table || part.header.table.schema !== o.table.schema || part.header.table.name !== o.table.name) {
    await part.rows.cancel();
    return {
      bytes: 0,
      problem: `the part holds rows of ${part.header.table.schema}.${part.header.table.name}, not of ${o.table?.schema}.${o.table?.name}`,
    };
  }
  let bytes = 0;
  for await (const c of part.rows) bytes += c.byteLength; // errors on a wrong row count or a missing terminator
  return { bytes, problem: null };
}

/**
 * Decrypts and parses every object of the backup (or, with `keys`, only those), `concurrency`
 * at once. One `decrypt` check per bad object, one ok check when all are good.
 */
export async function checkAllObjectsDecrypt(
  store: Store,
  m: Manifest,
  identities: string[] | null,
  o: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<Check[]> {
  const out: Check[] = [];
  let bytes = 0;
  await pool(m.objects, o.concurrency ?? 4, async (obj) => {
    try {
      const r = await inspectObject(store, m, obj, identities, o.signal);
      bytes += r.bytes;
      if (r.problem) {
        out.push(check("decrypt", "error", obj.key, `decrypted, but ${r.problem}`, "The backup is inconsistent: do not restore it; take a new backup."));
      }
    } catch (err) {
      const keyProblem = err instanceof AgeKeyError;
      out.push(check("decrypt", "error", obj.key,
        keyProblem ? err.message : `the object does not decrypt to what the manifest says: ${err instanceof Error ? err.message : String(err)}`,
        keyProblem ? "Pass the identity file of one of the backup's recipients with --identity." : "The backup is damaged or altered: do not restore it; use another backup."));
    }
  });
  if (out.length === 0) {
    out.push(check("decrypt", "ok", m.id,
      `all ${m.objects.length} objects ${m.encryption.scheme === "none" ? "decompressed" : "decrypted and decompressed"} (${bytes} plain bytes); every data part is its table's COPY with the listed row count`,
      "", { bytes, objects: m.objects.length }));
  }
  return out;
}

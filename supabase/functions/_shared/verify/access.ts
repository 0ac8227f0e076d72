/**
 * Accessibility: the store answers with the configured credentials and, given an age
 * identity, a sample object decrypts, decompresses and has the shape the format promises.
 * @module
 */
import { AgeKeyError, openStream, recipientOf } from "../crypto/mod.ts";
import type { Store } from "../store/mod.ts";
import { type Check, check } from "../checks.ts";
import { type Manifest, objectKey, type StoredObjectEntry } from "../format/mod.ts";

/** Whether any identity's recipient is among the backup's recipients. */
export async function identityMatches(m: Manifest, identities: string[]): Promise<boolean> {
  const mine = await Promise.all(identities.map(recipientOf));
  return mine.some((r) => m.encryption.recipients.includes(r));
}

/** The object a sample decryption uses: the smallest data part, else the pre-data script. */
export function sampleObject(m: Manifest): StoredObjectEntry | undefined {
  const parts = m.objects.filter((o) => o.kind === "data").sort((a, b) => a.size - b.size);
  return parts[0] ?? m.objects.find((o) => o.kind === "pre-data");
}

/**
 * Decrypts and decompresses one sample object end to end (bounded memory) and checks that a
 * data part is `COPY … FROM stdin;`, rows, then `\.`.
 */
export async function checkSampleDecrypts(
  store: Store,
  m: Manifest,
  identities: string[] | null,
  signal?: AbortSignal,
): Promise<Check[]> {
  const sample = sampleObject(m);
  if (!sample) return [check("sample_decrypt", "error", m.id, "the manifest lists no object to sample", "Take a new backup.")];
  if (m.encryption.scheme !== "none" && identities) {
    if (!(await identityMatches(m, identities))) {
      return [check("identity", "error", m.id,
        `the given identity is not one of the backup's ${m.encryption.recipients.length} recipients`,
        "Use the age identity whose recipient (age1…) is listed in the manifest's encryption.recipients.")];
    }
  }
  try {
    const plain = await openStream(await store.get(objectKey(m.id, sample.key), { signal }),
      m.encryption.scheme === "none" ? null : identities, m.compression);
    const dec = new TextDecoder();
    let first = "";
    let tail = "";
    let bytes = 0;
    let gotFirstLine = false;
    for await (const chunk of plain) {
      bytes += chunk.byteLength;
      const s = dec.decode(chunk, { stream: true });
      if (!gotFirstLine) {
        first += s;
        const nl = first.indexOf("\n");
        if (nl >= 0) {
          gotFirstLine = true;
          first = first.slice(0, nl);
        } else if (first.length > 65536) {
          first = first.slice(0, 200);
          gotFirstLine = true;
        }
      }
      tail = (tail + s).slice(-8);
    }
    if (sample.kind === "data") {
      if (!/^COPY .+ FROM stdin;$/.test(first)) {
        return [check("sample_decrypt", "error", sample.key, "decrypted, but the part does not start with a COPY header",
          "The part is malformed: take a new backup.")];
      }
      if (!tail.endsWith("\\.\n")) {
        return [check("sample_decrypt", "error", sample.key, "decrypted, but the part does not end with the \\. terminator",
          "The part is truncated: take a new backup.")];
      }
    }
    return [check("sample_decrypt", "ok", sample.key,
      `${m.encryption.scheme === "none" ? "decompressed" : "decrypted and decompressed"} ${bytes} bytes; ${
        sample.kind === "data" ? "COPY header and terminator present" : "readable SQL"}`, "", { bytes })];
  } catch (err) {
    const msg = err instanceof AgeKeyError ? err.message : `could not read the sample (${err instanceof Error ? err.message : String(err)})`;
    return [check("sample_decrypt", "error", sample.key, msg,
      err instanceof AgeKeyError ? "Pass the identity file of one of the backup's recipients with --identity." :
        "The object is damaged: use another backup.")];
  }
}

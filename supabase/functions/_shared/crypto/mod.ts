/**
 * Compression and encryption of backup objects, shared by export and restore.
 * Stored object = age(gzip(plain)); unencrypted backups skip the age step.
 * @module
 */
import { decryptStream, encryptStream } from "./age.ts";
import { gunzipStream, gzipStream } from "./gzip.ts";

export * from "./age.ts";
export * from "./gzip.ts";

/** Options for {@link sealStream}. */
export interface SealOptions {
  /** age X25519 recipients; an empty list means unencrypted (only by explicit request). */
  recipients: string[];
  /** gzip level; defaults to the measured choice. */
  level?: number;
}

/** Turns plain bytes into stored bytes: gzip, then age unless `recipients` is empty. */
export async function sealStream(
  plain: ReadableStream<Uint8Array>,
  opts: SealOptions,
): Promise<ReadableStream<Uint8Array>> {
  const gz = plain.pipeThrough(gzipStream(opts.level));
  if (opts.recipients.length === 0) return gz;
  return gz.pipeThrough(await encryptStream(opts.recipients));
}

/**
 * Turns stored bytes back into plain bytes: age-decrypt with `identities` (skipped when the
 * backup is unencrypted, i.e. `identities` is null), then gunzip.
 */
export async function openStream(
  stored: ReadableStream<Uint8Array>,
  identities: string[] | null,
): Promise<ReadableStream<Uint8Array>> {
  const gz = identities === null ? stored : await decryptStream(stored, identities);
  return gz.pipeThrough(gunzipStream());
}

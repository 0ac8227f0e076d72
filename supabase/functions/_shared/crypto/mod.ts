/**
 * Compression and encryption of backup objects, shared by export and restore.
 * Stored object = age(compress(plain)), compress being the backup's codec (gzip or zstd,
 * the manifest's `compression`); unencrypted backups skip the age step.
 * @module
 */
import { type AgeHeader, decryptStream, encryptBytes, encryptStream } from "./age.ts";
import { type Compression, compressBytes, compressStream, decompressStream } from "./compression.ts";
import { releaseChunk } from "../release.ts";

export * from "./age.ts";
export * from "./compression.ts";

/** Options for {@link sealStream}. */
export interface SealOptions {
  /** age X25519 recipients; an empty list means unencrypted (only by explicit request). */
  recipients: string[];
  /** The backup's codec: one per backup, recorded in its manifest and its object keys. */
  compression: Compression;
  /** Compression level; defaults to the measured choice for the codec. */
  level?: number;
  /** An age header to share among the objects sealed with these options ({@link ageHeader}). */
  ageHeader?: AgeHeader;
}

/** Turns plain bytes into stored bytes: compress, then age unless `recipients` is empty. */
export async function sealStream(
  plain: ReadableStream<Uint8Array>,
  opts: SealOptions,
): Promise<ReadableStream<Uint8Array>> {
  const packed = plain.pipeThrough(compressStream(opts.compression, opts.level));
  if (opts.recipients.length === 0) return packed;
  return packed.pipeThrough(await encryptStream(opts.recipients, { header: opts.ageHeader }));
}

/**
 * {@link sealStream} for bytes already in memory, in one call: the same stored object, in one
 * buffer the caller owns (and may free, release.ts).
 */
export async function sealBytes(plain: Uint8Array, opts: SealOptions): Promise<Uint8Array> {
  const packed = compressBytes(opts.compression, plain, opts.level);
  if (opts.recipients.length === 0) return packed;
  try {
    return await encryptBytes(opts.recipients, packed, { header: opts.ageHeader });
  } finally {
    releaseChunk(packed); // encrypted into a buffer of its own
  }
}

/**
 * Turns stored bytes back into plain bytes: age-decrypt with `identities` (skipped when the
 * backup is unencrypted, i.e. `identities` is null), then decompress with the backup's codec.
 */
export async function openStream(
  stored: ReadableStream<Uint8Array>,
  identities: string[] | null,
  compression: Compression,
): Promise<ReadableStream<Uint8Array>> {
  const packed = identities === null ? stored : await decryptStream(stored, identities);
  return packed.pipeThrough(decompressStream(compression));
}
export { ageHeader, type AgeHeader, encryptBytes, encryptStream, generateIdentity, parseRecipient } from "./age.ts";
export { hasNativeChaCha } from "./age_stream.ts";
export { compressBytes, gunzipStream, gzipStream, hasZstd, sniffCompression, unzstdStream, zstdStream } from "./compression.ts";
export type { Compression } from "./compression.ts";

/**
 * The age payload (the STREAM construction of age-encryption.org/v1) with the platform's
 * native ChaCha20-Poly1305 from node:crypto. `age-encryption` still does everything that
 * involves keys (file key, X25519 stanzas, header MAC); only the bulk cipher runs natively,
 * because the pure-JS cipher measured ~60 MB/s here against ~500 MB/s native
 * (bench/export/RESULTS.md). When node:crypto lacks the cipher, callers fall back to
 * `age-encryption`'s own stream.
 * @module
 */
import { createCipheriv, createDecipheriv, getCiphers, hkdfSync } from "node:crypto";
import { assertLive, handOver, releaseChunk, releaseHandedOver, releaseOwned } from "../release.ts";

/** Plaintext bytes per STREAM chunk, fixed by the age format. */
export const AGE_CHUNK = 64 * 1024;
const TAG = 16;

let nativeOk: boolean | undefined;
/** Whether node:crypto provides ChaCha20-Poly1305 (Deno does; older runtimes may not). */
export function hasNativeChaCha(): boolean {
  if (nativeOk === undefined) {
    try {
      nativeOk = getCiphers().includes("chacha20-poly1305");
      if (nativeOk) sealChunk(new Uint8Array(32), new Uint8Array(12), new Uint8Array(1));
    } catch {
      nativeOk = false;
    }
  }
  return nativeOk;
}

/** The payload key: HKDF-SHA256(file key, salt = payload nonce, info = "payload"). */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

/** Seals one chunk into `out` from `at` (`plain.length` + 16 bytes: ciphertext, then tag). */
function sealChunkInto(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array, out: Uint8Array, at: number): void {
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
  const sealed = c.update(plain);
  out.set(sealed, at);
  releaseChunk(sealed); // copied into `out`
  c.final();
  out.set(c.getAuthTag(), at + plain.length);
}

function sealChunk(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Uint8Array {
  const out = new Uint8Array(plain.length + TAG);
  sealChunkInto(key, nonce, plain, out, 0);
  return handOver(out); // nothing else holds it: the stage after the encrypter may free it
}

function openChunk(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array {
  const d = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const plain = d.update(sealed.subarray(0, sealed.length - TAG));
  try {
    d.final(); // throws if the tag does not verify
  } catch {
    throw new Error("age payload failed authentication: the object is damaged, truncated or was tampered with");
  }
  return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
}

/** The 12-byte STREAM nonce: 11-byte big-endian chunk counter, then the last-chunk flag. */
function chunkNonce(counter: number, last: boolean): Uint8Array {
  const n = new Uint8Array(12);
  let c = counter;
  for (let i = 10; i >= 0 && c > 0; i--) {
    n[i] = c % 256;
    c = Math.floor(c / 256);
  }
  n[11] = last ? 1 : 0;
  return n;
}

/**
 * Buffers input into 64 KiB chunks and seals (or opens) each; the last chunk is only
 * known at flush, so one full chunk is always held back.
 */
function chunker(
  size: number,
  key: Uint8Array,
  fn: (key: Uint8Array, nonce: Uint8Array, chunk: Uint8Array) => Uint8Array,
  checkLast?: (chunk: Uint8Array, counter: number) => void,
): TransformStream<Uint8Array, Uint8Array> {
  const buf = new Uint8Array(size);
  let used = 0;
  let counter = 0;
  return new TransformStream({
    transform(chunk, controller) {
      assertLive(chunk);
      let off = 0;
      while (off < chunk.length) {
        if (used === size) {
          controller.enqueue(fn(key, chunkNonce(counter++, false), buf));
          used = 0;
        }
        // Whole chunks straight from the input, keeping one back in case it is the last.
        while (used === 0 && chunk.length - off > size) {
          controller.enqueue(fn(key, chunkNonce(counter++, false), chunk.subarray(off, off + size)));
          off += size;
        }
        const n = Math.min(size - used, chunk.length - off);
        buf.set(chunk.subarray(off, off + n), used);
        used += n;
        off += n;
      }
      releaseHandedOver(chunk); // sealed or copied into `buf`
    },
    flush(controller) {
      const last = buf.subarray(0, used);
      checkLast?.(last, counter);
      controller.enqueue(fn(key, chunkNonce(counter, true), last));
      releaseOwned(buf); // sealed or opened into a new buffer by `fn`
    },
  });
}

/** STREAM chunks of a payload of `plainBytes`: one per 64 KiB, and at least one (empty). */
function payloadChunks(plainBytes: number): number {
  return Math.max(1, Math.ceil(plainBytes / AGE_CHUNK));
}

/** Bytes of a sealed payload of `plainBytes`: the plain bytes and one tag per chunk. */
export function sealedPayloadBytes(plainBytes: number): number {
  return plainBytes + TAG * payloadChunks(plainBytes);
}

/**
 * Seals a whole payload in memory into `out` from `at` ({@link sealedPayloadBytes} bytes), the
 * same chunks {@link encryptPayload} writes: for objects already in memory, no stream.
 */
export function sealPayloadInto(key: Uint8Array, plain: Uint8Array, out: Uint8Array, at: number): void {
  const chunks = payloadChunks(plain.length);
  for (let i = 0; i < chunks; i++) {
    const part = plain.subarray(i * AGE_CHUNK, Math.min(plain.length, (i + 1) * AGE_CHUNK));
    sealChunkInto(key, chunkNonce(i, i === chunks - 1), part, out, at);
    at += part.length + TAG;
  }
}

/** Encrypts an age payload with the payload key (see {@link payloadKey}). */
export function encryptPayload(key: Uint8Array): TransformStream<Uint8Array, Uint8Array> {
  return chunker(AGE_CHUNK, key, sealChunk);
}

/** Decrypts an age payload; fails on any tampering, truncation or reordering. */
export function decryptPayload(key: Uint8Array): TransformStream<Uint8Array, Uint8Array> {
  return chunker(AGE_CHUNK + TAG, key, openChunk, (last, counter) => {
    if (last.length < TAG) throw new Error("age payload is truncated");
    if (last.length === TAG && counter > 0) throw new Error("age payload has an empty final chunk");
  });
}

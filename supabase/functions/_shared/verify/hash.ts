/**
 * sha256 and byte counting of stored objects with bounded memory. Objects are hashed as they
 * stream. Where whole-object hashing is turned on (setting verify.whole_object_max_bytes, e.g.
 * {@link WHOLE_OBJECT_MAX_BYTES}), an object up to that size is read whole into a reused buffer
 * and hashed by WebCrypto, which copies its input and hashes on another thread: the JavaScript
 * thread, whose CPU the platform limits, pays for the copy only. It is off by default: on a quiet
 * host it cost more CPU in total and verified more slowly (bench/verify/RESULTS.md, session 11).
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { releaseHandedOver } from "../release.ts";

/**
 * Bytes one BYOB read asks for: of 64 KiB to 4 MiB, 256 KiB to 1 MiB cost the least CPU per
 * byte hashed from S3 (bench/verify/RESULTS.md).
 */
export const READ_BUFFER_BYTES = 512 * 1024;

/**
 * Hands every byte of `stream` to `onChunk`, in order, and returns how many there were. A
 * chunk is valid only during the call: a byte stream (`Store.get` with `byteStream`) is read
 * into one buffer, reused for every read; any other stream is read chunk by chunk.
 */
export async function readEach(
  stream: ReadableStream<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void,
  bufferBytes = READ_BUFFER_BYTES,
): Promise<number> {
  let size = 0;
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    // not a byte stream: read its chunks below
  }
  if (!byob) {
    for await (const chunk of stream) {
      size += chunk.byteLength; // before onChunk, which may free the chunk (release.ts)
      onChunk(chunk);
    }
    return size;
  }
  try {
    let buf = new Uint8Array(bufferBytes);
    for (;;) {
      const r = await byob.read(buf);
      if (r.done) break;
      size += r.value.byteLength;
      buf = new Uint8Array(r.value.buffer); // the read transferred buffer: the same memory, whole again
      onChunk(r.value);
    }
  } catch (err) {
    await byob.cancel(err).catch(() => {});
    throw err;
  } finally {
    byob.releaseLock();
  }
  return size;
}

/** The sha256 (lowercase hex) and length of everything a stream yields. */
export async function hashStream(
  stream: ReadableStream<Uint8Array>,
): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  const size = await readEach(stream, (chunk) => {
    h.update(chunk);
    releaseHandedOver(chunk); // hashed: a chunk its reader handed over is dead (release.ts)
  });
  return { sha256: h.digest("hex"), size };
}

/** Reads at most `max` bytes from the start of a stream, then cancels the rest. */
export async function readHead(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < max) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(Math.min(n, max));
  let off = 0;
  for (const c of chunks) {
    const take = Math.min(c.byteLength, out.byteLength - off);
    out.set(c.subarray(0, take), off);
    off += take;
    if (off >= out.byteLength) break;
  }
  return out;
}

/**
 * The whole-object size to use when whole-object hashing is turned on (setting
 * verify.whole_object_max_bytes, default 0): it holds a default export part (8 MiB of COPY
 * text) even when the data does not compress.
 */
export const WHOLE_OBJECT_MAX_BYTES = 16 * 1024 * 1024;

/** A buffer WebCrypto accepts (not a view of a SharedArrayBuffer). */
type Bytes = Uint8Array<ArrayBuffer>;

/** Whole objects one check reads at once (its other lanes stream): the default concurrency. */
export const WHOLE_OBJECT_BUFFERS = 4;

/**
 * The buffers whole objects are read into, shared by the lanes of one check. Each buffer is
 * held from the object's first read until its digest is done (WebCrypto holds a copy until
 * then), so their number bounds the memory: at most 2 × `count` × `maxBytes`. A lane that
 * finds none free hashes its object as it streams.
 */
export class WholeObjectBuffers {
  /** The largest object read whole; larger ones stream. */
  readonly maxBytes: number;
  #free: Bytes[] = [];
  #unmade: number;

  constructor(count = WHOLE_OBJECT_BUFFERS, maxBytes = WHOLE_OBJECT_MAX_BYTES) {
    this.#unmade = count;
    this.maxBytes = maxBytes;
  }

  /** A free buffer, or null when all are in use. Pages are touched only as far as objects fill them. */
  take(): Bytes | null {
    const buf = this.#free.pop();
    if (buf) return buf;
    if (this.#unmade === 0) return null;
    this.#unmade--;
    return new Uint8Array(this.maxBytes);
  }

  /** Gives a buffer back; a buffer a cancelled read took away (null) is made again when needed. */
  give(buf: Bytes | null): void {
    if (buf && buf.byteLength === this.maxBytes) this.#free.push(buf);
    else this.#unmade++;
  }
}

/** What hashing an object found: its sha256 (lowercase hex), its length and its first bytes. */
export interface HashedObject {
  sha256: string;
  size: number;
  head: Uint8Array;
}

const toHex = (digest: ArrayBuffer) => Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Hashes every byte of an object's stream and keeps its first `probe` bytes. With `buffers`,
 * a byte stream whose `expectedSize` fits one (`maxBytes`, not 0) is read whole and
 * hashed off the JavaScript thread (a stream longer than expected is still hashed whole:
 * the rest streams through node:crypto); anything else streams through node:crypto.
 */
export async function hashObject(
  stream: ReadableStream<Uint8Array>,
  opts: { expectedSize: number; probe: number; buffers?: WholeObjectBuffers },
): Promise<HashedObject> {
  const buf = opts.buffers && opts.buffers.maxBytes > 0 && opts.expectedSize <= opts.buffers.maxBytes ? opts.buffers.take() : null;
  let byob: ReadableStreamBYOBReader | null = null;
  if (buf) {
    try {
      byob = stream.getReader({ mode: "byob" });
    } catch {
      opts.buffers!.give(buf); // not a byte stream
    }
  }
  if (!byob) return await hashStreaming(stream, opts.probe);
  let held: Bytes | null = buf!;
  try {
    const r = await hashWhole(byob, held, opts.probe);
    held = r.buffer;
    return await r.hashed;
  } finally {
    opts.buffers!.give(held);
  }
}

/**
 * Reads a byte stream into `buf`, then starts its digest. Returns the buffer (the reads
 * transfer it; null if a cancelled read kept it) and the hash, settled when the digest is.
 */
async function hashWhole(
  byob: ReadableStreamBYOBReader,
  buf: Bytes,
  probe: number,
): Promise<{ buffer: Bytes | null; hashed: Promise<HashedObject> }> {
  let filled = 0, size = 0;
  let head: Uint8Array | null = null;
  let rest: Hash | null = null; // the object outgrew the buffer: the rest is hashed as it streams
  let buffer: Bytes | null = buf;
  try {
    for (;;) {
      if (filled === buffer.byteLength) {
        head ??= buffer.slice(0, probe);
        (rest ??= createHash("sha256")).update(buffer);
        filled = 0;
      }
      const room = Math.min(READ_BUFFER_BYTES, buffer.byteLength - filled);
      const r: ReadableStreamReadResult<Uint8Array> = await byob.read(new Uint8Array(buffer.buffer, filled, room));
      buffer = r.value ? new Uint8Array(r.value.buffer as ArrayBuffer) : null; // the read transferred it
      if (r.done || !buffer) break;
      filled += r.value!.byteLength;
      size += r.value!.byteLength;
    }
  } catch (err) {
    await byob.cancel(err).catch(() => {});
    throw err;
  } finally {
    byob.releaseLock();
  }
  if (!buffer) throw new Error("the object's read was cancelled");
  head ??= buffer.slice(0, Math.min(probe, filled));
  const body = buffer.subarray(0, filled);
  if (rest) return { buffer, hashed: Promise.resolve({ sha256: rest.update(body).digest("hex"), size, head }) };
  // digest copies its input at the call and hashes the copy on another thread; the caller
  // still holds the buffer until the digest settles, so the buffers bound the copies too.
  const digest = crypto.subtle.digest("SHA-256", body);
  return { buffer, hashed: digest.then((d) => ({ sha256: toHex(d), size, head: head! })) };
}

/** Hashes a stream through node:crypto as it is read, keeping its first `probe` bytes. */
async function hashStreaming(stream: ReadableStream<Uint8Array>, probe: number): Promise<HashedObject> {
  const h = createHash("sha256");
  const head = new Uint8Array(probe);
  let headLen = 0;
  const size = await readEach(stream, (chunk) => {
    h.update(chunk);
    if (headLen < probe) {
      const take = Math.min(probe - headLen, chunk.byteLength);
      head.set(chunk.subarray(0, take), headLen);
      headLen += take;
    }
  });
  return { sha256: h.digest("hex"), size, head: head.subarray(0, headLen) };
}

/**
 * sha256 and size of a byte stream as it passes through, without holding it.
 * @module
 */
import { createHash } from "node:crypto";
import { handOver, handOverChunk, releaseChunk, releaseOwned } from "../../release.ts";

/** What {@link hashingStream} gives: the stream, then (after it ended) sha256, MD5 and size. */
export interface HashingStream {
  stream: TransformStream<Uint8Array, Uint8Array>;
  digest: () => string;
  /** MD5 (hex) of the bytes, only when asked for with `{ md5: true }` (else null). */
  md5: () => string | null;
  size: () => number;
}

/**
 * A pass-through stream that counts and hashes; read `digest()` after the stream ended. With
 * `md5`, it also computes the MD5 that Storage reports as a file's ETag (restore.ts). Chunks
 * pass as they are, so a chunk handed over before it (release.ts) stays handed over.
 */
export function hashingStream(opts: { md5?: boolean } = {}): HashingStream {
  const h = createHash("sha256");
  const m = opts.md5 ? createHash("md5") : null;
  let n = 0;
  let hex: string | null = null;
  let md5hex: string | null = null;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      h.update(chunk);
      m?.update(chunk);
      n += chunk.byteLength;
      ctl.enqueue(chunk);
    },
  });
  return {
    stream,
    digest: () => (hex ??= h.digest("hex")),
    md5: () => m === null ? null : (md5hex ??= m.digest("hex")),
    size: () => n,
  };
}

/** sha256 of bytes in memory. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Reads a stream to its end, returning only its sha256 and size (verify's streaming hash). */
export { hashStream as hashOnly } from "../../verify/mod.ts";

/**
 * Reads a download body into memory, refusing more than `limit` bytes (returns null then, the
 * stream cancelled). Its chunks are freed once copied, so pass only a runtime's download body.
 */
export async function readAtMost(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
    releaseChunk(c); // copied; a download body's chunks are held by nothing else
  }
  return out;
}

/**
 * Reads a download body that should hold `size` bytes into one buffer of its own (the caller
 * owns it and may free it, release.ts). Returns the bytes (fewer when the body ended early),
 * or null when it holds more (the stream is then cancelled).
 *
 * Why not {@link readAtMost}: a runtime's byte stream read without a buffer of the reader's
 * own allocates a fresh 64 KiB buffer for every read, the last (empty) one included, and hands
 * back a view of part of it, which only V8's collector frees; for thousands of small files that
 * is ~128 KiB of dead buffers per file, tens of MB between collections (bench/storage/RESULTS.md,
 * session 11). A reader in "byob" mode reads straight into this one buffer instead. A stream
 * that is not a byte stream is read with {@link readAtMost}.
 */
export async function readExactly(body: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array | null> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    return await readAtMost(body, size);
  }
  // One byte more than expected, so that a longer body shows.
  let buf = new Uint8Array(size + 1);
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read(buf.subarray(n));
    // The read took the buffer over and hands it back (a view at `n`); undefined once cancelled.
    if (value) buf = new Uint8Array(value.buffer, 0, size + 1);
    if (done) break;
    n += value.byteLength;
    if (n > size) {
      await reader.cancel();
      return null;
    }
  }
  reader.releaseLock();
  return buf.subarray(0, n);
}

/**
 * A download body re-cut into buffers of its own of `chunkBytes` (the last one shorter), each
 * filled by reads in "byob" mode and handed over (release.ts), so the stage that consumes one
 * frees it at once. Read without a buffer of the reader's own, a runtime's byte stream gives
 * views of part of a fresh 64 KiB buffer per read (see {@link readExactly}), which no stage can
 * free. A stream that is not a byte stream passes through, its chunks handed over where they
 * own their buffer.
 */
export function ownedChunks(body: ReadableStream<Uint8Array>, chunkBytes = 256 * 1024): ReadableStream<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    return body.pipeThrough(new TransformStream({ transform: (c, ctl) => ctl.enqueue(handOverChunk(c)) }));
  }
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      let buf = new Uint8Array(chunkBytes);
      let n = 0;
      let done = false;
      while (n < chunkBytes && !done) {
        const r = await reader.read(buf.subarray(n));
        if (r.value) buf = new Uint8Array(r.value.buffer);
        done = r.done;
        if (!r.done) n += r.value.byteLength;
      }
      // The last chunk gets a buffer of its own length, so that it too can be freed whole.
      if (n > 0) ctl.enqueue(handOver(n === chunkBytes ? buf : new Uint8Array(buf.buffer.transfer(n))));
      else releaseOwned(buf);
      if (done) {
        reader.releaseLock();
        ctl.close();
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

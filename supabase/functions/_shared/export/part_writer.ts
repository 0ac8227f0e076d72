/**
 * Writes one stored object from plain bytes handed to it in batches: compress (the backup's
 * codec), age (unless the backup is unencrypted), then `store.put` as a stream. Memory is bounded by a couple of
 * batches here plus what the store buffers for its upload.
 * @module
 */
import { createHash } from "node:crypto";
import { type Compression, sealStream } from "../crypto/mod.ts";
import type { PutOptions, Store, StoredObject } from "../store/mod.ts";
import { handOver, releaseHandedOver, releaseOwned } from "../release.ts";

/**
 * Stored bytes a part may buffer before it is streamed instead. A buffered object goes to the
 * store with its sha256 known up front: on S3 one PUT (or a multipart upload with the
 * checksum set at creation) instead of a streamed multipart upload followed by a CopyObject
 * that rewrites the whole object just to attach its sha256. Measured: that copy doubled the
 * gateway's work per byte (bench/export/RESULTS.md).
 */
export const DEFAULT_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * Puts `sealed` into the store: buffered with a known sha256 when it stays under
 * `limit` bytes, streamed otherwise.
 */
async function putSealed(
  store: Store,
  key: string,
  sealed: ReadableStream<Uint8Array>,
  limit: number,
  opts: PutOptions,
): Promise<StoredObject> {
  const reader = sealed.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    if (size > limit) {
      // Too big to hold: stream what is buffered, then the rest.
      const rest = new ReadableStream<Uint8Array>({
        start(c) {
          for (const b of chunks.splice(0)) c.enqueue(b);
        },
        async pull(c) {
          const r = await reader.read();
          if (r.done) c.close();
          else c.enqueue(r.value);
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      }, new CountQueuingStrategy({ highWaterMark: 0 }));
      return await store.put(key, rest, opts);
    }
  }
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
    releaseHandedOver(c); // copied (age chunks and zstd frames are handed over)
  }
  chunks.length = 0;
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  try {
    return await store.put(key, bytes, { ...opts, sha256 });
  } finally {
    releaseOwned(bytes); // the store has sent (or given up on) the part
  }
}

/** How stored objects are sealed. */
export interface SealConfig {
  /** age recipients; empty = unencrypted (only by explicit request). */
  recipients: string[];
  /** The backup's codec; every object of a backup uses the same one. */
  compression: Compression;
  /** Compression level (default: the measured choice for the codec). */
  level?: number;
}

/** A stored object with the plain (uncompressed) byte count that went into it. */
export interface WrittenObject extends StoredObject {
  plainBytes: number;
}

/** Streams plain bytes into one sealed object in a store. */
export class PartWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #put: Promise<StoredObject>;
  #failed: Promise<never>;
  #plain = 0;
  #abort = new AbortController();

  private constructor(writer: WritableStreamDefaultWriter<Uint8Array>, put: Promise<StoredObject>) {
    this.#writer = writer;
    this.#put = put;
    // If the upload fails, writers waiting on backpressure must hear about it, not hang.
    this.#failed = put.then(() => new Promise<never>(() => {}));
    this.#failed.catch(() => {});
  }

  /** Starts the upload of `key`; bytes are sent as they are written. */
  static async open(
    store: Store,
    key: string,
    seal: SealConfig,
    signal?: AbortSignal,
    bufferBytes = DEFAULT_BUFFER_BYTES,
  ): Promise<PartWriter> {
    const pass = new TransformStream<Uint8Array, Uint8Array>(
      undefined,
      new CountQueuingStrategy({ highWaterMark: 2 }),
      new CountQueuingStrategy({ highWaterMark: 0 }),
    );
    const sealed = await sealStream(pass.readable, { recipients: seal.recipients, compression: seal.compression, level: seal.level });
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const put = putSealed(store, key, sealed, bufferBytes, { signal: ac.signal, contentType: "application/octet-stream" });
    put.finally(() => signal?.removeEventListener("abort", onAbort)).catch(() => {});
    const w = new PartWriter(pass.writable.getWriter(), put);
    w.#abort = ac;
    return w;
  }

  /** Plain bytes written so far. */
  get plainBytes(): number {
    return this.#plain;
  }

  /**
   * Writes plain bytes, waiting only when the pipeline is full. With `release`, the caller
   * hands over the whole buffer under `bytes`: the compressor frees it once it has taken the
   * bytes in (see release.ts).
   */
  async write(bytes: Uint8Array, release = false): Promise<void> {
    this.#plain += bytes.length;
    await Promise.race([this.#writer.ready, this.#failed]);
    // errors surface through ready/close/put
    this.#writer.write(release ? handOver(bytes) : bytes).catch(() => {});
  }

  /** Ends the object and resolves once the store has confirmed it. */
  async close(): Promise<WrittenObject> {
    await Promise.race([this.#writer.close(), this.#failed]);
    const stored = await this.#put;
    return { ...stored, plainBytes: this.#plain };
  }

  /** Abandons the object: the store leaves nothing under its key. */
  async abort(reason?: unknown): Promise<void> {
    this.#abort.abort(reason);
    await this.#writer.abort(reason).catch(() => {});
    await this.#put.catch(() => {});
  }
}

/** Stores a small, fully built object (schema scripts) sealed like the data parts. */
export async function writeWholeObject(
  store: Store,
  key: string,
  text: string,
  seal: SealConfig,
  signal?: AbortSignal,
): Promise<WrittenObject> {
  const w = await PartWriter.open(store, key, seal, signal);
  try {
    const bytes = new TextEncoder().encode(text);
    // In 1 MiB slices so a huge schema does not become one huge compression call.
    for (let off = 0; off < bytes.length; off += 1 << 20) await w.write(bytes.subarray(off, off + (1 << 20)));
    return await w.close();
  } catch (err) {
    await w.abort(err);
    throw err;
  }
}

/**
 * Chunked uploads (S3 multipart parts, Azure blocks): cutting an object's body into fixed-size
 * chunks, holding at most one chunk plus one source chunk of a stream in memory, and sending
 * them with bounded concurrency while hashing the whole body.
 * @module
 */
import { createHash } from "node:crypto";
import { releaseHandedOver, releaseOwned } from "../release.ts";

/** One part of an upload. */
export interface Part {
  bytes: Uint8Array;
  /** No more data follows this part. */
  last: boolean;
  /**
   * The part's buffer was allocated by {@link streamParts} and nothing else holds it: the
   * upload frees it once sent (release.ts). Parts of a caller's buffer are never freed.
   */
  owned?: boolean;
}

/** Cut a buffer into parts of `partSize` bytes (an empty body is one empty, last part). */
export async function* sliceParts(
  body: Uint8Array,
  partSize: number,
): AsyncGenerator<Part> {
  if (body.byteLength === 0) {
    yield { bytes: body, last: true };
    return;
  }
  for (let off = 0; off < body.byteLength; off += partSize) {
    const end = Math.min(off + partSize, body.byteLength);
    yield { bytes: body.subarray(off, end), last: end === body.byteLength };
  }
}

/** Cut a stream into parts of exactly `partSize` bytes (the last may be
 * shorter), holding at most one part plus one source chunk in memory. When
 * `signal` aborts, the source is cancelled and the generator throws (a
 * cancelled source must never look like a short, complete one). */
export async function* streamParts(
  stream: ReadableStream<Uint8Array>,
  partSize: number,
  signal?: AbortSignal,
): AsyncGenerator<Part> {
  const reader = stream.getReader();
  let done = false;
  let carry: Uint8Array | undefined;
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const nextChunk = async (): Promise<Uint8Array | undefined> => {
      if (carry) {
        const c = carry;
        carry = undefined;
        return c;
      }
      for (;;) {
        signal?.throwIfAborted();
        const r = await reader.read();
        signal?.throwIfAborted();
        if (r.done) return undefined;
        if (r.value.byteLength > 0) return r.value;
      }
    };
    for (;;) {
      const buf = new Uint8Array(partSize);
      let filled = 0;
      while (filled < partSize) {
        const chunk = await nextChunk();
        if (!chunk) break;
        const take = Math.min(chunk.byteLength, partSize - filled);
        buf.set(chunk.subarray(0, take), filled);
        filled += take;
        if (take < chunk.byteLength) carry = chunk.subarray(take);
        else releaseHandedOver(chunk); // copied whole into the part (a carried rest is a new view, never marked)
      }
      // Peek so the consumer knows whether this part is the last one.
      if (filled === partSize && !carry) carry = await nextChunk();
      const last = !carry;
      if (last) done = true; // the source is drained: nothing to cancel
      if (filled > 0 || last) yield { bytes: buf.subarray(0, filled), last, owned: true };
      if (last) return;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!done) await reader.cancel(new Error("upload stopped")).catch(() => {});
    reader.releaseLock();
  }
}

/** What {@link uploadChunks} sent. */
export interface UploadedChunks {
  /** Lowercase hex sha256 of all the bytes, in order. */
  sha256: string;
  size: number;
  count: number;
}

/**
 * Sends `first` and then every chunk of `rest` with `upload(bytes, index, signal)` (index from
 * 0), at most `concurrency` at once, reading the next chunk only when a slot is free (memory ≈
 * (concurrency + 1) × chunk size). The first failure cancels the uploads in flight (their
 * signal aborts) and is thrown once all have settled. `tooMany(count)` is thrown before the
 * chunk past `maxChunks` is sent.
 */
export async function uploadChunks(
  first: Part,
  rest: AsyncGenerator<Part>,
  o: {
    concurrency: number;
    maxChunks: number;
    tooMany: () => Error;
    upload: (bytes: Uint8Array, index: number, signal: AbortSignal) => Promise<void>;
    signal?: AbortSignal;
  },
): Promise<UploadedChunks> {
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const inflight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  const hash = createHash("sha256");
  let size = 0;
  let count = 0;
  const launch = ({ bytes, owned }: Part) => {
    if (count >= o.maxChunks) throw o.tooMany();
    hash.update(bytes);
    size += bytes.byteLength;
    const p = o.upload(bytes, count++, signal).catch((err) => {
      failure ??= { err };
      stop.abort(err);
    }).finally(() => {
      // Sent (with its retries) or given up on: a part streamParts allocated is dead now.
      if (owned) releaseOwned(bytes);
    });
    const tracked = p.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };
  try {
    launch(first);
    for (;;) {
      while (inflight.size >= o.concurrency) await Promise.race(inflight);
      if (failure) break;
      const next = await rest.next();
      if (next.done) break;
      launch(next.value);
    }
    await Promise.all(inflight);
    if (failure) throw failure.err;
    o.signal?.throwIfAborted();
    return { sha256: hash.digest("hex"), size, count };
  } catch (err) {
    stop.abort(err);
    await Promise.allSettled(inflight);
    throw err;
  }
}

/**
 * Cutting an object's body into fixed-size chunks for chunked uploads (S3 multipart parts,
 * Azure blocks), holding at most one chunk plus one source chunk of a stream in memory.
 * @module
 */

/** One part of an upload. */
export interface Part {
  bytes: Uint8Array;
  /** No more data follows this part. */
  last: boolean;
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
      }
      // Peek so the consumer knows whether this part is the last one.
      if (filled === partSize && !carry) carry = await nextChunk();
      const last = !carry;
      if (last) done = true; // the source is drained: nothing to cancel
      if (filled > 0 || last) yield { bytes: buf.subarray(0, filled), last };
      if (last) return;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!done) await reader.cancel(new Error("upload stopped")).catch(() => {});
    reader.releaseLock();
  }
}

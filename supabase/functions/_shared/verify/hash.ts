/**
 * Streaming sha256 and byte counting, so an object of any size is checked with bounded memory.
 * @module
 */
import { createHash } from "node:crypto";
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

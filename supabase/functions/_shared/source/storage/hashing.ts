/**
 * sha256 and size of a byte stream as it passes through, without holding it.
 * @module
 */
import { createHash } from "node:crypto";

/** A pass-through stream that counts and hashes; read `digest()` after the stream ended. */
export function hashingStream(): { stream: TransformStream<Uint8Array, Uint8Array>; digest: () => string; size: () => number } {
  const h = createHash("sha256");
  let n = 0;
  let hex: string | null = null;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      h.update(chunk);
      n += chunk.byteLength;
      ctl.enqueue(chunk);
    },
  });
  return { stream, digest: () => (hex ??= h.digest("hex")), size: () => n };
}

/** sha256 of bytes in memory. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Reads a stream to its end, returning only its sha256 and size (verify's streaming hash). */
export { hashStream as hashOnly } from "../../verify/mod.ts";

/** Reads a stream into memory, refusing more than `limit` bytes (returns null then, the stream cancelled). */
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
  }
  return out;
}

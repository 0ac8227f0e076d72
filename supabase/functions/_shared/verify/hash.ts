/**
 * Streaming sha256 and byte counting, so an object of any size is checked with bounded memory.
 * @module
 */
import { createHash } from "node:crypto";

/** The sha256 (lowercase hex) and length of everything a stream yields. */
export async function hashStream(
  stream: ReadableStream<Uint8Array>,
): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    size += chunk.byteLength;
  }
  return { sha256: h.digest("hex"), size };
}

/**
 * Objects up to this size are hashed in one piece with WebCrypto, whose digest runs on a worker
 * thread of the runtime: the JavaScript thread goes on reading the other objects in flight
 * meanwhile, so hashing overlaps the network instead of adding to it. Larger objects stream
 * through node:crypto on the JavaScript thread with bounded memory.
 */
export const BUFFERED_HASH_MAX = 16 * 1024 * 1024;
/** Bytes buffered for hashing at once in this process, over all objects in flight. */
export const BUFFERED_HASH_TOTAL = 48 * 1024 * 1024;
let buffered = 0;

/**
 * The sha256, length and first `probe` bytes of a stream expected to hold `expected` bytes.
 * Up to {@link BUFFERED_HASH_MAX}, the bytes are collected into one buffer and hashed off the
 * JavaScript thread; a longer stream (or an unknown size) is hashed as it flows.
 */
export async function hashWithHead(
  stream: ReadableStream<Uint8Array>,
  expected: number,
  probe: number,
): Promise<{ sha256: string; size: number; head: Uint8Array }> {
  if (!(expected >= 0 && expected <= BUFFERED_HASH_MAX) || buffered + expected > BUFFERED_HASH_TOTAL) {
    return await hashStreaming(stream, [], probe);
  }
  buffered += expected;
  try {
    const buf = new Uint8Array(expected);
    let n = 0;
    const reader = stream.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (n + value.byteLength > expected) {
        // Longer than the manifest says: hash everything as it flows (the size check fails).
        reader.releaseLock();
        return await hashStreaming(stream, [buf.subarray(0, n), value], probe);
      }
      buf.set(value, n);
      n += value.byteLength;
    }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buf.subarray(0, n)));
    return { sha256: toHex(digest), size: n, head: buf.slice(0, Math.min(probe, n)) };
  } finally {
    buffered -= expected;
  }
}

async function hashStreaming(stream: ReadableStream<Uint8Array>, first: Uint8Array[], probe: number) {
  const h = createHash("sha256");
  let size = 0;
  const head = new Uint8Array(probe);
  let headLen = 0;
  const take = (chunk: Uint8Array) => {
    h.update(chunk);
    if (headLen < probe) {
      const k = Math.min(probe - headLen, chunk.byteLength);
      head.set(chunk.subarray(0, k), headLen);
      headLen += k;
    }
    size += chunk.byteLength;
  };
  for (const c of first) take(c);
  for await (const chunk of stream) take(chunk);
  return { sha256: h.digest("hex"), size, head: head.subarray(0, headLen) };
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
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

/**
 * Measures the compression and encryption choices on real COPY text, 1 MiB at a time as the
 * exporter feeds them: CompressionStream("gzip"), node:zlib gzip at levels 1/3/6, zstd (the
 * exporter's framed stream) at levels 1/3, decompression of both codecs' level-1 output (what
 * a restore pays), and age (X25519) on the gzip level-1 output.
 * Usage: deno run -A bench/export/codecs.ts <sample.copy>
 * @module
 */
import * as zlib from "node:zlib";
import { createHash } from "node:crypto";
import process from "node:process";
import { encryptStream, generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";
import {
  gunzipStream,
  gzipStream,
  hasZstd,
  unzstdStream,
  zstdStream,
} from "../../supabase/functions/_shared/crypto/mod.ts";

const path = Deno.args[0];
if (!path) throw new Error("usage: codecs.ts <sample file of COPY text>");
const data = await Deno.readFile(path);
const BATCH = 1 << 20;

function source(buf: Uint8Array): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= buf.length) return c.close();
      c.enqueue(buf.subarray(off, off + BATCH));
      off += BATCH;
    },
  });
}

async function drain(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of s) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** CPU seconds of this process (user + system); everything measured runs on one thread. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Runs `run` and prints a row: throughput by wall clock and by CPU time (the second is what
 * matters on a shared machine, where the wall clock also counts other processes' turns).
 */
async function measure(name: string, run: () => Promise<Uint8Array>, inBytes: number) {
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const out = await run();
  const s = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - c0;
  console.log(`| ${name} | ${(inBytes / 1e6 / s).toFixed(0)} MB/s | ${(inBytes / 1e6 / cpu).toFixed(0)} MB/s | ${
    (inBytes / out.length).toFixed(2)}x | ${(out.length / 1e6).toFixed(1)} MB |`);
  return out;
}

/** Decompression: throughput in plain (output) bytes, the unit a restore thinks in. */
async function measureDecompress(name: string, packed: Uint8Array, ts: () => TransformStream<Uint8Array, Uint8Array>) {
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const out = await drain(source(packed).pipeThrough(ts()));
  const s = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - c0;
  if (out.length !== data.length) throw new Error(`${name}: decompressed ${out.length} bytes, expected ${data.length}`);
  console.log(`| ${name} | ${(out.length / 1e6 / s).toFixed(0)} MB/s (plain) | ${(out.length / 1e6 / cpu).toFixed(0)} MB/s (plain) | ${
    (out.length / packed.length).toFixed(2)}x | ${(out.length / 1e6).toFixed(1)} MB |`);
}

console.log(`sample: ${(data.length / 1e6).toFixed(1)} MB of COPY text\n`);
console.log("| codec | input throughput (wall) | per CPU second | ratio | output |\n|---|---|---|---|---|");
await measure("CompressionStream gzip", () => drain(source(data).pipeThrough(new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>)), data.length);
for (const level of [1, 3, 6]) {
  await measure(`node:zlib gzip level ${level}`, () => drain(source(data).pipeThrough(gzipStream(level))), data.length);
}
await measure("node:zlib gzipSync level 1 (one call per 1 MiB, reference)", async () => {
  const parts: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += BATCH) parts.push(zlib.gzipSync(data.subarray(o, o + BATCH), { level: 1 }));
  return await drain(new ReadableStream({ start(c) { parts.forEach((p) => c.enqueue(p)); c.close(); } }));
}, data.length);
if (hasZstd()) {
  for (const level of [1, 3]) {
    await measure(`node:zlib zstd level ${level} (2 MiB frames, as exported)`, () => drain(source(data).pipeThrough(zstdStream(level))), data.length);
  }
  await measure("node:zlib zstdCompressSync level 1 (one call for the whole sample, reference)", () => {
    const out = zlib.zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } });
    return Promise.resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  }, data.length);
} else {
  console.log("| zstd | not available in this runtime's node:zlib | | | |");
}
const gz1 = await drain(source(data).pipeThrough(gzipStream(1)));
await measureDecompress("gunzip (node:zlib) of gzip level 1", gz1, gunzipStream);
if (hasZstd()) {
  const zst1 = await drain(source(data).pipeThrough(zstdStream(1)));
  await measureDecompress("zstd -d (frame by frame, as restored) of zstd level 1", zst1, unzstdStream);
}
const { recipient } = await generateIdentity();
await measure("age X25519, age-encryption's pure-JS payload (input = level-1 output)", async () => drain(source(gz1).pipeThrough(await encryptStream([recipient], { native: false }))), gz1.length);
await measure("age X25519, native node:crypto ChaCha20-Poly1305 payload (input = level-1 output)", async () => drain(source(gz1).pipeThrough(await encryptStream([recipient], { native: true }))), gz1.length);
await measure("sha256 (node:crypto) of compressed bytes", () => {
  const h = createHash("sha256");
  for (let o = 0; o < gz1.length; o += BATCH) h.update(gz1.subarray(o, o + BATCH));
  h.digest();
  return Promise.resolve(gz1);
}, gz1.length);

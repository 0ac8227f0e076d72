// Freeing dead buffers early (supabase/functions/_shared/release.ts): an owned buffer is
// detached; a chunk that shares its ArrayBuffer with anything else (a slice, a Buffer pool
// slab, a small buffer) is left alone; a handed-over buffer is freed only by the stage that
// consumes it; and a freed buffer reaching a stage stops the stream (it would read as empty).
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { encryptStream, generateIdentity, gzipStream, zstdStream } from "../../supabase/functions/_shared/crypto/mod.ts";
import {
  assertLive,
  handOver,
  handOverChunk,
  releaseChunk,
  releaseHandedOver,
  releaseOwned,
} from "../../supabase/functions/_shared/release.ts";

const isDetached = (v: Uint8Array) => (v.buffer as ArrayBuffer & { detached: boolean }).detached;

Deno.test("releaseOwned detaches the whole buffer under a view, and a second call does nothing", () => {
  const buf = new Uint8Array(1 << 20).fill(7);
  const view = buf.subarray(0, 1000);
  releaseOwned(view);
  assert.ok(isDetached(buf));
  assert.equal(buf.byteLength, 0);
  assert.equal(view.byteLength, 0);
  assert.throws(() => buf.set([1], 0), TypeError); // a stray write fails loudly
  releaseOwned(view);
  assert.equal(view.byteLength, 0);
});

Deno.test("releaseChunk frees only chunks that own their whole buffer and are bigger than a pool slab", () => {
  const whole = new Uint8Array(64 * 1024);
  releaseChunk(whole);
  assert.ok(isDetached(whole));

  const backing = new Uint8Array(64 * 1024).fill(1);
  const sliceAtStart = backing.subarray(0, 32 * 1024); // shares its buffer with the rest
  const sliceInside = backing.subarray(1, 64 * 1024);
  releaseChunk(sliceAtStart);
  releaseChunk(sliceInside);
  assert.ok(!isDetached(backing));
  assert.equal(backing[40_000], 1);

  const small = new Uint8Array(8 * 1024); // could be a whole Buffer pool slab
  releaseChunk(small);
  assert.ok(!isDetached(small));

  const pooled = Buffer.from("a pooled buffer shares one slab with others");
  const neighbour = Buffer.from("its neighbour in the same slab");
  releaseChunk(pooled);
  assert.equal(pooled.toString(), "a pooled buffer shares one slab with others");
  assert.equal(neighbour.toString(), "its neighbour in the same slab");
});

Deno.test("handOver marks a buffer for the stage that consumes it; only marked buffers are freed there", () => {
  const given = handOver(new Uint8Array(64 * 1024));
  const kept = new Uint8Array(64 * 1024);
  releaseHandedOver(kept);
  assert.equal(kept.byteLength, 64 * 1024);
  releaseHandedOver(given);
  assert.equal(given.byteLength, 0);
  assert.throws(() => assertLive(given), /freed before it was used/);
  assertLive(kept);

  // From a runtime API: marked only when it owns its whole, non-pool buffer.
  const slab = new Uint8Array(64 * 1024);
  const slice = handOverChunk(slab.subarray(0, 1024));
  releaseHandedOver(slice);
  assert.equal(slab.byteLength, 64 * 1024);
  const pooled = handOverChunk(Buffer.from("pooled"));
  releaseHandedOver(pooled);
  assert.equal(pooled.toString(), "pooled");
  const own = handOverChunk(new Uint8Array(9000));
  releaseHandedOver(own);
  assert.equal(own.byteLength, 0);
});

Deno.test("a freed buffer that reaches a compressor or the encrypter stops the stream instead of being read as empty", async () => {
  const { recipient } = await generateIdentity();
  for (const make of [() => zstdStream(), () => gzipStream()]) {
    const freed = new Uint8Array(100_000);
    releaseOwned(freed);
    const w = new Response(new Blob([new Uint8Array(10)]).stream().pipeThrough(new TransformStream({
      transform(chunk, c) {
        c.enqueue(chunk);
        c.enqueue(freed);
      },
    })).pipeThrough(make())).arrayBuffer();
    await assert.rejects(w, /freed before it was used/);
  }
  const freed = new Uint8Array(100_000);
  releaseOwned(freed);
  const enc = await encryptStream([recipient]);
  const out = new Response(enc.readable).arrayBuffer();
  const writer = enc.writable.getWriter();
  await assert.rejects(writer.write(freed), /freed before it was used/);
  await assert.rejects(out, /freed before it was used/);
});

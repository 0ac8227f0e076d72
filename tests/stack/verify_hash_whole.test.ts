/**
 * Whole-object hashing (`verify/hash.ts:hashObject` with `WholeObjectBuffers`): objects up to
 * WHOLE_OBJECT_MAX_BYTES are read whole from RGW and hashed by WebCrypto off the JS thread.
 * Every size hashes to the same sha256 and head as node:crypto over the bytes; an object
 * longer than the manifest says still has every byte hashed; a buffer lent out is returned,
 * and one lost to a failed read is made again; bigger objects and other streams stream.
 * Verification (`checkIntegrity`, `checkObject`) still catches every corruption on both paths:
 * a flipped byte in a 5-byte, a 300 KiB and a streamed object, a truncated object, a short read.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Manifest } from "../../supabase/functions/_shared/format/mod.ts";
import {
  checkIntegrity,
  checkObject,
  hashObject,
  WHOLE_OBJECT_MAX_BYTES,
  WholeObjectBuffers,
} from "../../supabase/functions/_shared/verify/mod.ts";
import { removeTestTargets, testTarget } from "../../harness/edge_export.ts";
import { pseudoRandomBytes as bytes } from "../support/bytes.ts";

const MiB = 1024 * 1024;
const PROBE = 300;
const skip = Deno.env.get("LIFEBOAT_SKIP_S3") === "1";
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test({
  name: "whole-object hashing: the sha256, size and head of every size, through buffers shared by lanes",
  ignore: skip,
  async fn() {
    const { store } = testTarget("hash-whole");
    try {
      const sizes = [0, 1, PROBE - 1, 1000, 512 * 1024 + 1, 5 * MiB + 17, WHOLE_OBJECT_MAX_BYTES, WHOLE_OBJECT_MAX_BYTES + 1];
      const bodies = sizes.map((n, i) => bytes(n, i + 3));
      await Promise.all(bodies.map((b, i) => store.put(`o${i}`, b)));
      // Two buffers for four lanes: some objects get one, others stream, all agree.
      const buffers = new WholeObjectBuffers(2);
      const results = await Promise.all(bodies.flatMap((_, i) => [0, 1].map(async () =>
        [i, await hashObject(await store.get(`o${i}`, { byteStream: true }), { expectedSize: sizes[i], probe: PROBE, buffers })] as const
      )));
      for (const [i, got] of results) {
        assert.equal(got.sha256, sha(bodies[i]), `sha256 of ${sizes[i]} bytes`);
        assert.equal(got.size, sizes[i]);
        assert.deepEqual(got.head, bodies[i].subarray(0, PROBE), `head of ${sizes[i]} bytes`);
      }
      // Every buffer came back: two can be taken, not a third.
      const a = buffers.take(), b = buffers.take();
      assert.ok(a && b && buffers.take() === null);
      buffers.give(a);
      buffers.give(b);

      // The manifest says 1000 bytes, the store holds 5 MiB + 17 (replaced after the listing):
      // the whole object is hashed (buffer, then streaming), so the sha256 differs from any 1000 bytes.
      const one = new WholeObjectBuffers(1);
      const reading = hashObject(await store.get("o5", { byteStream: true }), { expectedSize: 1000, probe: PROBE, buffers: one });
      assert.equal(one.take(), null, "the object is read into the buffer"); // taken before the first read
      const longer = await reading;
      assert.deepEqual([longer.sha256, longer.size], [sha(bodies[5]), sizes[5]]);
      // A stream of more bytes than one buffer holds spills past it and still hashes all.
      const huge = bytes(WHOLE_OBJECT_MAX_BYTES + 3 * MiB + 5, 99);
      await store.put("huge", huge);
      const spilled = await hashObject(await store.get("huge", { byteStream: true }), { expectedSize: 10, probe: PROBE, buffers: one });
      assert.deepEqual([spilled.sha256, spilled.size], [sha(huge), huge.byteLength]);
      assert.deepEqual(spilled.head, huge.subarray(0, PROBE));

      // A default (non-byte) stream and no buffers at all stream through node:crypto.
      for (const [stream, buf] of [[await store.get("o3"), one], [await store.get("o3", { byteStream: true }), undefined]] as const) {
        const streaming = hashObject(stream, { expectedSize: 1000, probe: PROBE, buffers: buf });
        const free = one.take();
        assert.ok(free, "a stream that is not a byte stream leaves the buffer free");
        one.give(free);
        assert.equal((await streaming).sha256, sha(bodies[3]));
      }
      // Nor buffers of 0 bytes (verify.whole_object_max_bytes 0: every object streams).
      const none = new WholeObjectBuffers(4, 0);
      assert.equal((await hashObject(await store.get("o3", { byteStream: true }), { expectedSize: 1000, probe: PROBE, buffers: none })).sha256, sha(bodies[3]));
      // Neither does an object bigger than a buffer.
      const big = hashObject(await store.get("o7", { byteStream: true }), { expectedSize: sizes[7], probe: PROBE, buffers: one });
      const free = one.take();
      assert.ok(free);
      one.give(free);
      assert.equal((await big).sha256, sha(bodies[7]));

      // A read that fails takes the buffer with it: the next object gets a new one.
      const ac = new AbortController();
      const failing = hashObject(await store.get("o5", { byteStream: true, signal: ac.signal }), { expectedSize: sizes[5], probe: PROBE, buffers: one });
      ac.abort(new Error("stop reading"));
      await assert.rejects(failing);
      const again = await hashObject(await store.get("o4", { byteStream: true }), { expectedSize: sizes[4], probe: PROBE, buffers: one });
      assert.equal(again.sha256, sha(bodies[4]));
      const c = one.take();
      assert.ok(c && c.byteLength === WHOLE_OBJECT_MAX_BYTES && one.take() === null);
    } finally {
      await removeTestTargets();
    }
  },
});

Deno.test({
  name: "verification catches a flipped byte, a truncation and a short read, hashed whole or streamed",
  ignore: skip,
  async fn() {
    const { store } = testTarget("hash-whole-corrupt");
    const zstdMagic = [0x28, 0xb5, 0x2f, 0xfd]; // an unencrypted zstd backup's objects start with it
    const object = (n: number, seed: number) => {
      const b = bytes(n, seed);
      b.set(zstdMagic);
      return b;
    };
    const id = "20261204T000000Z-hashwhol";
    const bodies: Record<string, Uint8Array> = {
      "tiny.zst": object(5, 1),
      "small.zst": object(300 * 1024, 2),
      "big.zst": object(WHOLE_OBJECT_MAX_BYTES + 1, 3), // streamed through node:crypto
      "short.zst": object(64 * 1024, 4),
      "good.zst": object(2 * MiB, 5),
    };
    const m = {
      id, compression: "zstd", encryption: { scheme: "none", recipients: [] },
      objects: Object.entries(bodies).map(([key, b]) => ({ key, kind: "data", size: b.byteLength, sha256: sha(b) })),
    } as unknown as Manifest;
    try {
      await Promise.all(Object.entries(bodies).map(([k, b]) => store.put(`${id}/${k}`, b)));
      const clean = await checkIntegrity(store, m);
      assert.deepEqual(clean.checks.filter((c) => c.level !== "ok"), []);
      assert.ok(clean.checks.some((c) => c.check === "integrity" && c.level === "ok"));

      // One flipped bit in the 5-byte, the 300 KiB and the streamed object, and the 64 KiB one truncated.
      for (const key of ["tiny.zst", "small.zst", "big.zst"]) {
        const b = bodies[key].slice();
        b[b.byteLength - 1 - Math.floor((b.byteLength - 5) / 2)] ^= 0x01;
        await store.put(`${id}/${key}`, b);
      }
      await store.put(`${id}/short.zst`, bodies["short.zst"].subarray(0, 60 * 1024));
      const bad = await checkIntegrity(store, m);
      const failed = Object.fromEntries(bad.checks.filter((c) => c.level === "error").map((c) => [c.object, c.check]));
      assert.deepEqual(failed, { "tiny.zst": "object_sha256", "small.zst": "object_sha256", "big.zst": "object_sha256", "short.zst": "object_size" });
      assert.deepEqual(bad.verdicts.filter((v) => v.ok).map((v) => v.key), ["good.zst"]);
      assert.ok(!bad.checks.some((c) => c.check === "integrity"), "no integrity pass beside failures");

      // A listing that still says 64 KiB (the object shrank after it): the short read is hashed
      // whole and fails on its sha256 and size.
      const entry = m.objects.find((o) => o.key === "short.zst")!;
      const short = await checkObject(store, m, entry, entry.size, { buffers: new WholeObjectBuffers(1) });
      assert.equal(short.ok, false);
      if (!short.ok) {
        assert.equal(short.check.check, "object_sha256");
        assert.equal(short.bytes, 60 * 1024);
      }
    } finally {
      await removeTestTargets();
    }
  },
});

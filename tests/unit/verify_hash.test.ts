/**
 * hashWithHead: the same sha256, size and head whether an object is hashed in one piece off the
 * JavaScript thread (up to BUFFERED_HASH_MAX) or as it flows, and a stream longer or shorter
 * than the manifest says is hashed whole, so the size and sha256 checks see it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { hashWithHead } from "../../supabase/functions/_shared/verify/mod.ts";
import { streamOf } from "../support/streams.ts";

const data = new Uint8Array(123_457).map((_, i) => (i * 31 + 7) % 251);
const sha = createHash("sha256").update(data).digest("hex");

Deno.test("hashWithHead: buffered and streamed hashing agree, with the stream's head", async () => {
  for (const expected of [data.length, -1, 64 * 1024 * 1024]) {
    const r = await hashWithHead(streamOf(data, 1000), expected, 100);
    assert.equal(r.sha256, sha, `expected ${expected}`);
    assert.equal(r.size, data.length);
    assert.deepEqual(r.head, data.slice(0, 100));
  }
});

Deno.test("hashWithHead: a stream longer or shorter than expected is hashed whole", async () => {
  const longer = await hashWithHead(streamOf(data, 1000), data.length - 10, 32);
  assert.equal(longer.sha256, sha);
  assert.equal(longer.size, data.length);
  assert.deepEqual(longer.head, data.slice(0, 32));
  const shorter = await hashWithHead(streamOf(data, 1000), data.length + 10, 32);
  assert.equal(shorter.sha256, sha);
  assert.equal(shorter.size, data.length);
  const empty = await hashWithHead(streamOf(new Uint8Array(0), 1000), 0, 32);
  assert.equal(empty.sha256, createHash("sha256").digest("hex"));
  assert.equal(empty.size, 0);
});

/**
 * The S3 driver's byte-stream reads (`get(key, { byteStream: true })`), which verification
 * reads into one reused buffer (`verify/hash.ts:readEach`): the same bytes as a default read,
 * through any reader and buffer size, against the stack's RGW; a body that stalls half-way or
 * is aborted fails with a store error instead of hanging (a real HTTP server that stops
 * sending, since RGW cannot be made to).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { openStore, StoreError } from "../../supabase/functions/_shared/store/mod.ts";
import { hashStream, readEach } from "../../supabase/functions/_shared/verify/mod.ts";
import { removeTestTargets, testTarget } from "../../harness/edge_export.ts";
import { pseudoRandomBytes as bytes } from "../support/bytes.ts";

const MiB = 1024 * 1024;
const skip = Deno.env.get("LIFEBOAT_SKIP_S3") === "1";
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test({
  name: "s3 byte stream: the same bytes as a default read, by BYOB and default readers, any buffer size",
  ignore: skip,
  async fn() {
    const { store } = testTarget("byte-stream");
    try {
      const big = bytes(12 * MiB + 123, 7); // multipart, and not a multiple of any buffer
      const small = bytes(1000, 9);
      await store.put("big", big);
      await store.put("small", small);
      for (const [key, body] of [["big", big], ["small", small]] as const) {
        for (const buffer of [4096, 512 * 1024, 4 * MiB]) {
          const h = createHash("sha256");
          let chunks = 0;
          const n = await readEach(await store.get(key, { byteStream: true }), (c) => {
            assert.ok(c.byteLength > 0 && c.byteLength <= buffer, `chunk of ${c.byteLength} bytes for a ${buffer}-byte buffer`);
            chunks++;
            h.update(c);
          }, buffer);
          assert.equal(n, body.byteLength);
          assert.equal(h.digest("hex"), sha(body), `${key} through a ${buffer}-byte buffer`);
          if (buffer === 4096) assert.ok(chunks >= Math.ceil(body.byteLength / buffer));
        }
        // A default reader of a byte stream, and a default get, read the same.
        assert.deepEqual(await hashStream(await store.get(key, { byteStream: true })), { sha256: sha(body), size: body.byteLength });
        assert.deepEqual(await hashStream(await store.get(key)), { sha256: sha(body), size: body.byteLength });
      }
      // A reader that fails half-way gets its own error back, and the body is released.
      await assert.rejects(
        readEach(await store.get("big", { byteStream: true }), () => {
          throw new Error("the consumer gave up");
        }),
        /the consumer gave up/,
      );
    } finally {
      await removeTestTargets();
    }
  },
});

Deno.test("s3 byte stream: a body that stalls half-way fails within the idle timeout; an abort cancels the read", async () => {
  const sent = 256 * 1024;
  const stalls = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    // Promises a MiB, sends a quarter of it, then nothing.
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes(sent, 3));
        stalls.add(c);
      },
    });
    return new Response(body, { headers: { "content-length": String(MiB), "content-type": "application/octet-stream" } });
  });
  try {
    const store = openStore("s3://stall/prefix/", {
      env: {},
      s3: {
        endpoint: `http://127.0.0.1:${server.addr.port}`,
        region: "us-east-1",
        accessKeyId: "test",
        secretAccessKey: "test",
        readIdleTimeoutMs: 300,
        retry: { attempts: 1, baseDelayMs: 10, maxDelayMs: 10, timeoutMs: 5_000 },
      },
    });
    let got = 0;
    const t0 = performance.now();
    const err = await readEach(await store.get("x", { byteStream: true }), (c) => {
      got += c.byteLength;
    }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${err}`);
    assert.equal(err.code, "unavailable");
    assert.match(err.message, /stalled \(no data for 300 ms\)/);
    assert.equal(got, sent, "every byte that came was handed over before the stall");
    assert.ok(performance.now() - t0 < 30_000, "the stall is detected by the idle timeout, not left hanging");

    const ac = new AbortController();
    const aborted = readEach(await store.get("x", { byteStream: true, signal: ac.signal }), () => ac.abort(new Error("stop reading")));
    await assert.rejects(aborted, /stop reading/);
  } finally {
    for (const c of stalls) {
      try {
        c.close();
      } catch {
        // already cancelled by the client
      }
    }
    await server.shutdown();
  }
});

// Reading a small file's download into one buffer of its own (source/storage/hashing.ts):
// a real HTTP response body read in "byob" mode gives the bytes, fewer when the body is
// shorter, null when it is longer; a stream that is not a byte stream is read all the same.
import assert from "node:assert/strict";
import { ownedChunks, readExactly } from "../../supabase/functions/_shared/source/storage/mod.ts";

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);

Deno.test("readExactly reads a download body into one buffer and notices a longer or shorter body", async () => {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    return new Response(pattern(Number(new URL(req.url).searchParams.get("n"))));
  });
  try {
    const get = async (n: number) => (await fetch(`http://127.0.0.1:${server.addr.port}/?n=${n}`)).body!;
    for (const n of [0, 1, 8192, 200_000]) {
      const got = await readExactly(await get(n), n);
      assert.deepEqual(got, pattern(n), `${n} bytes`);
      assert.equal(got!.byteLength, n);
    }
    assert.equal(await readExactly(await get(8193), 8192), null, "a longer body is refused");
    assert.deepEqual(await readExactly(await get(8000), 8192), pattern(8000), "a shorter body gives what it holds");
    // A big body re-cut into buffers of its own, each spanning its whole buffer (so it can be freed).
    const chunks: Uint8Array[] = [];
    for await (const c of ownedChunks(await get(600_000), 256 * 1024)) chunks.push(c);
    assert.deepEqual(chunks.map((c) => c.byteLength), [262144, 262144, 75712]);
    assert.ok(chunks.every((c) => c.byteOffset === 0 && c.buffer.byteLength === c.byteLength));
    const all = new Uint8Array(600_000);
    chunks.reduce((at, c) => (all.set(c, at), at + c.byteLength), 0);
    assert.deepEqual(all, pattern(600_000));
  } finally {
    await server.shutdown();
  }
});

Deno.test("readExactly reads a stream that is not a byte stream", async () => {
  const chunks = [pattern(10), pattern(5)];
  const s = () => ReadableStream.from(chunks.map((c) => c.slice()));
  assert.equal((await readExactly(s(), 15))?.byteLength, 15);
  assert.equal(await readExactly(s(), 14), null);
});

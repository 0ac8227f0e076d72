// Sealing many small objects cheaply (crypto/): objects sealed with one shared age header are
// each a complete age file (age-encryption's own decrypter opens them) with its own payload
// nonce; zstd objects of any size (empty, small, in many chunks, over a frame) round-trip now
// that the frame buffer grows with the input; sealBytes, the in-memory path of small files, writes
// the same objects.
import assert from "node:assert/strict";
import { Decrypter } from "age-encryption";
import {
  ageHeader,
  generateIdentity,
  openStream,
  sealBytes,
  sealStream,
} from "../../supabase/functions/_shared/crypto/mod.ts";

const bytesOf = (s: ReadableStream<Uint8Array>) => new Response(s).bytes();
const random = (n: number) => {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
};

Deno.test("objects sealed with one shared age header are standard age files with their own payload nonces", async () => {
  const { identity, recipient } = await generateIdentity();
  const header = await ageHeader([recipient]);
  const plains = [random(8192), random(100_000), new Uint8Array(0)];
  const sealed: Uint8Array[] = [];
  for (const p of plains) {
    sealed.push(await bytesOf(await sealStream(ReadableStream.from([p]), { recipients: [recipient], compression: "zstd", ageHeader: header })));
  }
  const h = header.header.length;
  for (const s of sealed) assert.deepEqual(s.subarray(0, h), header.header, "the shared header opens every object");
  const nonces = new Set(sealed.map((s) => Array.from(s.subarray(h, h + 16)).join(",")));
  assert.equal(nonces.size, sealed.length, "each object has its own payload nonce");
  for (const [i, s] of sealed.entries()) {
    assert.deepEqual(await bytesOf(await openStream(ReadableStream.from([s]), [identity], "zstd")), plains[i]);
    // age-encryption's own decrypter (no native cipher, no Lifeboat code) reads it too.
    const d = new Decrypter();
    d.addIdentity(identity);
    const packed = await d.decrypt(s);
    assert.ok(packed.length > 0);
  }
  // A wrong identity is refused, as for any age file.
  const other = await generateIdentity();
  await assert.rejects(() => openStream(ReadableStream.from([sealed[0]]), [other.identity], "zstd"));
});

Deno.test("zstd objects round-trip whatever their size and chunking", async () => {
  const big = random(2 * 1024 * 1024 + 70_000);
  const cases: Uint8Array[][] = [
    [],
    [random(10)],
    [random(8192)],
    Array.from({ length: 40 }, () => random(3000)), // grows the buffer several times
    [big.subarray(0, 1000), big.subarray(1000)], // crosses a frame boundary
  ];
  for (const chunks of cases) {
    const plain = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) (plain.set(c, at), at += c.length);
    const sealed = await bytesOf(await sealStream(ReadableStream.from(chunks.map((c) => c.slice())), { recipients: [], compression: "zstd" }));
    assert.deepEqual(await bytesOf(await openStream(ReadableStream.from([sealed]), null, "zstd")), plain, `${chunks.length} chunk(s), ${plain.length} bytes`);
  }
});

Deno.test("sealBytes seals bytes in memory as sealStream does: every size opens, with the shared header and without", async () => {
  const { identity, recipient } = await generateIdentity();
  const header = await ageHeader([recipient]);
  // Empty, one byte, a small file, exactly one and just over one age chunk, over a zstd frame.
  const sizes = [0, 1, 8192, 65536, 65537, 2 * 1024 * 1024 + 70_000];
  for (const compression of ["zstd", "gzip"] as const) {
    for (const n of sizes) {
      const plain = random(n);
      for (const opts of [
        { recipients: [recipient], compression, ageHeader: header },
        { recipients: [recipient], compression },
        { recipients: [], compression },
      ]) {
        const what = `${compression}, ${n} bytes, ${opts.recipients.length ? ("ageHeader" in opts ? "shared header" : "own header") : "unencrypted"}`;
        const sealed = await sealBytes(plain, opts);
        const identities = opts.recipients.length ? [identity] : null;
        assert.deepEqual(await bytesOf(await openStream(ReadableStream.from([sealed]), identities, compression)), plain, what);
        // The same length as the stream's object: the same frames and age chunks.
        const streamed = await bytesOf(await sealStream(ReadableStream.from([plain.slice()]), opts));
        if (compression === "zstd") assert.equal(sealed.length, streamed.length, what);
        if (opts.recipients.length) {
          const d = new Decrypter();
          d.addIdentity(identity);
          assert.ok((await d.decrypt(sealed)).length > 0, what);
        }
      }
    }
  }
  // A flipped byte in the payload is refused.
  const sealed = await sealBytes(random(8192), { recipients: [recipient], compression: "zstd", ageHeader: header });
  sealed[sealed.length - 20] ^= 1;
  await assert.rejects(async () => await bytesOf(await openStream(ReadableStream.from([sealed]), [identity], "zstd")));
});

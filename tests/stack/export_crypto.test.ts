// The backup object codecs: gzip, zstd and age (X25519). Interoperability is tested with the
// Debian `age`, `gunzip` and `zstd` CLIs in both directions; wrong keys and damaged or
// truncated data must be refused with a clear error.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import {
  AgeKeyError,
  CompressionError,
  decompressStream,
  decryptStream,
  defaultCompression,
  encryptStream,
  generateIdentity,
  gunzipStream,
  gzipStream,
  hasZstd,
  openStream,
  parseIdentityFile,
  parseRecipient,
  recipientOf,
  sealStream,
  sniffCompression,
  unzstdStream,
  ZSTD_FRAME_BYTES,
  ZSTD_MAX_FRAME_BYTES,
  zstdStream,
} from "../../supabase/functions/_shared/crypto/mod.ts";
import { hasNativeChaCha } from "../../supabase/functions/_shared/crypto/mod.ts";
import { PartWriter } from "../../supabase/functions/_shared/export/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { repoRoot, run } from "../../harness/stack.ts";

async function bytesOf(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}
function streamOf(b: Uint8Array, chunk = 100_000): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= b.length) return c.close();
      c.enqueue(b.slice(off, off + chunk));
      off += chunk;
    },
  });
}
function sample(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}
async function tmpFile(bytes: Uint8Array | string): Promise<string> {
  const p = await Deno.makeTempFile({ prefix: "lifeboat-crypto-" });
  if (typeof bytes === "string") await Deno.writeTextFile(p, bytes);
  else await Deno.writeFile(p, bytes);
  return p;
}

Deno.test("node:crypto provides ChaCha20-Poly1305 here, so the fast age path is the one tested", () => {
  assert.equal(hasNativeChaCha(), true);
});

Deno.test("age: round trip at chunk boundaries, native and pure-JS payloads, both decrypters", async () => {
  const { identity, recipient } = await generateIdentity();
  for (const size of [0, 1, 65535, 65536, 65537, 131072, 300_001]) {
    const plain = sample(size);
    for (const native of [true, false]) {
      const sealed = await bytesOf(streamOf(plain).pipeThrough(await encryptStream([recipient], { native })));
      for (const nativeOpen of [true, false]) {
        const back = await bytesOf(await decryptStream(streamOf(sealed, 7777), [identity], { native: nativeOpen }));
        assert.deepEqual(back, plain, `size ${size}, native encrypt ${native}, native decrypt ${nativeOpen}`);
      }
    }
  }
});

Deno.test("age: the Debian age CLI decrypts our output, and we decrypt age CLI output", async () => {
  const { identity, recipient } = await generateIdentity();
  const key = await tmpFile(`${identity}\n`);
  const plain = sample(200_000);
  const ours = await tmpFile(await bytesOf(streamOf(plain).pipeThrough(await encryptStream([recipient]))));
  const out = await tmpFile("");
  const r = await run("age", ["-d", "-i", key, "-o", out, ours]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await Deno.readFile(out), plain);

  const src = await tmpFile(plain);
  const theirs = `${src}.age`;
  const e = await run("age", ["-r", recipient, "-o", theirs, src]);
  assert.equal(e.code, 0, e.stderr);
  const back = await bytesOf(await decryptStream((await Deno.open(theirs)).readable, [identity]));
  assert.deepEqual(back, plain);
  for (const f of [key, ours, out, src, theirs]) await Deno.remove(f);
});

Deno.test("age: several recipients can each decrypt", async () => {
  const a = await generateIdentity();
  const b = await generateIdentity();
  const sealed = await bytesOf(streamOf(sample(1000)).pipeThrough(await encryptStream([a.recipient, b.recipient])));
  for (const id of [a.identity, b.identity]) {
    assert.equal((await bytesOf(await decryptStream(streamOf(sealed), [id]))).length, 1000);
  }
});

Deno.test("age: a wrong key is refused, by us and by the age CLI", async () => {
  const right = await generateIdentity();
  const wrong = await generateIdentity();
  const sealed = await bytesOf(streamOf(sample(5000)).pipeThrough(await encryptStream([right.recipient])));
  await assert.rejects(() => decryptStream(streamOf(sealed), [wrong.identity]), (err: unknown) => {
    assert.ok(err instanceof AgeKeyError);
    assert.match(err.message, /none of the given age identities can decrypt/);
    return true;
  });
  const key = await tmpFile(`${wrong.identity}\n`);
  const f = await tmpFile(sealed);
  const r = await run("age", ["-d", "-i", key, f]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no identity matched/);
  await Deno.remove(key);
  await Deno.remove(f);
});

Deno.test("age: a flipped byte, a truncation and a dropped chunk are detected", async () => {
  const { identity, recipient } = await generateIdentity();
  const sealed = await bytesOf(streamOf(sample(200_000)).pipeThrough(await encryptStream([recipient])));
  const flipped = sealed.slice();
  flipped[sealed.length - 100] ^= 1;
  const truncated = sealed.slice(0, sealed.length - 65536 - 16);
  const headerEnd = sealed.indexOf(10, new TextDecoder().decode(sealed.subarray(0, 400)).indexOf("\n---") + 1) + 1 + 16;
  const dropped = new Uint8Array([...sealed.subarray(0, headerEnd), ...sealed.subarray(headerEnd + 65536 + 16)]);
  for (const [name, bad] of [["flipped", flipped], ["truncated", truncated], ["dropped chunk", dropped]] as const) {
    for (const native of [true, false]) {
      await assert.rejects(async () => {
        await bytesOf(await decryptStream(streamOf(bad), [identity], { native }));
      }, Error, `${name} (native ${native}) must fail`);
    }
  }
});

Deno.test("age: recipients and identity files are validated with messages saying what to do", async () => {
  const { identity, recipient } = await generateIdentity();
  assert.equal(parseRecipient(` ${recipient}\n`), recipient);
  assert.throws(() => parseRecipient("age1notarecipient"), /not an age X25519 recipient.*lifeboat keygen/);
  const broken = recipient.slice(0, -1) + (recipient.endsWith("q") ? "p" : "q");
  assert.throws(() => parseRecipient(broken), /bad checksum/);
  assert.throws(() => parseRecipient(identity), AgeKeyError);
  assert.deepEqual(parseIdentityFile(`# created: x\n# public key: ${recipient}\n${identity}\n`), [identity]);
  assert.throws(() => parseIdentityFile("# nothing\n"), /no identity/);
  assert.equal(await recipientOf(identity), recipient);
});

Deno.test("gzip: round trip, and the output is standard gzip that gunzip reads", async () => {
  const text = new TextEncoder().encode("1\tline with \\t and \\n\n".repeat(50_000));
  const gz = await bytesOf(streamOf(text).pipeThrough(gzipStream()));
  assert.ok(gz.length < text.length / 5, "COPY-like text compresses");
  assert.deepEqual(await bytesOf(streamOf(gz).pipeThrough(gunzipStream())), text);
  const f = await tmpFile(gz);
  const r = await new Deno.Command("gunzip", { args: ["-c", f], stdout: "piped" }).output();
  assert.equal(r.code, 0);
  assert.deepEqual(r.stdout, text);
  await Deno.remove(f);
  await assert.rejects(() => bytesOf(streamOf(gz.slice(0, 100)).pipeThrough(gunzipStream())), CompressionError);
  await assert.rejects(() => bytesOf(streamOf(text.slice(0, 100)).pipeThrough(gunzipStream())), /gzip data is damaged or truncated/);
});

/** COPY-like text of about `n` bytes that compresses like a real table (not a constant). */
function copyText(n: number): Uint8Array {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < n; i++) {
    const l = `${i}\t${(i * 2654435761 % 4294967296).toString(16)}\tuser-${i % 977}@example.com\t2026-01-${String(1 + i % 28).padStart(2, "0")}\t\\N\n`;
    lines.push(l);
    size += l.length;
  }
  return new TextEncoder().encode(lines.join(""));
}

Deno.test("zstd: this Deno's node:zlib has it, so it is the default codec here", () => {
  assert.equal(hasZstd(), true, "Deno 2.9's node:zlib has zstd; the tests need it");
  assert.equal(defaultCompression(), "zstd");
});

Deno.test("zstd: round trip in any chunking, several frames, and the zstd CLI reads it (and we read the CLI's)", async () => {
  const text = copyText(5 * 1024 * 1024 + 12345); // three frames, the last one partial
  const packed = await bytesOf(streamOf(text, 777_777).pipeThrough(zstdStream()));
  assert.equal(sniffCompression(packed), "zstd");
  assert.ok(packed.length < text.length / 3, `COPY-like text compresses (${packed.length} of ${text.length})`);
  for (const chunk of [1_000_000, 65_536, 4_099, 7]) {
    const input = chunk === 7 ? packed.slice(0, 300_000) : packed;
    if (chunk === 7) {
      // Tiny pieces split every header somewhere; a prefix is enough (and is a truncation).
      await assert.rejects(() => bytesOf(streamOf(input, chunk).pipeThrough(unzstdStream())), /truncated/);
      continue;
    }
    assert.deepEqual(await bytesOf(streamOf(input, chunk).pipeThrough(unzstdStream())), text, `chunks of ${chunk}`);
  }
  const f = await tmpFile(packed);
  const r = await new Deno.Command("zstd", { args: ["-d", "-c", "-q", f], stdout: "piped" }).output();
  assert.equal(r.code, 0);
  assert.deepEqual(r.stdout, text, "zstd -d decodes the concatenated frames as one stream");
  // The other way: the CLI's single frame (without a checksum, and with one) through our decoder.
  const plainFile = await tmpFile(text);
  for (const flags of [["--no-check"], ["--check", "-3"]]) {
    const c = await new Deno.Command("zstd", { args: [...flags, "-c", "-q", plainFile], stdout: "piped" }).output();
    assert.equal(c.code, 0);
    assert.deepEqual(await bytesOf(streamOf(c.stdout, 50_000).pipeThrough(unzstdStream())), text, `zstd ${flags.join(" ")}`);
  }
  await Deno.remove(f);
  await Deno.remove(plainFile);
  // Empty input is still one valid frame, and decodes to nothing.
  const empty = await bytesOf(streamOf(new Uint8Array(0)).pipeThrough(zstdStream()));
  assert.equal(sniffCompression(empty), "zstd");
  assert.equal((await bytesOf(streamOf(empty).pipeThrough(unzstdStream()))).length, 0);
  // A skippable frame (allowed by the format) is passed over.
  const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  const withSkip = new Uint8Array([...skippable, ...empty]);
  assert.equal((await bytesOf(streamOf(withSkip, 5).pipeThrough(unzstdStream()))).length, 0);
  assert.equal(ZSTD_FRAME_BYTES, 2 * 1024 * 1024);
});

Deno.test("zstd: a corrupted frame fails with a clear error (never an uncaught exception)", async () => {
  const text = copyText(3 * 1024 * 1024);
  const packed = await bytesOf(streamOf(text).pipeThrough(zstdStream()));
  // Flipped bytes inside the compressed data, in the checksum, and in a frame header.
  for (const at of [Math.floor(packed.length / 3), Math.floor(packed.length / 2), packed.length - 2, 4]) {
    const bad = packed.slice();
    bad[at] ^= 0xff;
    await assert.rejects(
      () => bytesOf(streamOf(bad, 65_536).pipeThrough(unzstdStream())),
      (err: Error) => err instanceof CompressionError && /^zstd data is (damaged|truncated)/.test(err.message),
      `flipped byte at ${at}`,
    );
  }
  // Deno's streaming decoder throws this one out of band; whole-frame decoding must not.
  const rep = zlib.zstdCompressSync(new TextEncoder().encode("hello world ".repeat(500_000)), {
    params: { [zlib.constants.ZSTD_c_checksumFlag]: 1 },
  });
  const badRep = new Uint8Array(rep);
  badRep[Math.floor(badRep.length / 2)] ^= 0xff;
  await assert.rejects(() => bytesOf(streamOf(badRep, 1024).pipeThrough(unzstdStream())), CompressionError);
  // Not zstd at all.
  await assert.rejects(
    () => bytesOf(streamOf(text.slice(0, 1000)).pipeThrough(decompressStream("zstd"))),
    /not zstd data: the object does not start with the zstd frame magic \(28 b5 2f fd\)/,
  );
  // A frame too big to hold (not one Lifeboat writes): refused, saying what to use instead.
  const huge = zlib.zstdCompressSync(sample(ZSTD_MAX_FRAME_BYTES + 1024 * 1024));
  await assert.rejects(
    () => bytesOf(streamOf(new Uint8Array(huge.buffer, huge.byteOffset, huge.byteLength), 1 << 20).pipeThrough(unzstdStream())),
    /a zstd frame is larger than 64 MiB: not written by Lifeboat .*decompress it with the zstd CLI/,
  );
  // Garbage after a whole frame.
  await assert.rejects(
    () => bytesOf(streamOf(new Uint8Array([...packed, 1, 2, 3, 4, 5])).pipeThrough(unzstdStream())),
    /bytes after a frame are not another zstd frame/,
  );
});

Deno.test("zstd: a truncated stream fails, wherever it is cut (the frame structure is checked)", async () => {
  const text = copyText(2 * 1024 * 1024 + 500_000);
  const packed = await bytesOf(streamOf(text).pipeThrough(zstdStream()));
  const firstFrameEnd = (() => {
    // The first frame decodes alone: find where the second starts (the next magic number).
    for (let i = 4; i < packed.length - 3; i++) {
      if (packed[i] === 0x28 && packed[i + 1] === 0xb5 && packed[i + 2] === 0x2f && packed[i + 3] === 0xfd) return i;
    }
    return -1;
  })();
  assert.ok(firstFrameEnd > 0, "two frames");
  for (const cut of [0, 3, 6, 12, 1000, firstFrameEnd - 1, firstFrameEnd + 2, packed.length - 4, packed.length - 1]) {
    await assert.rejects(
      () => bytesOf(streamOf(packed.slice(0, cut), 10_000).pipeThrough(unzstdStream())),
      cut === 0 ? /zstd data is empty/ : /zstd data is truncated: the stream ends inside a frame/,
      `cut at ${cut}`,
    );
  }
  // Cut exactly at a frame boundary the stream is well-formed but shorter: only the
  // manifest's size and sha256 (and age, for encrypted backups) can tell; they do.
  assert.equal((await bytesOf(streamOf(packed.slice(0, firstFrameEnd)).pipeThrough(unzstdStream()))).length, ZSTD_FRAME_BYTES);
});

Deno.test("sealStream/openStream: compress then age, and compressed alone when unencrypted, for each codec", async () => {
  const { identity, recipient } = await generateIdentity();
  const plain = new TextEncoder().encode("COPY x FROM stdin;\n1\n\\.\n");
  for (const [compression, magic] of [["gzip", [0x1f, 0x8b]], ["zstd", [0x28, 0xb5, 0x2f, 0xfd]]] as const) {
    const sealed = await bytesOf(await sealStream(streamOf(plain), { recipients: [recipient], compression }));
    assert.equal(new TextDecoder().decode(sealed.subarray(0, 21)), "age-encryption.org/v1");
    assert.deepEqual(await bytesOf(await openStream(streamOf(sealed), [identity], compression)), plain);
    const packedOnly = await bytesOf(await sealStream(streamOf(plain), { recipients: [], compression }));
    assert.deepEqual([...packedOnly.subarray(0, magic.length)], [...magic]);
    assert.deepEqual(await bytesOf(await openStream(streamOf(packedOnly), null, compression)), plain);
    // Opened with the other codec: refused, not misread.
    const other = compression === "gzip" ? "zstd" : "gzip";
    await assert.rejects(() => bytesOf(streamOf(packedOnly).pipeThrough(decompressStream(other))), CompressionError);
  }
  // The age CLI and zstd CLI together read a sealed zstd object: the documented restore.
  const sealed = await bytesOf(await sealStream(streamOf(copyText(3_000_000)), { recipients: [recipient], compression: "zstd" }));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/key.txt`, `${identity}\n`);
    await Deno.writeFile(`${dir}/obj.zst.age`, sealed);
    const r = await run("bash", ["-c", `set -o pipefail; age -d -i "${dir}/key.txt" "${dir}/obj.zst.age" | zstd -d | sha256sum`]);
    assert.equal(r.code, 0, r.stderr);
    const want = createHash("sha256").update(copyText(3_000_000)).digest("hex");
    assert.equal(r.stdout.split(" ")[0], want);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lifeboat keygen writes a mode-600 identity and prints its recipient; never overwrites", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/key.txt`;
  const r = await run(`${repoRoot}/scripts/lifeboat`, ["keygen", "-o", path]);
  assert.equal(r.code, 0, r.stderr);
  const recipient = r.stdout.trim();
  assert.match(recipient, /^age1[a-z0-9]{58}$/);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  const ids = parseIdentityFile(await Deno.readTextFile(path));
  assert.equal(await recipientOf(ids[0]), recipient);
  // age-keygen's own tooling reads it.
  const y = await run("age-keygen", ["-y", path]);
  assert.equal(y.stdout.trim(), recipient);
  const again = await run(`${repoRoot}/scripts/lifeboat`, ["keygen", "-o", path]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /already exists/);
  const none = await run(`${repoRoot}/scripts/lifeboat`, ["keygen"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--output/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("PartWriter: buffers handed over are freed once compressed, and the stored object is intact for age and zstd", async () => {
  const { identity, recipient } = await generateIdentity();
  const dir = await Deno.makeTempDir();
  try {
    const store = openStore(`${dir}/store`);
    const plain = copyText(5_000_000);
    const w = await PartWriter.open(store, "part.zst.age", { recipients: [recipient], compression: "zstd" });
    const handed: Uint8Array[] = [];
    // Uneven batches, so that zstd frames (2 MiB) and age chunks (64 KiB) straddle them.
    for (let off = 0; off < plain.length; off += 700_001) {
      const batch = new Uint8Array(plain.subarray(off, off + 700_001)); // a buffer of its own
      handed.push(batch);
      await w.write(batch, true);
    }
    const kept = new Uint8Array(plain.subarray(0, 100_000));
    await w.write(kept); // not handed over: stays usable
    const stored = await w.close();
    assert.ok(handed.every((b) => b.byteLength === 0), "every handed-over batch was freed");
    assert.equal(kept.byteLength, 100_000);
    assert.equal(stored.plainBytes, plain.length + kept.length);
    await Deno.writeTextFile(`${dir}/key.txt`, `${identity}\n`);
    const r = await run("bash", ["-c", `set -o pipefail; age -d -i "${dir}/key.txt" "${dir}/store/part.zst.age" | zstd -d | sha256sum`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(" ")[0], createHash("sha256").update(plain).update(kept).digest("hex"));
    assert.equal(createHash("sha256").update(await Deno.readFile(`${dir}/store/part.zst.age`)).digest("hex"), stored.sha256);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

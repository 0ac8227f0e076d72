// The backup object codecs: gzip and age (X25519). Interoperability is tested with the
// Debian `age` CLI in both directions; wrong keys and damaged files must be refused.
import assert from "node:assert/strict";
import {
  AgeKeyError,
  decryptStream,
  encryptStream,
  generateIdentity,
  gunzipStream,
  gzipStream,
  openStream,
  parseIdentityFile,
  parseRecipient,
  recipientOf,
  sealStream,
} from "../supabase/functions/_shared/crypto/mod.ts";
import { hasNativeChaCha } from "../supabase/functions/_shared/crypto/age_stream.ts";
import { repoRoot, run } from "./support/stack.ts";

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
  await assert.rejects(() => bytesOf(streamOf(text.slice(0, 100)).pipeThrough(gunzipStream())));
});

Deno.test("sealStream/openStream: gzip then age, and gzip alone when unencrypted", async () => {
  const { identity, recipient } = await generateIdentity();
  const plain = new TextEncoder().encode("COPY x FROM stdin;\n1\n\\.\n");
  const sealed = await bytesOf(await sealStream(streamOf(plain), { recipients: [recipient] }));
  assert.equal(new TextDecoder().decode(sealed.subarray(0, 21)), "age-encryption.org/v1");
  assert.deepEqual(await bytesOf(await openStream(streamOf(sealed), [identity])), plain);
  const gzOnly = await bytesOf(await sealStream(streamOf(plain), { recipients: [] }));
  assert.deepEqual([gzOnly[0], gzOnly[1]], [0x1f, 0x8b]);
  assert.deepEqual(await bytesOf(await openStream(streamOf(gzOnly), null)), plain);
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

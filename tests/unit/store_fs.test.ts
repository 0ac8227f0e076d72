// Tests for the local directory store: round trips, atomic/durable writes,
// and keys that try to escape the root.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  FsStore,
  openStore,
  StoreError,
} from "../../supabase/functions/_shared/store/mod.ts";
import type { Store } from "../../supabase/functions/_shared/store/mod.ts";
import { pseudoRandomBytes as bytes } from "../support/bytes.ts";

const enc = new TextEncoder();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function withRoot(
  fn: (root: string, store: Store) => Promise<void> | void,
) {
  const root = await Deno.makeTempDir({ prefix: "lifeboat-fs-store-" });
  try {
    await fn(root, openStore(root));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** A stream we can feed by hand, to observe a put while it is in progress. */
function manualStream() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (ctl = c),
  });
  return {
    stream,
    push: (b: Uint8Array) => ctl.enqueue(b),
    end: () => ctl.close(),
    fail: (e: Error) => ctl.error(e),
  };
}

async function rejectsWith(
  p: Promise<unknown>,
  code: StoreError["code"],
  re?: RegExp,
) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return true;
  });
}

Deno.test("fs store: openStore accepts paths and file:// URLs", async () => {
  await withRoot((root) => {
    assert.ok(openStore(root) instanceof FsStore);
    const viaUrl = openStore(`file://${root}`);
    assert.ok(viaUrl instanceof FsStore);
    assert.equal((viaUrl as FsStore).root, root);
    assert.match(viaUrl.describe(), /local directory/);
    assert.throws(
      () => openStore("ftp://x/y"),
      (e: unknown) => e instanceof StoreError && e.code === "config",
    );
    assert.throws(() => openStore("file:///"), /file system root/);
  });
});

Deno.test("fs store: put/get/head/list/delete round trip", async () => {
  await withRoot(async (_root, store) => {
    const a = enc.encode("hello lifeboat");
    const b = bytes(300_000);
    const putA = await store.put("backups/2024-06-01/a.txt", a);
    assert.deepEqual([putA.key, putA.size, putA.sha256], [
      "backups/2024-06-01/a.txt",
      a.length,
      sha(a),
    ]);
    // Stream body, in uneven chunks.
    const chunks = [
      b.subarray(0, 1),
      b.subarray(1, 70_000),
      b.subarray(70_000),
    ];
    const putB = await store.put("backups/b.bin", ReadableStream.from(chunks));
    assert.equal(putB.sha256, sha(b));
    assert.equal(putB.size, b.length);
    await store.put("other/c", new Uint8Array(0));

    assert.deepEqual(await store.getBytes("backups/2024-06-01/a.txt"), a);
    assert.deepEqual(await readAll(await store.get("backups/b.bin")), b);
    const head = await store.head("backups/b.bin");
    assert.equal(head?.size, b.length);
    assert.equal(head?.sha256, sha(b));
    assert.equal(await store.head("backups/missing"), null);
    assert.equal(await store.head("backups/b.bin/nested"), null);

    const all = await collect(store.list());
    assert.deepEqual(all.map((o) => o.key), [
      "backups/2024-06-01/a.txt",
      "backups/b.bin",
      "other/c",
    ]);
    assert.deepEqual(all.map((o) => o.size), [a.length, b.length, 0]);
    assert.deepEqual(
      (await collect(store.list("backups/"))).map((o) => o.key),
      [
        "backups/2024-06-01/a.txt",
        "backups/b.bin",
      ],
    );
    assert.deepEqual(
      (await collect(store.list("backups/2024"))).map((o) => o.key),
      ["backups/2024-06-01/a.txt"],
    );
    assert.deepEqual(await collect(store.list("nothing/")), []);

    // Overwrite replaces content and hash.
    const a2 = enc.encode("second version");
    await store.put("backups/2024-06-01/a.txt", a2);
    assert.deepEqual(await store.getBytes("backups/2024-06-01/a.txt"), a2);
    assert.equal(
      (await store.head("backups/2024-06-01/a.txt"))?.sha256,
      sha(a2),
    );

    await store.delete("backups/b.bin");
    await store.delete("backups/b.bin"); // idempotent
    assert.equal(await store.head("backups/b.bin"), null);
    await rejectsWith(
      store.getBytes("backups/b.bin"),
      "not_found",
      /No object "backups\/b.bin"/,
    );
    await rejectsWith(store.get("backups/b.bin"), "not_found");
  });
});

Deno.test("fs store: a write in progress or failed is never visible", async () => {
  await withRoot(async (root, store) => {
    // In progress: half the bytes written, nothing visible yet.
    const m = manualStream();
    const pending = store.put("db/dump", m.stream);
    m.push(bytes(100_000));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await store.head("db/dump"), null);
    assert.deepEqual(await collect(store.list()), []);
    m.push(bytes(50_000, 2));
    m.end();
    const done = await pending;
    assert.equal(done.size, 150_000);
    assert.equal((await store.head("db/dump"))?.size, 150_000);

    // Failing source over an existing object: the old object survives whole,
    // and no temp file is left behind.
    const before = await store.getBytes("db/dump");
    const f = manualStream();
    const failing = store.put("db/dump", f.stream);
    f.push(bytes(10_000, 3));
    f.fail(new Error("pg_dump died"));
    await assert.rejects(failing, /pg_dump died/);
    assert.deepEqual(await store.getBytes("db/dump"), before);
    assert.equal((await store.head("db/dump"))?.sha256, sha(before));
    const names = (await Array.fromAsync(Deno.readDir(`${root}/db`))).map((e) =>
      e.name
    ).sort();
    assert.deepEqual(names.filter((n) => !n.startsWith(".lifeboat-meta.")), [
      "dump",
    ]);

    // A cancelled write is also invisible.
    const ac = new AbortController();
    const c = manualStream();
    const cancelled = store.put("db/other", c.stream, { signal: ac.signal });
    c.push(bytes(1000));
    await new Promise((r) => setTimeout(r, 20));
    ac.abort(); // while the put waits on a source that never delivers again
    await rejectsWith(cancelled, "aborted");
    assert.equal(await store.head("db/other"), null);

    // Expected hash mismatch: refused, nothing stored.
    await rejectsWith(
      store.put("db/checked", enc.encode("x"), { sha256: "0".repeat(64) }),
      "integrity",
    );
    assert.equal(await store.head("db/checked"), null);
    const ok = enc.encode("y");
    assert.equal(
      (await store.put("db/checked", ok, { sha256: sha(ok) })).sha256,
      sha(ok),
    );
  });
});

Deno.test("fs store: head recomputes the hash when the sidecar is stale or missing", async () => {
  await withRoot(async (root, store) => {
    await store.put("x/file", enc.encode("original"));
    // Replaced behind the store's back (e.g. restored by hand): new inode.
    const replacement = enc.encode("edited by hand!");
    await Deno.writeFile(`${root}/x/file.new`, replacement);
    await Deno.rename(`${root}/x/file.new`, `${root}/x/file`);
    assert.equal((await store.head("x/file"))?.sha256, sha(replacement));
    // Dropped in without any sidecar.
    await Deno.writeFile(`${root}/x/foreign`, enc.encode("foreign"));
    assert.equal(
      (await store.head("x/foreign"))?.sha256,
      sha(enc.encode("foreign")),
    );
    assert.deepEqual((await collect(store.list("x/"))).map((o) => o.key), [
      "x/file",
      "x/foreign",
    ]);
  });
});

Deno.test("fs store: keys that could escape the root are rejected", async () => {
  await withRoot(async (root, store) => {
    const outside = await Deno.makeTempDir({ prefix: "lifeboat-outside-" });
    try {
      const bad = [
        "../escape",
        "a/../../escape",
        "/etc/passwd",
        "a/./b",
        "a//b",
        "a/",
        "",
        "a\\..\\b",
        "con\0",
        "with space",
        ".lifeboat-meta.x",
        "a/.lifeboat-tmp.1",
        "x".repeat(1025),
      ];
      for (const key of bad) {
        await rejectsWith(store.put(key, enc.encode("nope")), "invalid_key");
        await rejectsWith(store.getBytes(key), "invalid_key");
        await rejectsWith(store.head(key), "invalid_key");
        await rejectsWith(store.delete(key), "invalid_key");
      }
      await assert.rejects(
        collect(store.list("../")),
        (e: unknown) => e instanceof StoreError && e.code === "invalid_key",
      );
      // A symlinked directory inside the root must not be written through.
      await Deno.symlink(outside, `${root}/link`);
      await rejectsWith(
        store.put("link/x", enc.encode("nope")),
        "invalid_key",
        /outside the store root/,
      );
      assert.deepEqual(await Array.fromAsync(Deno.readDir(outside)), []);
      assert.equal((await Array.fromAsync(Deno.readDir(root))).length, 1); // just the link
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});

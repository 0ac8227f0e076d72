// The bulk COPY reader (supabase/functions/_shared/db/copy_out) against real Postgres: the bytes
// and row counts equal postgres.js's own per-row stream for small, empty and multi-megabyte
// rows; an error in the middle of a COPY rejects and leaves the connection usable; a cancelled
// read fails without hanging; the bulk path is really the one taken; and pausing the
// connection bounds what a slow consumer holds.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { releaseOwned } from "../../supabase/functions/_shared/release.ts";
import { BatchQueue, canPauseReading, connect, copyOut, copyOutRegistry, type Sql, type Tx } from "../../supabase/functions/_shared/db/mod.ts";
import { db, dbUrl } from "../../harness/stack.ts";

async function readAll(sql: Sql, statement: string, batchBytes = 64 * 1024) {
  const chunks: Uint8Array[] = [];
  const batchRows: number[] = [];
  const queue = new BatchQueue((b, rows) => {
    // A batch holds whole rows only.
    assert.equal(b[b.length - 1], 10);
    chunks.push(b.slice());
    batchRows.push(rows);
  });
  const got = await sql.begin((tx) => copyOut(tx as unknown as Tx, statement, queue, { registry: copyOutRegistry(sql), batchBytes }));
  await queue.drain();
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) bytes.set(c, (o += c.length) - c.length);
  assert.equal(got.bytes, bytes.length);
  assert.equal(batchRows.reduce((a, b) => a + b, 0), got.rows);
  return { ...got, bytes, sha: Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))).join(",") };
}

Deno.test("copy_out: bulk reading gives the same rows and bytes as postgres.js's stream", async () => {
  const schema = `copy_out_${crypto.randomUUID().slice(0, 8)}`;
  const admin = db();
  const bulk = connect(dbUrl(), { bulkCopyOut: true });
  const plain = connect(dbUrl());
  try {
    await admin.unsafe(`
      create schema ${schema};
      create table ${schema}.t (id int, v text, b bytea);
      insert into ${schema}.t select i, repeat(md5(i::text), i % 7) || E'\\t\\\\N\\n', null from generate_series(1, 30000) i;
      -- Rows far bigger than a socket read: each spans many chunks.
      insert into ${schema}.t select -i, repeat('x', 3000000 + i), decode(repeat(md5(i::text), 20000), 'hex') from generate_series(1, 3) i;
      create table ${schema}.empty (x int);`);
    for (const stmt of [`copy ${schema}.t to stdout`, `copy ${schema}.empty to stdout`, `copy (select * from ${schema}.t where id > 29990) to stdout`]) {
      const a = await readAll(bulk, stmt);
      const b = await readAll(plain, stmt);
      assert.equal(a.rows, b.rows, stmt);
      assert.equal(a.bytes.length, b.bytes.length, stmt);
      assert.equal(a.sha, b.sha, stmt);
    }
    const [{ n }] = await admin.unsafe(`select count(*)::int as n from ${schema}.t`);
    assert.equal((await readAll(bulk, `copy ${schema}.t to stdout`)).rows, n);
    const routed = [...copyOutRegistry(bulk)!].reduce((s, x) => s + x.rowsRouted, 0);
    assert.ok(routed >= 2 * n, `the bulk socket routed ${routed} rows; expected at least ${2 * n}`);
    assert.equal(copyOutRegistry(plain), undefined);
  } finally {
    await admin.unsafe(`drop schema if exists ${schema} cascade`);
    await Promise.all([admin.end(), bulk.end(), plain.end()]);
  }
});

Deno.test("copy_out: an error in the middle of a COPY rejects and the connection stays usable", async () => {
  const bulk = connect(dbUrl(), { bulkCopyOut: true, max: 1 });
  try {
    const queue = new BatchQueue(() => {});
    const conn = await bulk.reserve();
    try {
      // Rows 1..4999 are sent before the division by zero at row 5000.
      await assert.rejects(
        copyOut(conn as unknown as Tx, "copy (select 1 / (5000 - g), repeat('y', 200) from generate_series(1, 10000) g) to stdout", queue, {
          registry: copyOutRegistry(bulk),
        }),
        (err: { code?: string }) => err.code === "22012",
      );
      await queue.drain();
      const [{ one }] = await conn`select 1 as one`;
      assert.equal(one, 1);
      // The next COPY on the same connection is read in bulk again.
      const q2 = new BatchQueue(() => {});
      const got = await copyOut(conn as unknown as Tx, "copy (select g from generate_series(1, 1000) g) to stdout", q2, {
        registry: copyOutRegistry(bulk),
      });
      await q2.drain();
      assert.equal(got.rows, 1000);
    } finally {
      conn.release();
    }
  } finally {
    await bulk.end();
  }
});

Deno.test("copy_out: a handler failure and a cancelled read both reject; the connection is not left hanging", async () => {
  const bulk = connect(dbUrl(), { bulkCopyOut: true, max: 1 });
  try {
    const conn = await bulk.reserve();
    try {
      const failing = new BatchQueue(() => {
        throw new Error("store unreachable");
      });
      await copyOut(conn as unknown as Tx, "copy (select g, md5(g::text) from generate_series(1, 50000) g) to stdout", failing, {
        registry: copyOutRegistry(bulk),
        batchBytes: 4096,
      });
      await assert.rejects(failing.drain(), /store unreachable/);

      const ac = new AbortController();
      const slow = new BatchQueue(() => {});
      const read = copyOut(conn as unknown as Tx, "copy (select g, pg_sleep(case when g = 2 then 0.5 else 0 end) from generate_series(1, 3) g) to stdout", slow, {
        registry: copyOutRegistry(bulk),
        signal: ac.signal,
      });
      setTimeout(() => ac.abort(new Error("cancelled by the test")), 100);
      await assert.rejects(read, /cancelled by the test/);
      // Once the server finishes that statement the connection serves queries again.
      const [{ one }] = await conn`select 1 as one`;
      assert.equal(one, 1);
    } finally {
      conn.release();
    }
  } finally {
    await bulk.end();
  }
});

Deno.test("copy_out: with pauseAtBytes a slow consumer holds the server back; every row still arrives, and a failing one does not hang", async () => {
  const bulk = connect(dbUrl(), { bulkCopyOut: true, max: 1 });
  // ~31 MB of COPY text, produced far faster than the handler below takes it.
  const statement = "copy (select g, repeat(md5(g::text), 3) from generate_series(1, 300000) g) to stdout";
  const pauseAt = 1024 * 1024;
  const batchBytes = 64 * 1024;
  const read = async (opts: { pauseAtBytes?: number; failAt?: number; handlerMs?: number }) => {
    let maxPending = 0;
    let batches = 0;
    let bytes = 0;
    const queue = new BatchQueue(async (b) => {
      if (++batches === opts.failAt) throw new Error("store unreachable");
      bytes += b.length;
      // 5 ms per 64 KiB (13 MB/s): slower than the server produces even on a busy host, so
      // without pausing the queue grows (at 2 ms it did not while other work shared the cores).
      await new Promise((r) => setTimeout(r, opts.handlerMs ?? 5));
    });
    const poll = setInterval(() => (maxPending = Math.max(maxPending, queue.pendingBytes)), 1);
    try {
      const got = await bulk.begin((tx) =>
        copyOut(tx as unknown as Tx, statement, queue, { registry: copyOutRegistry(bulk), batchBytes, pauseAtBytes: opts.pauseAtBytes })
      );
      const drained = await queue.drain().then(() => null, (err: Error) => err);
      return { got, bytes, maxPending: Math.max(maxPending, queue.pendingBytes), drained };
    } finally {
      clearInterval(poll);
    }
  };
  try {
    const paused = await read({ pauseAtBytes: pauseAt });
    assert.equal(paused.drained, null);
    assert.equal(paused.got.rows, 300000);
    assert.equal(paused.bytes, paused.got.bytes, "every byte read was handled");
    // Reading stops at pauseAt; what is already in hand (one socket read, one batch) may follow.
    assert.ok(paused.maxPending <= pauseAt + 512 * 1024, `pending peaked at ${paused.maxPending} bytes with pauseAtBytes ${pauseAt}`);

    // The same read without it queues most of the statement: the bound above is the pausing.
    // A slower handler here (3 MB/s), because a host at load 19 produced COPY text at only
    // about the 13 MB/s of the one above, and then nothing queued either way.
    const unpaused = await read({ handlerMs: 20 });
    assert.equal(unpaused.got.rows, 300000);
    assert.ok(unpaused.maxPending > 4 * pauseAt, `without pausing, pending peaked at only ${unpaused.maxPending} bytes`);

    // A handler that fails while the connection is paused resumes it: the rest of the COPY is
    // read and dropped, the failure surfaces, and the connection serves the next query.
    const failing = await read({ pauseAtBytes: pauseAt, failAt: 40 });
    assert.match(String(failing.drained), /store unreachable/);
    assert.equal(failing.got.rows, 300000, "the COPY was read to its end");
    const [{ one }] = await bulk`select 1 as one`;
    assert.equal(one, 1);
  } finally {
    await bulk.end();
  }
});

Deno.test("copy_out: over TLS the bulk socket does not claim it can pause, so exports read big tables in slices", async () => {
  // Deno's node:tls keeps delivering data while paused (251 MB of a 314 MB COPY queued behind
  // a slow consumer when this was measured), so only plain TCP may be paused to bound memory.
  const tlsBulk = connect(withSslMode(dbUrl(), "require"), { bulkCopyOut: true, max: 1 });
  const plainBulk = connect(dbUrl(), { bulkCopyOut: true, max: 1 });
  try {
    for (const [sql, expected] of [[tlsBulk, false], [plainBulk, true]] as const) {
      await sql.begin(async (tx) => {
        assert.equal(await canPauseReading(tx as unknown as Tx, copyOutRegistry(sql)), expected);
        // pauseAtBytes is ignored where pausing does not work: the read still completes.
        const queue = new BatchQueue(() => {});
        const got = await copyOut(tx as unknown as Tx, "copy (select g from generate_series(1, 100000) g) to stdout", queue, {
          registry: copyOutRegistry(sql),
          pauseAtBytes: 64 * 1024,
        });
        await queue.drain();
        assert.equal(got.rows, 100000);
      });
    }
  } finally {
    await Promise.all([tlsBulk.end(), plainBulk.end()]);
  }
});

/** `url` with its sslmode set. */
function withSslMode(url: string, mode: string): string {
  const u = new URL(url);
  u.searchParams.set("sslmode", mode);
  return u.toString();
}

Deno.test("copy_out: over TLS (sslmode=require) the bulk socket negotiates TLS itself and reads the same bytes", async () => {
  const tlsBulk = connect(withSslMode(dbUrl(), "require"), { bulkCopyOut: true, max: 1 });
  const plain = connect(dbUrl());
  try {
    // The server really encrypts this session (pg_stat_ssl), and COPY goes through the bulk path.
    const [{ ssl }] = await tlsBulk`select ssl from pg_catalog.pg_stat_ssl where pid = pg_catalog.pg_backend_pid()`;
    assert.equal(ssl, true, "the stack's Postgres should accept TLS (scripts/stack.sh makes a certificate)");
    const stmt = "copy (select g, md5(g::text), repeat('z', g % 5000) from generate_series(1, 20000) g) to stdout";
    const a = await readAll(tlsBulk, stmt);
    const b = await readAll(plain, stmt);
    assert.equal(a.rows, 20000);
    assert.equal(a.sha, b.sha);
    const routed = [...copyOutRegistry(tlsBulk)!].reduce((s, x) => s + x.rowsRouted, 0);
    assert.ok(routed >= 20000, `the bulk socket routed ${routed} rows over TLS`);
  } finally {
    await Promise.all([tlsBulk.end(), plain.end()]);
  }
});

Deno.test("copy_out: sslmode=verify-full refuses the stack's self-signed certificate", async () => {
  const strict = connect(withSslMode(dbUrl(), "verify-full"), { bulkCopyOut: true, max: 1, connectTimeoutSeconds: 5 });
  try {
    await assert.rejects(strict`select 1`, (err: Error) => /certificate/i.test(err.message), "an unverifiable certificate must not be accepted");
  } finally {
    await strict.end();
  }
});

// --- the socket's protocol state machine, fed exact byte boundaries ---------------------------
// Real Postgres decides where its TCP sends split; these cases pin the splits that matter.

import { EventEmitter } from "node:events";
import { Buffer } from "node:buffer";
import { CopyOutSocket } from "../../supabase/functions/_shared/db/mod.ts";

/** One protocol message: type byte, int32 length, body. */
function msg(type: string, body: Uint8Array | string = new Uint8Array(0)): Uint8Array {
  const b = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const m = new Uint8Array(5 + b.length);
  m[0] = type.charCodeAt(0);
  new DataView(m.buffer).setUint32(1, 4 + b.length);
  m.set(b, 5);
  return m;
}
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

class FakeRaw extends EventEmitter {
  write() {
    return true;
  }
  end() {}
  destroy() {}
  pause() {}
  resume() {}
  setKeepAlive() {}
}

function recordingSink() {
  const got = { bytes: "", rows: 0, finished: [] as (number | null)[] };
  return {
    got,
    sink: {
      data(c: Uint8Array, s: number, e: number, rows: number) {
        got.bytes += new TextDecoder().decode(c.subarray(s, e));
        got.rows += rows;
      },
      finished(rows: number | null) {
        got.finished.push(rows);
      },
    },
  };
}

Deno.test("copy_out socket: a ReadyForQuery of the previous statement arriving after arming does not end the next COPY", () => {
  const raw = new FakeRaw();
  const sock = new CopyOutSocket(raw);
  const passed: Uint8Array[] = [];
  sock.on("data", (b: Uint8Array) => passed.push(b));
  const { got, sink } = recordingSink();
  sock.arm(sink);
  // The previous statement's tail (CommandComplete + ReadyForQuery) comes in a read of its own.
  const previousTail = cat(msg("C", "SELECT 1\0"), msg("Z", "I"));
  raw.emit("data", Buffer.from(previousTail));
  assert.deepEqual(got.finished, [], "the late ReadyForQuery must not finish the armed sink");
  const copy = cat(msg("H", new Uint8Array([0, 0, 0])), msg("d", "1\ta\n"), msg("d", "2\tb\n"), msg("d", "3\tc\n"), msg("c"));
  const tail = cat(msg("C", "COPY 3\0"), msg("Z", "T"));
  // Split inside a header, inside a row and between CopyDone and CommandComplete.
  const all = cat(copy, tail);
  for (const [a, b] of [[0, 7], [7, 20], [20, copy.length], [copy.length, copy.length + 3], [copy.length + 3, all.length]]) {
    raw.emit("data", Buffer.from(all.subarray(a, b)));
  }
  assert.equal(got.bytes, "1\ta\n2\tb\n3\tc\n");
  assert.equal(got.rows, 3);
  assert.deepEqual(got.finished, [3], "finished once, with the server's row count");
  // postgres.js still received everything but the rows: it owns the protocol.
  const seen = Buffer.concat(passed);
  assert.equal(seen.length, previousTail.length + all.length - 3 * msg("d", "1\ta\n").length, "all bytes except the three CopyData messages reach postgres.js");
});

Deno.test("copy_out socket: an error during the COPY finishes the sink without a count", () => {
  const raw = new FakeRaw();
  const sock = new CopyOutSocket(raw);
  sock.on("data", () => {});
  const { got, sink } = recordingSink();
  sock.arm(sink);
  raw.emit("data", Buffer.from(cat(msg("H", new Uint8Array([0, 0, 0])), msg("d", "1\n"), msg("E", "SERROR\0C22012\0\0"), msg("Z", "E"))));
  assert.equal(got.rows, 1);
  assert.deepEqual(got.finished, [null]);
  // The connection can be armed again for the next statement.
  const next = recordingSink();
  sock.arm(next.sink);
  raw.emit("data", Buffer.from(cat(msg("H", new Uint8Array([0, 0, 0])), msg("d", "9\n"), msg("c"), msg("C", "COPY 1\0"), msg("Z", "I"))));
  assert.deepEqual(next.got.finished, [1]);
  assert.equal(next.got.bytes, "9\n");
});

Deno.test("copy_out: a handler may free each batch it is done with; batches fit their buffers, and the queue's count stays right", async () => {
  const schema = `copy_out_${crypto.randomUUID().slice(0, 8)}`;
  const admin = db();
  const bulk = connect(dbUrl(), { bulkCopyOut: true });
  const plain = connect(dbUrl());
  const batchBytes = 256 * 1024;
  try {
    await admin.unsafe(`
      create schema ${schema};
      create table ${schema}.t (id int, v text);
      insert into ${schema}.t select i, repeat(md5(i::text), 1 + i % 5) from generate_series(1, 60000) i;`);
    const statement = `copy ${schema}.t to stdout`;
    const hash = createHash("sha256");
    const bufferSizes: number[] = [];
    let rows = 0;
    const queue = new BatchQueue((b, r) => {
      bufferSizes.push(b.buffer.byteLength);
      hash.update(b);
      rows += r;
      releaseOwned(b); // what the exporter does once a batch is compressed
    });
    const got = await bulk.begin((tx) => copyOut(tx as unknown as Tx, statement, queue, { registry: copyOutRegistry(bulk), batchBytes }));
    await queue.drain();
    // Counted by the length each batch had when queued, not after it was freed.
    assert.equal(queue.pendingBytes, 0);
    await queue.below(1);
    assert.equal(rows, 60000);
    assert.equal(got.rows, 60000);
    assert.ok(bufferSizes.length >= 8, `${bufferSizes.length} batches`);
    // Every batch buffer is the batch size plus room for one socket read: none was outgrown
    // and copied into a buffer twice its size.
    assert.ok(Math.max(...bufferSizes) <= batchBytes + 64 * 1024, `largest batch buffer ${Math.max(...bufferSizes)}`);
    const reference = await readAll(plain, statement);
    assert.equal(got.bytes, reference.bytes.length);
    assert.equal(hash.digest("hex"), createHash("sha256").update(reference.bytes).digest("hex"));
  } finally {
    await admin.unsafe(`drop schema if exists ${schema} cascade`);
    await Promise.all([admin.end(), bulk.end(), plain.end()]);
  }
});

// The export engine against real Postgres and a local store: parts cut by size (whole rows,
// each a self-contained COPY script), key-range parts, one snapshot shared by every worker,
// unencrypted output only by request, and bad selections refused.
import assert from "node:assert/strict";
import { type Compression, decompressStream } from "../../supabase/functions/_shared/crypto/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import {
  copyTableToParts,
  ExportConfigError,
  exportBackup,
  SelectionError,
  type TableInfo,
} from "../../supabase/functions/_shared/export/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { checkIntegrity } from "../../supabase/functions/_shared/verify/mod.ts";
import { latestBackupId } from "../../supabase/functions/_shared/verify/mod.ts";
import { readManifest, verifyObjects } from "../../harness/export_env.ts";
import { db, dbUrl } from "../../harness/stack.ts";

async function plainText(store: ReturnType<typeof openStore>, key: string, codec: Compression = "zstd"): Promise<string> {
  return await new Response((await store.get(key)).pipeThrough(decompressStream(codec))).text();
}

async function withSchema(fn: (schema: string) => Promise<void>) {
  const schema = `export_eng_${crypto.randomUUID().slice(0, 8)}`;
  const sql = db();
  try {
    await sql.unsafe(`
      create schema ${schema};
      create table ${schema}.t (id int primary key, v text, g int generated always as (id * 2) stored);
      insert into ${schema}.t select i, repeat(md5(i::text), 3) || E'\\t\\\\N\\n' from generate_series(1, 20000) i;
      create table ${schema}.empty (x int);
      create table ${schema}."no columns" ();
      insert into ${schema}."no columns" default values;`);
    await fn(schema);
  } finally {
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end();
  }
}

Deno.test("engine: slices and parts cut at row boundaries, each part a COPY script; snapshot holds across workers", async () => {
  await withSchema(async (schema) => {
    const dir = await Deno.makeTempDir();
    const store = openStore(dir);
    const sql = connect(dbUrl(), { max: 4 });
    const writer = db();
    try {
      const r = await exportBackup({
        sql, store, recipients: [], unencrypted: true, selection: { includeSchemas: [schema] },
        partBytes: 256 * 1024, batchBytes: 64 * 1024, concurrency: 2, sliceBytes: 64 * 1024,
        // Rows committed after the snapshot was exported must not appear in the backup,
        // although the workers only start reading after this.
        onSnapshot: async () => {
          await writer.unsafe(`insert into ${schema}.t select i, 'late' from generate_series(20001, 21000) i`);
        },
      });
      const m = await readManifest(store, r.id);
      assert.equal(m.encryption.scheme, "none");
      assert.equal(m.encryption.unencryptedByRequest, true);
      assert.equal(m.compression, "zstd", "zstd is the default codec");
      assert.ok(m.objects.every((o) => o.key.endsWith(".zst")), "unencrypted zstd objects end in .zst");
      const t = m.tables.find((x) => x.name === "t")!;
      assert.equal(t.rows, 20000, "rows committed after the snapshot are not exported");
      assert.equal((t.fingerprint as { rows: number }).rows, 20000, "the fingerprint was taken in the snapshot too");
      assert.ok(t.parts.length >= 4, `expected several parts, got ${t.parts.length}`);
      let rows = 0;
      for (const [i, key] of t.parts.entries()) {
        const text = await plainText(store, `${r.id}/${key}`);
        const lines = text.split("\n");
        assert.equal(lines[0], `COPY "${schema}"."t" ("id", "v") FROM stdin;`, "generated columns are not copied");
        assert.equal(lines.at(-2), "\\.");
        assert.equal(lines.at(-1), "");
        const body = lines.slice(1, -2);
        rows += body.length;
        assert.ok(body.every((l) => /^\d+\t[0-9a-f]{96}\\t\\\\N\\n$/.test(l)), "escapes survive and rows are whole");
        const obj = m.objects.find((o) => o.key === key)!;
        assert.equal(obj.part, i);
        assert.equal(obj.rows, body.length);
        assert.ok(text.length <= 256 * 1024 + 64 * 1024 + 200, "a part exceeds the limit by at most one batch");
      }
      assert.equal(rows, 20000);
      const empty = m.tables.find((x) => x.name === "empty")!;
      assert.equal(empty.parts.length, 1, "an empty table still has one (empty) part");
      assert.equal(await plainText(store, `${r.id}/${empty.parts[0]}`), `COPY "${schema}"."empty" ("x") FROM stdin;\n\\.\n`);
      const noCols = m.tables.find((x) => x.name === "no columns")!;
      assert.equal(noCols.rows, 1);
      assert.equal(await plainText(store, `${r.id}/${noCols.parts[0]}`), `COPY "${schema}"."no columns" FROM stdin;\n\n\\.\n`);
      assert.deepEqual(await verifyObjects(store, r.id, m), []);
      assert.deepEqual(m.objects.map((o) => o.kind).filter((k, i, a) => a.indexOf(k) === i), ["roles", "pre-data", "data", "post-data", "finalize"]);
      // verify checks the codec's magic number of unencrypted objects against the manifest.
      const good = await checkIntegrity(store, m);
      assert.deepEqual(good.checks.filter((c) => c.level !== "ok"), []);
      const lying = await checkIntegrity(store, { ...m, compression: "gzip" });
      const wrong = lying.checks.filter((c) => c.check === "compression_header");
      assert.equal(wrong.length, m.objects.length);
      assert.match(wrong[0].detail, /the object is zstd-compressed, the manifest says gzip/);
    } finally {
      await sql.end();
      await writer.end();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("engine: a part can be produced for a key range", async () => {
  await withSchema(async (schema) => {
    const dir = await Deno.makeTempDir();
    const store = openStore(dir);
    const sql = connect(dbUrl(), { max: 1 });
    try {
      const table: TableInfo = { schema, name: "t", oid: 0, columns: ["id", "v"], sizeBytes: 0, estimatedRows: 0 };
      const parts = await sql.begin("isolation level repeatable read, read only", (tx) =>
        copyTableToParts(tx, table, { store, prefix: "range/", seal: { recipients: [], compression: "gzip" }, partBytes: 1 << 30 }, {
          range: { keyColumns: ["id"], lower: ["100"], upper: ["200"] },
          firstPart: 7,
        }));
      assert.equal(parts.length, 1);
      assert.equal(parts[0].part, 7);
      assert.equal(parts[0].rows, 100);
      assert.match(parts[0].relKey, /\.copy\.sql\.gz$/);
      const text = await plainText(store, `range/${parts[0].relKey}`, "gzip");
      const ids = text.split("\n").slice(1, -2).map((l) => Number(l.split("\t")[0]));
      assert.deepEqual(ids, Array.from({ length: 100 }, (_, i) => 100 + i), "rows in key order, upper bound excluded");
    } finally {
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("engine: refuses to run unencrypted by accident, and names a missing table", async () => {
  const dir = await Deno.makeTempDir();
  const store = openStore(dir);
  const sql = connect(dbUrl(), { max: 2 });
  try {
    await assert.rejects(() => exportBackup({ sql, store, recipients: [] }), ExportConfigError);
    await assert.rejects(
      () => exportBackup({ sql, store, recipients: [], unencrypted: true, selection: { tables: [{ schema: "public", name: "no_such_table" }] } }),
      (err: unknown) => err instanceof SelectionError && /public\.no_such_table.*no such table/.test(err.message),
    );
    const left = [];
    for await (const o of store.list("")) left.push(o.key);
    assert.deepEqual(left, [], "a failed export leaves nothing behind");
  } finally {
    await sql.end();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("engine: --latest tells apart backups started in the same second (ids carry whole seconds)", async () => {
  await withSchema(async (schema) => {
    const dir = await Deno.makeTempDir();
    const store = openStore(dir);
    const sql = connect(dbUrl(), { max: 4 });
    try {
      // The second backup gets the smaller random suffix, so id order alone would pick the first.
      for (const id of ["20261202T120000Z-ffffffff", "20261202T120000Z-00000000"]) {
        await exportBackup({ sql, store, id, recipients: [], unencrypted: true, selection: { includeSchemas: [schema] } });
      }
      assert.equal(await latestBackupId(store), "20261202T120000Z-00000000");
      await exportBackup({ sql, store, id: "20261202T115959Z-99999999", recipients: [], unencrypted: true, selection: { includeSchemas: [schema] } });
      assert.equal(await latestBackupId(store), "20261202T120000Z-00000000", "an id of an earlier second never wins");
    } finally {
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

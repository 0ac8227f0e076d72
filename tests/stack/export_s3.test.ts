// The export engine writing to a real Ceph RGW: a table big enough for multipart uploads,
// the Debian age CLI decrypting a part fetched back from S3, retries through the
// fault-injecting proxy (500s, stalls, resets), a store that keeps failing leaving no
// manifest and no objects behind, and part uploads overlapping against a slow endpoint.
import assert from "node:assert/strict";
import { generateIdentity, openStream } from "../../supabase/functions/_shared/crypto/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import { exportBackup } from "../../supabase/functions/_shared/export/mod.ts";
import { openStore, type S3Options, type Store, StoreError } from "../../supabase/functions/_shared/store/mod.ts";
import { hasS3, readManifest, verifyObjects } from "../../harness/export_env.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { startFaultProxy } from "../../harness/fault_proxy.ts";
import { db, dbUrl, run, stackEnv } from "../../harness/stack.ts";

const MiB = 1024 * 1024;
const ignore = !hasS3();

function s3Store(prefix: string, endpoint: string, extra: Partial<S3Options> = {}) {
  return openStore(`s3://${stackEnv("LIFEBOAT_S3_BUCKET")}/${prefix}`, {
    s3: { endpoint, partSize: 5 * MiB, concurrency: 2, ...extra },
    env: {
      LIFEBOAT_S3_REGION: stackEnv("LIFEBOAT_S3_REGION"),
      LIFEBOAT_S3_ACCESS_KEY_ID: stackEnv("LIFEBOAT_S3_ACCESS_KEY_ID"),
      LIFEBOAT_S3_SECRET_ACCESS_KEY: stackEnv("LIFEBOAT_S3_SECRET_ACCESS_KEY"),
    },
  });
}

/** A schema with one ~24 MB table of barely compressible text (stored parts > 5 MiB). */
async function withBigTable(fn: (schema: string) => Promise<void>) {
  const schema = `export_s3_${crypto.randomUUID().slice(0, 8)}`;
  const sql = db();
  try {
    await sql.unsafe(`
      create schema ${schema};
      create table ${schema}.big (id int primary key, v text);
      insert into ${schema}.big
        select i, md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text) from generate_series(1, 200000) i;`);
    await fn(schema);
  } finally {
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end();
    await emptyStore(s3Store(`export-tests/${schema}`, stackEnv("LIFEBOAT_S3_ENDPOINT")));
  }
}

Deno.test({ name: "s3: a big table goes up as a streamed multipart upload; age CLI decrypts a part fetched back", ignore, async fn() {
  await withBigTable(async (schema) => {
    const proxy = await startFaultProxy(stackEnv("LIFEBOAT_S3_ENDPOINT"));
    const sql = connect(dbUrl(), { max: 4 });
    const dir = await Deno.makeTempDir();
    const store = s3Store(`export-tests/${schema}`, proxy.url);
    try {
      const { identity, recipient } = await generateIdentity();
      // A 1 MiB buffer forces the streaming path (parts are normally buffered, see part_writer.ts).
      // gzip: its larger output (md5 hex compresses about 1.2x, zstd 2x) makes three upload parts certain.
      const r = await exportBackup({
        sql, store, recipients: [recipient], selection: { includeSchemas: [schema] }, partBytes: 64 * MiB, bufferBytes: MiB,
        compression: "gzip",
      });
      const m = await readManifest(store, r.id);
      const big = m.tables.find((t) => t.name === "big")!;
      assert.equal(big.rows, 200000);
      assert.equal(big.parts.length, 1);
      const part = m.objects.find((o) => o.key === big.parts[0])!;
      assert.ok(part.size > 10 * MiB, `the stored part is ${part.size} bytes`);
      assert.ok(proxy.count({ method: "POST", query: /uploads/ }) >= 1, "a multipart upload was started");
      assert.ok(proxy.count({ method: "PUT", query: /partNumber=3/ }) >= 1, "at least three parts were uploaded");
      assert.deepEqual(await verifyObjects(store, r.id, m), []);

      // The object in S3 is standard age: the Debian CLI opens it.
      await Deno.writeTextFile(`${dir}/key.txt`, `${identity}\n`);
      const file = await Deno.open(`${dir}/part.age`, { write: true, create: true });
      await (await store.get(`${r.id}/${part.key}`)).pipeTo(file.writable);
      const head = await run("bash", ["-c", `age -d -i "${dir}/key.txt" "${dir}/part.age" | gunzip | head -n 2`]);
      assert.equal(head.stdout.split("\n")[0], `COPY "${schema}"."big" ("id", "v") FROM stdin;`);
      assert.match(head.stdout.split("\n")[1], /^1\t[0-9a-f]{96}$/);
      // And so does our own reader, to the last line.
      const text = await new Response(await openStream(await store.get(`${r.id}/${part.key}`), [identity], m.compression)).text();
      assert.ok(text.endsWith("\n\\.\n"));
    } finally {
      await sql.end();
      await proxy.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
} });

Deno.test({ name: "s3: 500s, a stall and connection resets are retried; the backup is complete and intact", ignore, async fn() {
  await withBigTable(async (schema) => {
    const proxy = await startFaultProxy(stackEnv("LIFEBOAT_S3_ENDPOINT"));
    const sql = connect(dbUrl(), { max: 4 });
    const store = s3Store(`export-tests/${schema}`, proxy.url, {
      retry: { attempts: 6, baseDelayMs: 20, maxDelayMs: 200, timeoutMs: 3_000 },
    });
    try {
      proxy.inject({ method: "PUT", query: /partNumber=2/, fault: { kind: "status", status: 500, code: "InternalError" }, times: 2 });
      proxy.inject({ method: "PUT", query: /partNumber=1/, fault: { kind: "stall" }, times: 1 });
      proxy.inject({ method: "PUT", path: /schema\/pre-data/, fault: { kind: "reset" }, times: 1 });
      proxy.inject({ method: "PUT", query: /partNumber=3/, fault: { kind: "reset" }, times: 1 });
      proxy.inject({ method: "PUT", path: /manifest\.json/, fault: { kind: "status", status: 503, code: "SlowDown" }, times: 1 });
      const { recipient } = await generateIdentity();
      // gzip: a 16 MiB part stays over the 8 MiB buffer and needs three upload parts (zstd halves it).
      const r = await exportBackup({
        sql, store, recipients: [recipient], selection: { includeSchemas: [schema] }, partBytes: 16 * MiB, compression: "gzip",
      });
      const faults = proxy.seen.filter((s) => s.fault).map((s) => s.fault);
      assert.deepEqual(faults.sort(), ["reset", "reset", "stall", "status", "status", "status"], "every fault was hit");
      const m = await readManifest(store, r.id);
      assert.equal(m.tables[0].rows, 200000);
      assert.deepEqual(await verifyObjects(store, r.id, m), []);
    } finally {
      await sql.end();
      await proxy.close();
    }
  });
} });

Deno.test({ name: "s3: a store that keeps failing fails the export with no manifest and no leftovers", ignore, async fn() {
  await withBigTable(async (schema) => {
    const proxy = await startFaultProxy(stackEnv("LIFEBOAT_S3_ENDPOINT"));
    const sql = connect(dbUrl(), { max: 4 });
    const prefix = `export-tests/${schema}`;
    const store = s3Store(prefix, proxy.url, { retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 3_000 } });
    try {
      // The third part keeps failing while the parts before it may still be uploading.
      proxy.inject({ method: "PUT", path: /part-00002/, fault: { kind: "status", status: 500, code: "InternalError" }, times: Infinity });
      const { recipient } = await generateIdentity();
      await assert.rejects(
        () => exportBackup({ sql, store, recipients: [recipient], selection: { includeSchemas: [schema] }, partBytes: 2 * MiB }),
        (err: unknown) => err instanceof StoreError && err.code === "unavailable",
      );
      assert.ok(proxy.count({ method: "PUT", path: /part-00001/ }) >= 1, "earlier parts were uploaded");
      const left: string[] = [];
      for await (const o of s3Store(prefix, stackEnv("LIFEBOAT_S3_ENDPOINT")).list("")) left.push(o.key);
      assert.deepEqual(left, [], "no manifest, and the objects already stored were removed");
    } finally {
      await sql.end();
      await proxy.close();
    }
  });
} });

/** `store` with its puts counted: how many ran at once, at most. */
function countingPuts(store: Store): { store: Store; maxAtOnce: () => number } {
  let now = 0;
  let max = 0;
  const counted = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key !== "put") return typeof value === "function" ? value.bind(target) : value;
      return async (...args: Parameters<Store["put"]>) => {
        max = Math.max(max, ++now);
        try {
          return await target.put(...args);
        } finally {
          now--;
        }
      };
    },
  });
  return { store: counted, maxAtOnce: () => max };
}

Deno.test({ name: "s3: against a slow endpoint a table's parts upload while the next is written, and are recorded in order", ignore, async fn() {
  await withBigTable(async (schema) => {
    const proxy = await startFaultProxy(stackEnv("LIFEBOAT_S3_ENDPOINT"));
    proxy.inject({ fault: { kind: "delay", ms: 30 }, times: Infinity });
    const sql = connect(dbUrl(), { max: 4, bulkCopyOut: true });
    try {
      const { recipient } = await generateIdentity();
      for (const uploadsInFlight of [0, 2]) {
        const { store, maxAtOnce } = countingPuts(s3Store(`export-tests/${schema}/${uploadsInFlight}`, proxy.url));
        const reported: string[] = [];
        const r = await exportBackup({
          sql, store, recipients: [recipient], selection: { includeSchemas: [schema] }, partBytes: 2 * MiB, uploadsInFlight,
          onObject: (o) => {
            if (o.kind === "data") reported.push(o.key);
          },
        });
        const m = await readManifest(store, r.id);
        const big = m.tables.find((t) => t.name === "big")!;
        assert.ok(big.parts.length >= 8, `${big.parts.length} parts`);
        assert.equal(big.rows, 200000);
        assert.deepEqual(reported, big.parts, "parts are recorded in part order");
        assert.deepEqual(big.parts, [...big.parts].sort());
        assert.deepEqual(await verifyObjects(store, r.id, m), []);
        // Schema scripts go up one at a time: any overlap is the data parts'.
        if (uploadsInFlight === 0) assert.equal(maxAtOnce(), 1, "each part waits for the one before");
        else assert.ok(maxAtOnce() >= 2, `at most ${maxAtOnce()} puts ran at once`);
      }
    } finally {
      await sql.end();
      await proxy.close();
    }
  });
} });

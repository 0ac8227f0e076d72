// Storage files in a backup, against the real Storage server and a real store: the demo app's
// files backed up and restored into a second project with equal sha256; a second backup that
// reads no file bytes; files deleted, overwritten, or in a bucket deleted after the snapshot;
// the Storage server restarting mid-backup; a target that already has the names; retention
// that keeps referenced blobs; bad and missing keys; verify finding a damaged blob.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import { blobNamespace, type FilesSection } from "../../supabase/functions/_shared/format/mod.ts";
import {
  backupFiles,
  readStorageRows,
  StorageApi,
  sweepBlobs,
  verifyFiles,
} from "../../supabase/functions/_shared/source/storage/mod.ts";
import { openStore, type Store } from "../../supabase/functions/_shared/store/mod.ts";
import { hasS3, lifeboat } from "../../harness/export_env.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { db, dbUrl, repoRoot, run, secretKey, stackEnv } from "../../harness/stack.ts";
import { targetProject } from "../support/target_project.ts";

const sourceApi = () => new StorageApi({ url: stackEnv("LIFEBOAT_STORAGE_URL"), key: secretKey() });
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const SEAL = { recipients: [] as string[], compression: "gzip" as const };

async function bytesOf(api: StorageApi, bucket: string, name: string): Promise<Uint8Array> {
  const d = await api.download(bucket, name);
  assert.ok(d, `${bucket}/${name} is served`);
  return await new Response(d.body).bytes();
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
}

/** A bucket of the source for one test, with `files` uploaded; removed afterwards. */
async function withFiles(files: Record<string, Uint8Array>, fn: (bucket: string) => Promise<void>): Promise<void> {
  const api = sourceApi();
  const bucket = `lifeboat-ft-${crypto.randomUUID().slice(0, 8)}`;
  await api.createBucket(bucket, { public: false, fileSizeLimit: null, allowedMimeTypes: null });
  try {
    for (const [name, body] of Object.entries(files)) await api.upload(bucket, name, body, { contentType: "application/octet-stream" });
    await fn(bucket);
  } finally {
    await api.removeBucket(bucket).catch(() => {});
  }
}

async function tempStore(): Promise<{ store: Store; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-files-" });
  return { store: openStore(dir), dir };
}

/** The rows of `buckets` as one repeatable-read snapshot sees them, then `after` runs (outside it). */
async function snapshotRows(buckets: string[]) {
  const sql = connect(dbUrl(), { max: 1 });
  try {
    return await sql.begin("isolation level repeatable read, read only", (tx) => readStorageRows(tx, buckets));
  } finally {
    await sql.end();
  }
}

function doneEvent(stdout: string): Record<string, unknown> {
  const line = stdout.split("\n").find((l) => l.includes('"event":"done"'));
  assert.ok(line, `a done event in:\n${stdout.slice(-2000)}`);
  return JSON.parse(line);
}

Deno.test("files: the demo app's files back up, restore into a second project with equal sha256, and a second backup reads no file bytes", async () => {
  const target = await targetProject();
  const { identity, recipient } = await generateIdentity();
  const keyDir = await Deno.makeTempDir();
  const keyFile = `${keyDir}/key.txt`;
  await Deno.writeTextFile(keyFile, identity + "\n");
  const local = hasS3() ? null : await tempStore();
  const storeSpec = local ? local.dir : `s3://${stackEnv("LIFEBOAT_S3_BUCKET")}/files-${crypto.randomUUID().slice(0, 8)}`;
  const targetApi = new StorageApi({ url: target.url, key: target.secretKey });
  const env = { LIFEBOAT_STORAGE_TARGET_KEY: target.secretKey };
  const sql = db();
  try {
    // An empty target: no buckets of the demo app from an earlier run.
    for (const id of ["avatars", "uploads"]) await targetApi.removeBucket(id).catch(() => {});
    const rows = await sql<{ bucket_id: string; name: string }[]>`
      select bucket_id, name from storage.objects where bucket_id in ('avatars', 'uploads') order by 1, 2`;
    assert.ok(rows.length >= 80, `the demo app has files (${rows.length})`);

    const first = await lifeboat(["backup", "--store", storeSpec, "--recipient", recipient, "--files", "--json"]);
    assert.equal(first.code, 0, first.stderr);
    const d1 = doneEvent(first.stdout);
    const total = (await sql`select count(*)::int as n from storage.objects`)[0].n;
    assert.equal(d1.files, total, "every file of storage.objects is in the backup");
    assert.ok(Number(d1.fileBytesRead) > 0);

    const second = await lifeboat(["backup", "--store", storeSpec, "--recipient", recipient, "--files", "--json"]);
    assert.equal(second.code, 0, second.stderr);
    const d2 = doneEvent(second.stdout);
    assert.equal(d2.fileBytesRead, 0, "no file bytes read when nothing changed");
    assert.equal(d2.filesReused, total);

    const common = ["restore", "--store", storeSpec, "--latest", "--identity", keyFile, "--storage-target", target.url];
    const dry = await lifeboat([...common, "--dry-run"], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`dry run, nothing written\\): ${total} file\\(s\\)`));
    assert.equal((await targetApi.buckets()).has("avatars"), false, "a dry run writes nothing");

    const restored = await lifeboat(common, env);
    assert.equal(restored.code, 0, restored.stderr + restored.stdout);
    assert.match(restored.stdout, new RegExp(`${total} of ${total} file\\(s\\) uploaded with matching sha256`));
    // The stack's Storage (file backend, MD5 ETags) proves every file by its ETag: none read back.
    assert.match(restored.stdout, new RegExp(`\\(${total} proved by the target's ETag, 0 read back\\)`));
    const api = sourceApi();
    for (const r of rows) {
      assert.equal(sha(await bytesOf(targetApi, r.bucket_id, r.name)), sha(await bytesOf(api, r.bucket_id, r.name)), `${r.bucket_id}/${r.name}`);
    }
    const tb = await targetApi.buckets();
    assert.equal(tb.get("avatars")?.public, true, "bucket settings carried over");
    assert.equal(tb.get("uploads")?.public, false);

    // Same names again: refused, nothing replaced; --clean replaces exactly the chosen ones.
    const again = await lifeboat(common, env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already has \d+ file\(s\) of the same names.*--clean/);
    const one = rows.find((r) => r.bucket_id === "avatars")!;
    const prefix = one.name.split("/")[0] + "/";
    const partial = await lifeboat([...common, "--clean", "--bucket", "avatars", "--prefix", prefix], env);
    assert.equal(partial.code, 0, partial.stderr);
    const n = rows.filter((r) => r.bucket_id === "avatars" && r.name.startsWith(prefix)).length;
    assert.match(partial.stdout, new RegExp(`${n} of ${n} file\\(s\\).*${n} existing file\\(s\\) replaced`));

    const verify = await lifeboat(["verify", "--store", storeSpec, "--latest", "--identity", keyFile, "--db-url", dbUrl()]);
    assert.equal(verify.code, 0, verify.stdout);
    assert.match(verify.stdout, new RegExp(`ok +file_blobs .*${total} file\\(s\\)`));
    assert.match(verify.stdout, /ok +files_completeness/);
  } finally {
    await sql.end();
    for (const id of ["avatars", "uploads"]) await targetApi.removeBucket(id).catch(() => {});
    if (local) await Deno.remove(local.dir, { recursive: true });
    else await emptyStore(openStore(storeSpec));
    await Deno.remove(keyDir, { recursive: true });
    await target.release();
  }
});

Deno.test("files: deleted, overwritten and deleted-bucket files after the snapshot are skipped with their reason; a big file streams; verify finds a damaged blob", async () => {
  const big = randomBytes(5 * 1024 * 1024 + 17);
  const files = { "a.bin": randomBytes(1000), "b.bin": randomBytes(2000), "c.bin": randomBytes(3000), "big.bin": big };
  await withFiles(files, async (bucket) => {
    await withFiles({ "x.bin": randomBytes(10), "y/z.bin": randomBytes(20) }, async (gone) => {
      const api = sourceApi();
      const rows = await snapshotRows([bucket, gone]);
      assert.equal(rows.objects.length, 6);
      await api.client.from(bucket).remove(["a.bin"]);
      await api.upload(bucket, "b.bin", randomBytes(2000), { upsert: true });
      await api.removeBucket(gone);
      const { store, dir } = await tempStore();
      try {
        const section = await backupFiles(rows, { api, store, seal: SEAL });
        assert.deepEqual(section.objects.map((o) => o.name), ["big.bin", "c.bin"]);
        assert.equal(section.objects[0].sha256, sha(big));
        assert.equal(section.objects[1].sha256, sha(files["c.bin"]));
        const reasons = Object.fromEntries(section.skipped.map((s) => [`${s.bucket === gone ? "gone:" : ""}${s.name}`, s.reason]));
        assert.match(reasons["a.bin"], /deleted after the snapshot/);
        assert.match(reasons["b.bin"], /changed after the snapshot \(ETag/);
        assert.match(reasons["gone:x.bin"], /deleted after the snapshot/);
        assert.match(reasons["gone:y/z.bin"], /deleted after the snapshot/);

        const good = await verifyFiles(section, store, null, "gzip");
        assert.deepEqual(good.problems, []);
        assert.equal(good.files, 2);
        // Damage one blob: verify names it.
        const blobPath = `${dir}/${section.objects[1].blob}`;
        const bytes = await Deno.readFile(blobPath);
        bytes[bytes.length - 5] ^= 0xff;
        await Deno.writeFile(blobPath, bytes);
        const bad = await verifyFiles(section, store, null, "gzip");
        assert.equal(bad.problems.length, 1);
        assert.match(bad.problems[0], /c\.bin/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  });
});

Deno.test("files: a backup reads on across a Storage server restart and holds every file", async () => {
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 120; i++) files[`f/${String(i).padStart(3, "0")}.bin`] = randomBytes(20_000);
  await withFiles(files, async (bucket) => {
    const rows = await snapshotRows([bucket]);
    const { store, dir } = await tempStore();
    const stack = (cmd: string) => run("bash", [`${repoRoot}/scripts/stack.sh`, cmd], Deno.env.toObject());
    let done = 0;
    let restart: Promise<unknown> | null = null;
    try {
      const section = await backupFiles(rows, {
        api: sourceApi(),
        store,
        seal: SEAL,
        concurrency: 2,
        onFile: () => {
          if (++done === 10) {
            restart = (async () => {
              const stopped = await stack("storage-stop");
              assert.equal(stopped.code, 0, stopped.stderr);
              await new Promise((r) => setTimeout(r, 500));
              const started = await stack("storage-start");
              assert.equal(started.code, 0, started.stderr);
            })();
          }
        },
      });
      assert.ok(restart, "the restart happened during the backup");
      await restart;
      assert.equal(section.objects.length, 120);
      assert.deepEqual(section.skipped, []);
      for (const o of section.objects) assert.equal(o.sha256, sha(files[o.name]), o.name);
    } finally {
      await restart;
      await stack("storage-start");
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("files: retention sweeps only unreferenced blobs older than the grace period", async () => {
  const files = { "keep.bin": randomBytes(500), "other.bin": randomBytes(600) };
  await withFiles(files, async (bucket) => {
    const { store, dir } = await tempStore();
    try {
      const section: FilesSection = await backupFiles(await snapshotRows([bucket]), { api: sourceApi(), store, seal: SEAL });
      const ns = await blobNamespace("gzip", []);
      assert.equal(section.blobNamespace, ns);
      // A blob of an expired backup: only the kept manifest's blobs are referenced.
      const kept = { files: { objects: section.objects.filter((o) => o.name === "keep.bin") } };
      const dropped = section.objects.find((o) => o.name === "other.bin")!;

      const young = await sweepBlobs(store, [kept]);
      assert.equal(young.deleted, 0, "within the grace period nothing goes (a running backup may have just written it)");
      assert.equal(young.young, 1);

      const later = await sweepBlobs(store, [kept], { now: new Date(Date.now() + 25 * 3600 * 1000) });
      assert.equal(later.deleted, 1);
      assert.equal(await store.head(dropped.blob), null, "the unreferenced blob is gone");
      assert.ok(await store.head(kept.files.objects[0].blob), "the referenced blob stays");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("files: a big file is read once, staged and copied to its blob key by the store; equal bodies share one blob; stale staging keys are swept", async () => {
  const big = randomBytes(300_000);
  const files = { "big.bin": big, "same.bin": big, "other.bin": randomBytes(200_000), "small.bin": randomBytes(1000) };
  await withFiles(files, async (bucket) => {
    // S3 (RGW) when the stack has it: its copy is server-side; else the fs store's read and put.
    const local = hasS3() ? null : await tempStore();
    const store = local ? local.store : openStore(`s3://${stackEnv("LIFEBOAT_S3_BUCKET")}/files-big-${crypto.randomUUID().slice(0, 8)}`);
    try {
      const section = await backupFiles(await snapshotRows([bucket]), { api: sourceApi(), store, seal: SEAL, smallBytes: 64 * 1024 });
      assert.deepEqual(section.skipped, []);
      const total = Object.values(files).reduce((n, b) => n + b.byteLength, 0);
      assert.equal(section.bytesRead, total, "every file read exactly once");
      const byName = Object.fromEntries(section.objects.map((o) => [o.name, o]));
      for (const [name, body] of Object.entries(files)) assert.equal(byName[name].sha256, sha(body), name);
      assert.equal(byName["big.bin"].blob, byName["same.bin"].blob, "one blob for two files with the same bytes");
      const keys: string[] = [];
      for await (const o of store.list("files/")) keys.push(o.key);
      assert.deepEqual(keys.filter((k) => k.includes("/staging/")), [], "no staging key left behind");
      assert.equal(keys.length, 3, "three distinct bodies, three blobs");
      const info = await store.head(byName["big.bin"].blob);
      assert.ok(info?.sha256, "the copied blob carries its sha256");
      assert.deepEqual((await verifyFiles(section, store, null, "gzip")).problems, []);
      if (!local) {
        await assert.rejects(() => store.copy!("files/no-such-key", "files/elsewhere"), (e: Error & { code?: string }) => e.code === "not_found");
      }

      // A staging key left by a crashed backup: kept within the grace period, swept after it.
      const ns = await blobNamespace("gzip", []);
      const stale = `files/${ns}/staging/${"0".repeat(32)}.gz`;
      await store.put(stale, new Uint8Array([1, 2, 3]));
      const kept = { files: { objects: section.objects } };
      assert.equal((await sweepBlobs(store, [kept])).deleted, 0);
      const later = await sweepBlobs(store, [kept], { now: new Date(Date.now() + 25 * 3600 * 1000) });
      assert.equal(later.deleted, 1, "only the staging key goes");
      assert.equal(await store.head(stale), null);
      assert.ok(await store.head(byName["other.bin"].blob), "referenced blobs stay");
    } finally {
      if (local) await Deno.remove(local.dir, { recursive: true });
      else await emptyStore(store);
    }
  });
});

Deno.test("files: a missing, wrong or publishable key stops the backup before any work", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-files-key-" });
  const { recipient } = await generateIdentity();
  const base = ["backup", "--store", `${dir}/store`, "--recipient", recipient, "--files"];
  try {
    const wrong = await lifeboat([...base, "--storage-key", "sb_secret_not-the-key"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /refused the key/);
    const publishable = JSON.parse(stackEnv("SUPABASE_PUBLISHABLE_KEYS")).default;
    const pub = await lifeboat([...base, "--storage-key", publishable]);
    assert.equal(pub.code, 2);
    assert.match(pub.stderr, /publishable key/);
    const missing = await lifeboat(base, { LIFEBOAT_STORAGE_KEY: "", SUPABASE_SECRET_KEYS: "", SUPABASE_SERVICE_ROLE_KEY: "" });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no Storage key/);
    const entries = [];
    try {
      for await (const e of Deno.readDir(`${dir}/store`)) entries.push(e.name);
    } catch { /* never created */ }
    assert.deepEqual(entries, [], "nothing was written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// S3 storage classes and Object Lock against the stack's real Ceph RGW (scripts/stack/s3.sh
// adds the storage classes and creates the bucket `lifeboat-locked` with Object Lock on).
//
// THE test: a backup written with a COMPLIANCE lock, attacked with the exporter's own keys
// (every object deleted, which in a versioned bucket only adds delete markers; the manifest
// overwritten; the original versions deleted by version id, which RGW refuses; Lifeboat's own
// delete, refused), still verifies and restores, because a locked store reads each key's
// first version. Locks here are 1 day in COMPLIANCE mode: nobody can remove these test
// objects before then, which is the point.
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { openStore, type S3Options } from "../../supabase/functions/_shared/store/mod.ts";
import { hasS3, readManifest, s3Env } from "../../harness/export_env.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { stackEnv } from "../../harness/stack.ts";
import { rejectsWith } from "../support/store_errors.ts";
import { client, createDb, dropDb, lifeboat, makeKey, urlOf, userTableCount } from "../support/restore.ts";
import { newBackupId } from "../../supabase/functions/_shared/format/mod.ts";
import { applyRetention } from "../../supabase/functions/_shared/retention/mod.ts";
import { sweepBlobs } from "../../supabase/functions/_shared/source/storage/mod.ts";
import type { Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { db } from "../../harness/stack.ts";

const MiB = 1024 * 1024;
const ignore = !hasS3();
const SCHEMA = "s3_lock_attack";
const LOCK_ENV = { LIFEBOAT_S3_OBJECT_LOCK_MODE: "COMPLIANCE", LIFEBOAT_S3_OBJECT_LOCK_DAYS: "1" };

function store(bucket: string, prefix: string, extra: S3Options = {}) {
  return openStore(`s3://${bucket}/${prefix}`, {
    s3: { endpoint: stackEnv("LIFEBOAT_S3_ENDPOINT"), partSize: 5 * MiB, ...extra },
    env: s3Env(),
  });
}

function raw(): AwsClient {
  return new AwsClient({
    accessKeyId: stackEnv("LIFEBOAT_S3_ACCESS_KEY_ID"),
    secretAccessKey: stackEnv("LIFEBOAT_S3_SECRET_ACCESS_KEY"),
    region: stackEnv("LIFEBOAT_S3_REGION"),
    service: "s3",
    retries: 0,
  });
}

const objectUrl = (bucket: string, key: string, query = "") =>
  `${stackEnv("LIFEBOAT_S3_ENDPOINT")}/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}${query}`;

Deno.test({
  name: "s3 lock: each object gets the store's storage class (single PUT and multipart); an unknown class is a clear error",
  ignore,
  async fn() {
    const prefix = `classes-${crypto.randomUUID().slice(0, 8)}/`;
    const bucket = stackEnv("LIFEBOAT_S3_BUCKET");
    try {
      for (const cls of ["STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE"]) {
        const s = store(bucket, prefix, { storageClass: cls });
        await s.put(`${cls}/small`, new Uint8Array(100));
        await s.put(`${cls}/big`, new Uint8Array(11 * MiB).fill(1)); // three parts
        assert.equal((await s.head(`${cls}/small`))?.storageClass, cls);
        assert.equal((await s.head(`${cls}/big`))?.storageClass, cls);
        assert.equal((await s.head(`${cls}/big`))?.sha256?.length, 64, "the metadata rewrite kept the class and the sha256");
      }
      assert.equal((await store(bucket, prefix).head("STANDARD_IA/small"))?.storageClass, "STANDARD_IA");
      await store(bucket, prefix).put("plain", new Uint8Array(1));
      assert.equal((await store(bucket, prefix).head("plain"))?.storageClass, "STANDARD");
      await rejectsWith(store(bucket, prefix, { storageClass: "NO_SUCH_CLASS" }).put("x", new Uint8Array(1)), "config",
        /does not offer this storage class; set LIFEBOAT_S3_STORAGE_CLASS/);
      await rejectsWith(() => store(bucket, prefix, { storageClass: "standard ia" }), "config",
        /LIFEBOAT_S3_STORAGE_CLASS \(or options\.s3\.storageClass\) must be an S3 storage class/);
    } finally {
      await emptyStore(store(bucket, prefix));
    }
  },
});

Deno.test({
  name: "s3 lock: bad input — a lock on a bucket without Object Lock, half a lock, a bad mode",
  ignore,
  async fn() {
    const bucket = stackEnv("LIFEBOAT_S3_BUCKET");
    const s = store(bucket, "never/", { objectLock: { mode: "COMPLIANCE", days: 1 } });
    await rejectsWith(s.put("x", new Uint8Array(1)), "config",
      /Bucket 'lifeboat' has no S3 Object Lock, but this store requires one .*create a bucket with object lock enabled/);
    assert.equal(await store(bucket, "never/").head("x"), null, "nothing was written");
    const open = (env: Record<string, string>) => () => openStore(`s3://${bucket}/x/`, { s3: { endpoint: "http://127.0.0.1:1" }, env: { ...s3Env(), ...env } });
    await rejectsWith(open({ LIFEBOAT_S3_OBJECT_LOCK_MODE: "COMPLIANCE" }), "config", /half an object lock: set both LIFEBOAT_S3_OBJECT_LOCK_MODE/);
    await rejectsWith(open({ ...LOCK_ENV, LIFEBOAT_S3_OBJECT_LOCK_MODE: "forever" }), "config", /LIFEBOAT_S3_OBJECT_LOCK_MODE .*must be COMPLIANCE or GOVERNANCE/);
    await rejectsWith(open({ ...LOCK_ENV, LIFEBOAT_S3_OBJECT_LOCK_DAYS: "0" }), "config", /LIFEBOAT_S3_OBJECT_LOCK_DAYS .*must be at least 1/);
  },
});

Deno.test({
  name: "s3 lock: a copy in a locked store is locked too; the blob sweep counts a locked staging key instead of failing",
  ignore,
  async fn() {
    const bucket = stackEnv("LIFEBOAT_S3_LOCKED_BUCKET");
    const prefix = `sweep-${crypto.randomUUID().slice(0, 8)}/`;
    const locked = store(bucket, prefix, { objectLock: { mode: "COMPLIANCE", days: 1 } });
    // What a backup leaves when it cannot delete a big file's staging key: the lock refuses.
    const staging = `files/${"a".repeat(16)}/staging/${"0".repeat(32)}.zst.age`;
    const blob = `files/${"a".repeat(16)}/ab/${"ab".repeat(32)}.zst.age`;
    await locked.put(staging, new Uint8Array(64).fill(3));
    const copied = await locked.copy!(staging, blob);
    assert.equal(copied.size, 64);
    assert.equal((await locked.head(blob))?.lock?.mode, "compliance", "the copy carries the store's lock");
    await assert.rejects(() => locked.delete(staging));
    const r = await sweepBlobs(locked, [{ files: { objects: [{ blob }] } }], { now: new Date(Date.now() + 25 * 3600 * 1000) });
    assert.equal(r.deleted, 0);
    assert.equal(r.locked, 1, "the unreferenced staging key is held by the lock, not an error");
    assert.ok(await locked.head(blob), "the referenced blob stays");
  },
});

Deno.test({
  name: "s3 lock: a locked backup survives an attack with the exporter's own keys, then verifies and restores",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = client();
    await sql.unsafe(`
      drop schema if exists ${SCHEMA} cascade;
      create schema ${SCHEMA};
      create table ${SCHEMA}.ledger (id int primary key, amount numeric, memo text);
      insert into ${SCHEMA}.ledger select g, g * 1.5, 'entry ' || g from generate_series(1, 3000) g;`);
    await sql.end();
    const bucket = stackEnv("LIFEBOAT_S3_LOCKED_BUCKET");
    const prefix = `attack-${crypto.randomUUID().slice(0, 8)}/`;
    const url = `s3://${bucket}/${prefix}`;
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-lock-" });
    const targets: string[] = [];
    try {
      const key = await makeKey(dir);
      const b = await lifeboat(["backup", "--store", url, "--recipient", key.recipient, "--json", "--include-schema", SCHEMA], LOCK_ENV);
      assert.equal(b.code, 0, b.stderr + b.stdout);
      const id = /"id":"([0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})"/.exec(b.stdout)![1];
      const locked = store(bucket, prefix, { objectLock: { mode: "COMPLIANCE", days: 1 } });
      const m = await readManifest(locked, id);
      const keys = [...m.objects.map((o) => `${prefix}${id}/${o.key}`), `${prefix}${id}/manifest.json`, `${prefix}${id}/manifest.json.sig`];

      await t.step("verify reports every object locked (COMPLIANCE) until about a day from now", async () => {
        const r = await lifeboat(["verify", "--store", url, id, "--identity", key.path, "--json"], LOCK_ENV);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const c = JSON.parse(r.stdout).checks.find((x: { check: string }) => x.check === "object_lock");
        assert.equal(c.level, "ok", c.detail);
        assert.match(c.detail, new RegExp(`all ${keys.length} objects are locked \\(compliance\\) until at least`));
        for (const o of c.metadata.objects) {
          assert.equal(o.mode, "compliance", o.key);
          const left = Date.parse(o.retainUntil) - Date.now();
          assert.ok(left > 23 * 3_600_000 && left <= 24 * 3_600_000 + 60_000, `${o.key} locked for ${left} ms`);
        }
      });

      await t.step("the attack: DELETE and overwrite succeed only as new versions; deleting a locked version is refused", async () => {
        const aws = raw();
        // An overwrite of the manifest: a new version on top of the locked one.
        const forged = await aws.fetch(objectUrl(bucket, `${prefix}${id}/manifest.json`), { method: "PUT", body: "{}" });
        assert.equal(forged.status, 200, await forged.text());
        for (const k of keys) {
          // A plain DELETE in a versioned bucket: a delete marker, 204.
          const del = await aws.fetch(objectUrl(bucket, k), { method: "DELETE" });
          assert.equal(del.status, 204, `${k}: ${await del.text()}`);
          const gone = await aws.fetch(objectUrl(bucket, k), { method: "HEAD" });
          assert.equal(gone.status, 404, "the latest version is the delete marker");
          await gone.body?.cancel();
        }
        // Deleting the original version by its id: refused by the lock.
        const versions = await (await aws.fetch(`${stackEnv("LIFEBOAT_S3_ENDPOINT")}/${bucket}?versions&prefix=${encodeURIComponent(prefix)}`)).text();
        const ids = [...versions.matchAll(/<Version>[\s\S]*?<Key>([^<]+)<\/Key>[\s\S]*?<VersionId>([^<]+)<\/VersionId>[\s\S]*?<\/Version>/g)];
        assert.ok(ids.length >= keys.length, `versions listed: ${ids.length}`);
        const refused = new Set<string>();
        for (const [, k, v] of ids) {
          const r = await aws.fetch(objectUrl(bucket, k, `?versionId=${encodeURIComponent(v)}`), { method: "DELETE" });
          const text = await r.text();
          if (r.status === 403) refused.add(k);
          else assert.equal(r.status, 204, text);
        }
        assert.deepEqual([...refused].sort(), [...keys].sort(), "a version of every object the backup wrote refused deletion");
        // Governance bypass is no way around COMPLIANCE either.
        const [, k0, v0] = ids.find(([, k]) => k.endsWith("manifest.json") === false)!;
        const bypass = await aws.fetch(objectUrl(bucket, k0, `?versionId=${encodeURIComponent(v0)}`), {
          method: "DELETE",
          headers: { "x-amz-bypass-governance-retention": "true" },
        });
        assert.equal(bypass.status, 403);
        await bypass.body?.cancel();
        // Lifeboat's own delete (what retention calls) says why.
        await rejectsWith(locked.delete(`${id}/manifest.json`), "locked", /under S3 Object Lock \(compliance\) until/);
      });

      await t.step("after the attack the backup still verifies (first versions) and restores", async () => {
        const v = await lifeboat(["verify", "--store", url, id, "--identity", key.path, "--json"], LOCK_ENV);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        assert.equal(JSON.parse(v.stdout).passed, true);
        const target = await createDb("lifeboat_lock_rt");
        targets.push(target);
        const r = await lifeboat(["restore", "--store", url, id, "--identity", key.path, "--target", urlOf(target), "--json"], LOCK_ENV);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(await userTableCount(target), 1);
        const tsql = client(urlOf(target));
        try {
          const [row] = await tsql.unsafe(`select count(*)::int n, sum(amount)::text s from ${SCHEMA}.ledger`);
          assert.deepEqual({ ...row }, { n: 3000, s: "6752250.0" });
        } finally {
          await tsql.end();
        }
      });

      await t.step("without the lock settings a reader sees what the attacker left: nothing", async () => {
        const plain = store(bucket, prefix);
        assert.equal(await plain.head(`${id}/manifest.json`), null);
      });
    } finally {
      for (const x of targets) await dropDb(x);
      await Deno.remove(dir, { recursive: true });
      const s = client();
      await s.unsafe(`drop schema if exists ${SCHEMA} cascade`);
      await s.end();
    }
  },
});

Deno.test({
  name: "s3 lock: retention holds a backup outside the policy while its lock lasts, deleting none of it",
  ignore,
  async fn() {
    const bucket = stackEnv("LIFEBOAT_S3_LOCKED_BUCKET");
    const target = `s3://${bucket}/retention-${crypto.randomUUID().slice(0, 8)}/`;
    const locked = openStore(target, { s3: { endpoint: stackEnv("LIFEBOAT_S3_ENDPOINT"), objectLock: { mode: "COMPLIANCE", days: 1 } }, env: s3Env() });
    const raw = db();
    const sql = raw as unknown as Sql;
    try {
      // Two completed backups of the same day: GFS keeps the newer, the older is outside the policy.
      const now = new Date();
      const ids: { runId: number; backupId: string }[] = [];
      for (const hoursAgo of [2, 1]) {
        const at = new Date(now.getTime() - hoursAgo * 3_600_000);
        const id = newBackupId(at);
        await locked.put(`${id}/data/t/part-00000.copy.sql.gz.age`, new TextEncoder().encode(`data of ${id}`));
        await locked.put(`${id}/manifest.json`, new TextEncoder().encode(`{"id":"${id}"}`));
        const [r] = await sql`
          insert into lifeboat.backup_runs (kind, target, state, started_at, finished_at, manifest_key, metadata)
          values ('full', ${target}, 'completed', ${at}, ${at}, ${`${id}/manifest.json`},
                  jsonb_build_object('origin', 'backup-export', 'backup_id', ${id}::text))
          returning id`;
        ids.push({ runId: Number(r.id), backupId: id });
      }
      const report = await applyRetention(sql, locked, { target, now });
      assert.deepEqual(report.pruned, []);
      assert.equal(report.held.length, 1);
      assert.equal(report.held[0].backupId, ids[0].backupId);
      assert.match(report.held[0].reason, /under S3 Object Lock \(compliance\) until .*retention policy is shorter than the lock/);
      for (const k of ["manifest.json", "data/t/part-00000.copy.sql.gz.age"]) {
        assert.ok(await locked.head(`${ids[0].backupId}/${k}`), `${k} of the held backup is still there`);
      }
      const [run] = await sql`select state from lifeboat.backup_runs where id = ${ids[0].runId}`;
      assert.equal(run.state, "completed", "a held backup is not recorded as pruned");
    } finally {
      await sql`delete from lifeboat.backup_runs where target = ${target}`;
      await raw.end();
    }
  },
});

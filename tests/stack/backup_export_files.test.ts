// backup-export files mode through real HTTP, against the real Storage server and RGW: a
// bucket's files backed up in batches across invocations, one invocation killed mid-batch
// and its batch taken again; the backup restored into a scratch bucket with equal sha256; a
// second job that reads no file bytes; files deleted, overwritten, a bucket deleted and the
// Storage server restarting while a job runs; a wrong or publishable Storage key and an
// unknown bucket refused before any job exists.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseManifest, type Manifest } from "../../supabase/functions/_shared/format/mod.ts";
import { restoreFiles, StorageApi, verifyFiles } from "../../supabase/functions/_shared/source/storage/mod.ts";
import type { Store } from "../../supabase/functions/_shared/store/mod.ts";
import { db, FunctionProcess, repoRoot, run, secretKey, stackEnv, waitForValue } from "../../harness/stack.ts";
import { ageKey, callExport, configureExport, removeTestTargets, testTarget as s3Target } from "../../harness/edge_export.ts";
import { hasS3, lifeboat, scratchDb } from "../../harness/export_env.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";

/** A fresh target: a prefix of the stack's RGW bucket, or a directory when the stack runs without S3. */
function testTarget(name: string): { target: string; store: Store } {
  if (hasS3()) return s3Target(name);
  const target = Deno.makeTempDirSync({ prefix: `lifeboat-${name}-` });
  return { target, store: openStore(target) };
}

const api = () => new StorageApi({ url: stackEnv("LIFEBOAT_STORAGE_URL"), key: secretKey() });
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const stack = (cmd: string) => run("bash", [`${repoRoot}/scripts/stack.sh`, cmd], Deno.env.toObject());

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
}

/** A bucket `lifeboat-ef-<tag>-<random>` (the tag orders buckets, and so batches) with `files`. */
async function withBucket(files: Record<string, Uint8Array>, fn: (bucket: string) => Promise<void>, tag = "a"): Promise<void> {
  const a = api();
  const bucket = `lifeboat-ef-${tag}-${crypto.randomUUID().slice(0, 8)}`;
  await a.createBucket(bucket, { public: false, fileSizeLimit: null, allowedMimeTypes: null });
  try {
    for (const [name, body] of Object.entries(files)) await a.upload(bucket, name, body, { contentType: "application/octet-stream" });
    await fn(bucket);
  } finally {
    await a.removeBucket(bucket).catch(() => {});
  }
}

async function setSetting(sql: ReturnType<typeof db>, key: string, value: unknown) {
  await sql`insert into lifeboat.settings (key, value) values (${key}, ${JSON.stringify(value)}::text::jsonb)
            on conflict (key) do update set value = excluded.value`;
}

async function manifestOf(sql: ReturnType<typeof db>, store: Store, uuid: string): Promise<Manifest> {
  const [r] = await sql`select manifest_key from lifeboat.backup_runs where run_uuid = ${uuid}`;
  return parseManifest(JSON.parse(new TextDecoder().decode(await store.getBytes(r.manifest_key))));
}

/** Calls the function (a fresh process each time) until the job completes; returns its uuid. */
async function driveToEnd(url: () => Promise<{ url: string; stop: () => Promise<unknown> }>, first: unknown, max = 40): Promise<{ uuid: string; calls: number }> {
  let uuid: string | null = null;
  for (let i = 0; i < max; i++) {
    const p = await url();
    try {
      const r = await callExport(`${p.url}/backup-export`, uuid ? { mode: "files", resume: uuid } : first);
      assert.ok([200, 202].includes(r.status), `call ${i}: HTTP ${r.status} ${r.text}`);
      uuid = String(r.json.job);
      if (r.json.state === "completed") return { uuid, calls: i + 1 };
      assert.equal(r.json.state, "running", r.text);
    } finally {
      await p.stop();
    }
  }
  throw new Error(`the files job ${uuid} did not complete in ${max} calls`);
}

const fnProcess = (env: Record<string, string> = {}) => async () => {
  const p = new FunctionProcess("backup-export", { ...Deno.env.toObject(), ...env });
  await p.ready();
  return { url: p.url, stop: () => p.stop() };
};

Deno.test("backup-export files mode: batches across invocations, a killed one resumed, restored with equal sha256, then incremental", async () => {
  const sql = db();
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 24; i++) files[`img/${String(i).padStart(2, "0")}.bin`] = randomBytes(30_000 + i * 1000);
  files["big/video.bin"] = randomBytes(6 * 1024 * 1024 + 123); // above the 4 MiB small-file limit: streamed, multipart
  files["same-a.txt"] = new TextEncoder().encode("identical body");
  files["same-b.txt"] = new TextEncoder().encode("identical body");
  try {
    await withBucket(files, async (bucket) => {
      const { keyFile, recipient } = await ageKey();
      const identity = (await Deno.readTextFile(keyFile)).split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
      const { target, store } = testTarget("files");
      await configureExport(sql, { target, recipients: [recipient], budgetBytes: 100_000, partLease: "1 second", maxAttempts: 50, continueJobs: false });
      await setSetting(sql, "export.files_batch", 4);

      // First call plans the job and does a little (the byte budget is tiny): 202, running.
      let p = await fnProcess()();
      const first = await callExport(`${p.url}/backup-export`, { mode: "files", buckets: [bucket], label: "edge files" });
      await p.stop();
      assert.equal(first.status, 202, first.text);
      const uuid = String(first.json.job);
      const [run0] = await sql`select id, kind, metadata from lifeboat.backup_runs where run_uuid = ${uuid}`;
      assert.equal(run0.kind, "files");
      assert.deepEqual(run0.metadata.file_buckets, [bucket]);
      const [planned] = await sql`select count(*)::int as n, coalesce(sum(jsonb_array_length(details -> 'rows')), 0)::int as rows
        from lifeboat.backup_parts where run_id = ${run0.id} and kind = 'files' and state <> 'done'`;
      assert.ok(planned.n >= 2, `several batches are left (${planned.n})`);

      // An invocation is killed while it holds a batch. Right after it counts itself on the
      // run's row, the test locks that row, so the batch's completion (which also stamps the
      // run's progress) waits after its files were stored: the batch stays claimed, and the
      // worker dies before its completion reaches the database. Should an invocation be
      // through its batch before the lock lands, the next one is tried.
      let claimed: { id: number; attempt: number } | undefined;
      for (let attempt = 1; !claimed; attempt++) {
        assert.ok(attempt <= 5, "an invocation was caught holding a batch");
        const holder = await sql.reserve();
        try {
          const invocations = async () => (await holder`select coalesce((metadata ->> 'invocations')::int, 0) as n from lifeboat.backup_runs where id = ${run0.id}`)[0].n as number;
          const [me] = await holder`select pg_backend_pid() as pid`;
          const before = await invocations();
          await holder`begin`;
          p = await fnProcess()();
          let ended = false;
          const call = callExport(`${p.url}/backup-export`, { mode: "files", resume: uuid }).catch(() => null).finally(() => ended = true);
          const deadline = Date.now() + 20_000;
          while (await invocations() === before) assert.ok(Date.now() < deadline, "the invocation started");
          await holder`select 1 from lifeboat.backup_runs where id = ${run0.id} for no key update`;
          const waiting = await waitForValue("a batch's completion to wait on the run's row, or the invocation to end", async () => {
            const [w] = await sql`select count(*)::int as n from pg_stat_activity where ${me.pid}::int = any(pg_blocking_pids(pid))`;
            return w.n > 0 ? "waiting" : ended ? "ended" : null;
          }, 30_000);
          if (waiting === "waiting") {
            [claimed] = await sql`select id, attempt from lifeboat.backup_parts where run_id = ${run0.id} and state = 'claimed'`;
            assert.ok(claimed, "the waiting worker holds a claimed batch");
          }
          await p.stop();
          await call;
          // The killed worker's waiting completion dies with it.
          await sql`select pg_terminate_backend(pid) from pg_stat_activity where ${me.pid}::int = any(pg_blocking_pids(pid))`;
        } finally {
          await holder`rollback`.catch(() => {});
          holder.release();
        }
      }
      await new Promise((r) => setTimeout(r, 1100)); // the killed claim's lease lapses
      const [still] = await sql`select state, attempt from lifeboat.backup_parts where id = ${claimed!.id}`;
      assert.deepEqual([still.state, still.attempt], ["claimed", claimed!.attempt], "the killed worker's completion never landed");
      const [noManifest] = await sql`select manifest_key from lifeboat.backup_runs where id = ${run0.id}`;
      assert.equal(noManifest.manifest_key, null, "no manifest while batches are open");

      const { calls } = await driveToEnd(fnProcess(), { mode: "files", resume: uuid });
      assert.ok(calls >= 1);
      const [again] = await sql`select state, attempt from lifeboat.backup_parts where id = ${claimed!.id}`;
      assert.equal(again.state, "done");
      assert.ok(again.attempt > claimed!.attempt, "the killed batch was taken again");

      const m = await manifestOf(sql, store, uuid);
      assert.equal(m.kind, "files");
      assert.equal(m.objects.length, 0, "a files backup holds no schema or table object");
      assert.ok(m.files, "the manifest has a files section");
      assert.deepEqual(m.files.buckets.map((b) => b.id), [bucket]);
      assert.equal(m.files.objects.length, Object.keys(files).length);
      assert.deepEqual(m.files.skipped, []);
      for (const o of m.files.objects) assert.equal(o.sha256, sha(files[o.name]), o.name);
      const blobs = new Set(m.files.objects.map((o) => o.blob));
      assert.equal(blobs.size, Object.keys(files).length - 1, "two files with one body share a blob");
      await store.head(`${m.id}/manifest.json.sig`).then((h) => assert.ok(h, "the backup is signed"));

      // Every blob decrypts to its size and sha256; the files restore into a scratch bucket.
      const v = await verifyFiles(m.files, store, [identity], m.compression, {});
      assert.deepEqual(v.problems, []);
      const scratch = `lifeboat-efr-${crypto.randomUUID().slice(0, 8)}`;
      try {
        const r = await restoreFiles({ files: m.files, store, identities: [identity], compression: m.compression, api: api(), intoBucket: scratch });
        assert.equal(r.verified, Object.keys(files).length);
        const d = await api().download(scratch, `${bucket}/big/video.bin`);
        assert.ok(d);
        assert.equal(sha(await new Response(d.body).bytes()), sha(files["big/video.bin"]));
      } finally {
        await api().removeBucket(scratch).catch(() => {});
      }

      // The CLI reads it like its own backups: a files-only restore plans every file (dry
      // run: they all exist in the source already); a database restore is refused.
      const trust = ["--identity", keyFile, "--trust-key", `${stackEnv("LIFEBOAT_STACK_DIR")}/signing.key.signing.pub`];
      const dry = await lifeboat(["restore", "--store", target, m.id, ...trust, "--storage-target", stackEnv("LIFEBOAT_STORAGE_URL"),
        "--bucket", bucket, "--dry-run", "--json"], { LIFEBOAT_STORAGE_TARGET_KEY: secretKey() });
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const plan = JSON.parse(dry.stdout);
      assert.equal(plan.files.files, Object.keys(files).length);
      assert.equal(plan.files.existing.length, Object.keys(files).length);
      const scratchDatabase = await scratchDb("efiles");
      try {
        const refused = await lifeboat(["restore", "--store", target, m.id, ...trust, "--target", scratchDatabase.url]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stdout + refused.stderr, /is a files backup/);
      } finally {
        await scratchDatabase.drop();
      }

      // A second job with no change reads no file bytes: every entry reused from the first.
      await setSetting(sql, "export.budget.bytes", 268435456);
      const second = await driveToEnd(fnProcess(), { mode: "files", buckets: [bucket] });
      const m2 = await manifestOf(sql, store, second.uuid);
      assert.equal(m2.files!.bytesRead, 0);
      assert.equal(m2.files!.reused, Object.keys(files).length);
      assert.deepEqual(m2.files!.objects.map((o) => o.blob), m.files.objects.map((o) => o.blob));
    });
  } finally {
    await sql`update lifeboat.settings set value = default_value where key = 'export.files_batch'`;
    await removeTestTargets();
    await sql.end();
  }
});

Deno.test("backup-export files mode: deleted, overwritten files, a deleted bucket and a Storage restart mid-job", async () => {
  const sql = db();
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 16; i++) files[`f/${String(i).padStart(2, "0")}.bin`] = randomBytes(20_000);
  const other: Record<string, Uint8Array> = { "x/1.bin": randomBytes(5000), "x/2.bin": randomBytes(5000) };
  try {
    await withBucket(files, async (bucket) => {
      await withBucket(other, async (doomed) => {
        const { recipient } = await ageKey();
        const { target, store } = testTarget("files-faults");
        await configureExport(sql, { target, recipients: [recipient], budgetBytes: 30_000, partLease: "1 second", maxAttempts: 50, continueJobs: false });
        await setSetting(sql, "export.files_batch", 2);
        let p = await fnProcess()();
        const first = await callExport(`${p.url}/backup-export`, { mode: "files", buckets: [bucket, doomed] });
        await p.stop();
        assert.equal(first.status, 202, first.text);
        const uuid = String(first.json.job);
        // After the snapshot: one file deleted, one overwritten, the other bucket deleted.
        const a = api();
        await a.client.from(bucket).remove(["f/15.bin"]);
        await a.upload(bucket, "f/14.bin", randomBytes(20_000), { contentType: "application/octet-stream", upsert: true });
        await a.removeBucket(doomed);

        // The Storage server restarts while the next invocation reads.
        p = await fnProcess()();
        const call = callExport(`${p.url}/backup-export`, { mode: "files", resume: uuid });
        const stopped = await stack("storage-stop");
        assert.equal(stopped.code, 0, stopped.stderr);
        await new Promise((r) => setTimeout(r, 1500));
        const started = await stack("storage-start");
        assert.equal(started.code, 0, started.stderr);
        const during = await call;
        await p.stop();
        assert.ok([200, 202, 503].includes(during.status), during.text);

        await new Promise((r) => setTimeout(r, 1100));
        const { uuid: done } = await driveToEnd(fnProcess(), { mode: "files", resume: uuid }, 60);
        assert.equal(done, uuid);
        const m = await manifestOf(sql, store, uuid);
        const skipped = new Map(m.files!.skipped.map((s) => [`${s.bucket}/${s.name}`, s.reason]));
        assert.match(skipped.get(`${bucket}/f/15.bin`) ?? "", /deleted after the snapshot/);
        assert.match(skipped.get(`${bucket}/f/14.bin`) ?? "", /changed/);
        assert.match(skipped.get(`${doomed}/x/1.bin`) ?? "", /deleted after the snapshot/);
        const saved = new Map(m.files!.objects.map((o) => [`${o.bucket}/${o.name}`, o.sha256]));
        for (let i = 0; i < 14; i++) {
          const n = `f/${String(i).padStart(2, "0")}.bin`;
          assert.equal(saved.get(`${bucket}/${n}`), sha(files[n]), n);
        }
        assert.equal(saved.has(`${bucket}/f/14.bin`), false, "the overwritten file is not saved with other bytes");
      }, "z"); // its batch comes last: the first invocation never reaches it
    });
  } finally {
    await stack("storage-start");
    await sql`update lifeboat.settings set value = default_value where key = 'export.files_batch'`;
    await removeTestTargets();
    await sql.end();
  }
});

Deno.test("backup-export files mode: a wrong or publishable Storage key and an unknown bucket are refused before any job", async () => {
  const sql = db();
  try {
    const { recipient } = await ageKey();
    const { target } = testTarget("files-refused");
    await configureExport(sql, { target, recipients: [recipient], continueJobs: false });
    const cases: { env: Record<string, string>; body: unknown; status: number; code: string; says: RegExp }[] = [
      { env: { LIFEBOAT_STORAGE_KEY: "sb_secret_not_the_right_key_at_all" }, body: { mode: "files" }, status: 409, code: "storage_key_rejected", says: /refused the key/ },
      { env: { LIFEBOAT_STORAGE_KEY: stackEnv("SUPABASE_ANON_KEY") }, body: { mode: "files" }, status: 409, code: "storage_key_rejected", says: /secret key/ },
      { env: {}, body: { mode: "files", buckets: ["no-such-bucket-here"] }, status: 404, code: "bucket_not_found", says: /no bucket no-such-bucket-here/ },
      { env: {}, body: { mode: "full", buckets: ["x"] }, status: 400, code: "bad_request", says: /buckets is only allowed when mode is "files"/ },
    ];
    for (const c of cases) {
      const p = await fnProcess(c.env)();
      try {
        const r = await callExport(`${p.url}/backup-export`, c.body);
        assert.equal(r.status, c.status, r.text);
        assert.equal(r.json.error, c.code, r.text);
        assert.match(String(r.json.message), c.says);
        for (const k of [secretKey(), "sb_secret_not_the_right", stackEnv("SUPABASE_ANON_KEY")]) assert.ok(!r.text.includes(k), "no key in the answer");
        assert.doesNotMatch(r.text, /at .*\.ts:\d/, "no stack trace in the answer");
      } finally {
        await p.stop();
      }
      const [n] = await sql`select count(*)::int as n from lifeboat.backup_runs where target = ${target}`;
      assert.equal(n.n, 0, "no job was created");
    }
  } finally {
    await removeTestTargets();
    await sql.end();
  }
});

Deno.test("files.buckets: per-bucket pg_cron schedules through lifeboat.invoke, and per-bucket retention", async () => {
  const sql = db();
  const saved = await sql`select value from lifeboat.settings where key = 'files.buckets'`;
  const target = await sql`select value from lifeboat.settings where key = 'export.target'`;
  // Schedules are applied to pg_cron below: with no export target, so no export job is installed.
  await sql`update lifeboat.settings set value = 'null' where key = 'export.target'`;
  try {
    // The seeds' defaults: assets daily, user_uploads hourly.
    const rows = await sql`select name, schedule, command, requires_setting from lifeboat.schedules where name like 'files-%' order by name`;
    assert.deepEqual(rows.map((r) => [r.name, r.schedule]), [["files-assets", "45 0 * * *"], ["files-user_uploads", "15 * * * *"]]);
    assert.match(rows[0].command, /lifeboat\.invoke\('backup-export', '\{"mode": "files", "buckets": \["assets"\]\}'::jsonb\)/);
    assert.equal(rows[0].requires_setting, "export.target");

    // Changing the setting changes the schedules (and pg_cron through apply_schedules).
    await setSetting(sql, "files.buckets", { assets: { schedule: "0 */6 * * *", keep_days: 10, versioned: true }, "Odd Name!": { schedule: "daily", keep_days: 3, versioned: false } });
    const synced = await sql`select * from lifeboat.sync_file_schedules()`;
    assert.equal(synced.length, 2);
    const after = await sql`select name, schedule from lifeboat.schedules where name like 'files-%' order by name`;
    assert.equal(after.length, 2);
    assert.deepEqual(after.find((r) => r.name === "files-assets")?.schedule, "0 */6 * * *");
    assert.ok(after.some((r) => /^files-odd-name--[0-9a-f]{8}$/.test(r.name)), JSON.stringify(after));

    // Retention: fake completed files runs of a target, aged.
    const target = `s3://retention-test/${crypto.randomUUID()}/`;
    const now = new Date("2026-06-01T12:00:00Z");
    const mk = async (bucket: string, daysAgo: number) => {
      const id = `2026${String(daysAgo).padStart(4, "0")}T000000Z-${crypto.randomUUID().slice(0, 8)}`;
      const [r] = await sql`insert into lifeboat.backup_runs (kind, target, state, started_at, finished_at, manifest_key, metadata)
        values ('files', ${target}, 'completed', ${new Date(now.getTime() - daysAgo * 86400_000)}, ${new Date(now.getTime() - daysAgo * 86400_000)}, ${id + "/manifest.json"},
                ${JSON.stringify({ origin: "backup-export", backup_id: id, file_buckets: [bucket] })}::text::jsonb) returning id`;
      return Number(r.id);
    };
    const a1 = await mk("assets", 1), a9 = await mk("assets", 9), a20 = await mk("assets", 20);
    const o1 = await mk("Odd Name!", 1), o2 = await mk("Odd Name!", 2);
    const u40 = await mk("unconfigured", 40), u50 = await mk("unconfigured", 50);
    const keep = new Map((await sql`select run_id, keep from lifeboat.backup_retention(${target}, ${now})`).map((r) => [Number(r.run_id), r.keep]));
    assert.equal(keep.get(a1), true);
    assert.equal(keep.get(a9), true, "assets versioned, 10 days");
    assert.equal(keep.get(a20), false);
    assert.equal(keep.get(o1), true, "the newest of an unversioned bucket");
    assert.equal(keep.get(o2), false, "unversioned: only the newest");
    assert.equal(keep.get(u40), true, "the newest of a bucket is always kept");
    assert.equal(keep.get(u50), false, "an unconfigured bucket: 30 days");
    // Files backups are not GFS's business (nor its newest).
    assert.equal((await sql`select count(*)::int as n from lifeboat.gfs_retention(${target}, ${now})`)[0].n, 0);
    await sql`delete from lifeboat.backup_runs where target = ${target}`;
  } finally {
    if (saved.length) await sql`update lifeboat.settings set value = ${saved[0].value} where key = 'files.buckets'`;
    await sql`select * from lifeboat.sync_file_schedules()`;
    if (target.length) await sql`update lifeboat.settings set value = ${target[0].value} where key = 'export.target'`;
    await sql.end();
  }
});

Deno.test("per-bucket retention prunes an old files backup and sweeps only blobs no kept backup or running job names", async () => {
  const sql = db();
  const enc = new TextEncoder();
  const files = { "a.bin": enc.encode("kept in both"), "b.bin": enc.encode("first b"), "c.bin": enc.encode("only in the first") };
  let fakeRun: number | null = null;
  try {
    await withBucket(files, async (bucket) => {
      const { recipient } = await ageKey();
      const { target, store } = testTarget("files-retention");
      await configureExport(sql, { target, recipients: [recipient], continueJobs: false });
      // Retention runs by hand below, at a chosen clock.
      await setSetting(sql, "export.prune_after_backup", false);
      const first = await driveToEnd(fnProcess(), { mode: "files", buckets: [bucket] });
      await api().upload(bucket, "b.bin", enc.encode("second b"), { upsert: true });
      await api().client.from(bucket).remove(["c.bin"]);
      const second = await driveToEnd(fnProcess(), { mode: "files", buckets: [bucket] });
      const m1 = await manifestOf(sql, store, first.uuid), m2 = await manifestOf(sql, store, second.uuid);
      const blob = (m: Manifest, name: string) => m.files!.objects.find((o) => o.name === name)?.blob;
      assert.equal(blob(m2, "a.bin"), blob(m1, "a.bin"), "an unchanged file keeps its blob");
      assert.notEqual(blob(m2, "b.bin"), blob(m1, "b.bin"));
      assert.equal(blob(m2, "c.bin"), undefined);

      // A job still running whose finished batch names the first b's blob (it reused it).
      const [fake] = await sql`insert into lifeboat.backup_runs (kind, target, state, started_at, metadata)
        values ('files', ${target + "in-flight/"}, 'running', now(), '{"origin": "backup-export"}') returning id`;
      fakeRun = Number(fake.id);
      await sql`insert into lifeboat.backup_parts (run_id, kind, table_schema, table_name, chunk, state, object_key, size_bytes, sha256, row_count, details)
        values (${fakeRun}, 'files', '', 'files', 0, 'done', 'files-000000', 0, ${"0".repeat(64)}, 1,
                ${JSON.stringify({ objects: [{ blob: blob(m1, "b.bin") }] })}::text::jsonb)`;

      // 40 days on: the first backup is past the default 30 days and not the newest of its bucket.
      const { applyRetention } = await import("../../supabase/functions/_shared/retention/mod.ts");
      const later = new Date(Date.now() + 40 * 86400_000);
      const r = await applyRetention(sql, store, { target, now: later, blobGraceMs: 0 });
      assert.deepEqual(r.pruned.map((p) => p.backupId), [m1.id]);
      const [s1] = await sql`select state from lifeboat.backup_runs where run_uuid = ${first.uuid}`;
      const [s2] = await sql`select state from lifeboat.backup_runs where run_uuid = ${second.uuid}`;
      assert.deepEqual([s1.state, s2.state], ["pruned", "completed"]);
      assert.ok(await store.head(blob(m2, "a.bin")!), "a blob the kept backup shares with the pruned one stays");
      assert.ok(await store.head(blob(m2, "b.bin")!), "the kept backup's own blob stays");
      assert.ok(await store.head(blob(m1, "b.bin")!), "a blob a running job's batch names stays");
      assert.equal(await store.head(blob(m1, "c.bin")!), null, "a blob only the pruned backup named is swept");
      assert.equal(r.blobs?.deleted, 1);
    });
  } finally {
    if (fakeRun !== null) await sql`delete from lifeboat.backup_runs where id = ${fakeRun}`;
    await sql`update lifeboat.settings set value = default_value where key = 'export.prune_after_backup'`;
    await removeTestTargets();
    await sql.end();
  }
});

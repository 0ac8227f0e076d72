/**
 * Crash safety: the function runs as its own process (DENO_SERVE_ADDRESS, as the stack
 * serves it) and is killed with SIGKILL at random moments, restarted and resumed, until the
 * job completes. After every kill: a manifest exists only when every part is done. At the
 * end: every part was counted once (rows per table equal the source), no stray object is
 * left under the backup, and the psql restore matches the source's fingerprints.
 */
import assert from "node:assert/strict";
import { parseManifest } from "../../supabase/functions/_shared/format/mod.ts";
import { db, FunctionProcess } from "../../harness/stack.ts";
import {
  ageKey,
  assertPsqlRestoreMatches,
  callExport,
  configureExport,
  fingerprints,
  makeTestSchema,
  removeTestTargets,
  testTarget,
} from "../../harness/edge_export.ts";

const SCHEMA = "edge_crash";
/** Kills before the calls are let run to their end. */
const KILLS = 20;
const TABLES = [`${SCHEMA}.events`, `${SCHEMA}.pairs`, `${SCHEMA}.nokey`, `${SCHEMA}.empty`];

Deno.test("killed at random points, the export resumes, never shows an early manifest and counts every part once", async () => {
  const sql = db();
  const env = Deno.env.toObject();
  try {
    await makeTestSchema(sql, SCHEMA, 3);
    const { keyFile, recipient } = await ageKey();
    const { target, store } = testTarget("crash");
    await configureExport(sql, {
      target, recipients: [recipient], budgetBytes: 512 * 1024, chunkBytes: 96 * 1024,
      partLease: "1 second", maxAttempts: 1000, continueJobs: false, compression: "gzip",
    });
    let uuid: string | null = null;
    let kills = 0, completedCalls = 0;
    // The quickest call that answered: kills are drawn below it until enough have happened, so
    // that they land inside calls however fast this machine exports.
    let quickestAnswerMs = Infinity;
    let state = "none";
    for (let i = 0; i < 60 && state !== "completed"; i++) {
      const proc = new FunctionProcess("backup-export", env);
      await proc.ready();
      const body = uuid ? { mode: "tables", resume: uuid } : { mode: "tables", tables: TABLES };
      const call = callExport(`${proc.url}/backup-export`, body).catch(() => null);
      // Kill somewhere between "just arrived" and "probably finished". After KILLS kills the calls
      // are let finish: on a loaded host no call may answer within 1.8 s, and the point after the
      // kills is that the job resumes and completes from whatever they left.
      const delay = kills >= KILLS ? 600_000 : Math.floor(Math.random() * (kills < 5 ? Math.min(1800, quickestAnswerMs) : 1800));
      const started = performance.now();
      const answered = await Promise.race([call.then((r) => r !== null), new Promise<false>((r) => setTimeout(() => r(false), delay))]);
      const tookMs = performance.now() - started;
      await proc.stop();
      if (answered) {
        completedCalls++;
        quickestAnswerMs = Math.min(quickestAnswerMs, tookMs);
      } else kills++;
      await call;

      const [run] = await sql`select * from lifeboat.backup_runs where target = ${target} order by id desc limit 1`;
      if (!run) continue;
      uuid = String(run.run_uuid);
      state = run.state;
      assert.notEqual(state, "failed", `the job failed: ${run.error}`);
      const [p] = await sql`select count(*) filter (where state <> 'done')::int as open from lifeboat.backup_parts where run_id = ${run.id}`;
      const manifest = await store.head(`${run.metadata.backup_id}/manifest.json`);
      if (manifest) assert.equal(p.open, 0, "a manifest exists while parts are unfinished");
      // A killed worker's claim must lapse before the next process can take the part.
      await new Promise((r) => setTimeout(r, 1100));
    }
    assert.equal(state, "completed", `not completed after ${kills} kills and ${completedCalls} answered calls`);
    assert.ok(kills >= 5, `only ${kills} kills happened`);

    const [run] = await sql`select * from lifeboat.backup_runs where run_uuid = ${uuid}`;
    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await store.getBytes(run.manifest_key))));
    // export.compression "gzip": restored below with age -d | gunzip | psql.
    assert.equal(manifest.compression, "gzip");
    assert.ok(manifest.objects.every((o) => o.key.endsWith(".gz.age")));
    const counts = await sql.unsafe(`select 'events' as t, count(*)::int as n from ${SCHEMA}.events union all
      select 'pairs', count(*)::int from ${SCHEMA}.pairs union all select 'nokey', count(*)::int from ${SCHEMA}.nokey
      union all select 'empty', count(*)::int from ${SCHEMA}.empty`);
    for (const c of counts) assert.equal(manifest.tables.find((t) => t.name === c.t)!.rows, c.n, `rows of ${c.t}`);
    const [attempts] = await sql`select max(attempt)::int as max, count(*)::int as parts from lifeboat.backup_parts where run_id = ${run.id}`;
    assert.equal(manifest.objects.length, attempts.parts);
    // Nothing but the recorded objects, the manifest and its signature (the stack keeps a signing
    // key in Vault) under the prefix (the restore loop takes every part-*).
    const stored: string[] = [];
    for await (const o of store.list(`${manifest.id}/`)) stored.push(o.key.slice(manifest.id.length + 1));
    assert.deepEqual(stored.sort(), [...manifest.objects.map((o) => o.key), "manifest.json", "manifest.json.sig"].sort());

    const source = await fingerprints(sql, SCHEMA);
    await assertPsqlRestoreMatches(sql, store, manifest.id, keyFile, SCHEMA, source);
    console.log(`crash test: ${kills} kills, ${completedCalls} answered calls, max attempt ${attempts.max}`);
  } finally {
    await removeTestTargets();
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await sql.end();
  }
});

/**
 * backup-export through the gateway, real Postgres and real RGW: a database larger than
 * one invocation's budget (1 MB here) completes across invocations that continue each
 * other, says `consistent: false` with its snapshot range, and restores through the
 * documented psql path with every fingerprint equal to the source's. A database that fits
 * in one invocation is one snapshot (`consistent: true`).
 */
import assert from "node:assert/strict";
import { parseManifest } from "../../supabase/functions/_shared/format/mod.ts";
import { db, functionUrl } from "../../harness/stack.ts";
import {
  ageKey,
  assertPsqlRestoreMatches,
  callExport,
  configureExport,
  fingerprints,
  makeTestSchema,
  removeTestTargets,
  testTarget,
  waitForJob,
} from "../../harness/edge_export.ts";

const SCHEMA = "edge_multi";

Deno.test("a database bigger than the budget completes across invocations and restores with equal fingerprints", async () => {
  const sql = db();
  try {
    await makeTestSchema(sql, SCHEMA, 4);
    const { keyFile, recipient } = await ageKey();
    const { target, store } = testTarget("multi");
    await configureExport(sql, { target, recipients: [recipient], budgetBytes: 1024 * 1024, chunkBytes: 256 * 1024 });

    const first = await callExport(functionUrl("backup-export"), { mode: "tables", tables: [`${SCHEMA}.events`, `${SCHEMA}.pairs`, `${SCHEMA}.nokey`, `${SCHEMA}.empty`], label: "multi" });
    assert.equal(first.status, 202, first.text);
    assert.equal(first.json.state, "running");
    assert.equal(first.json.continuation, "triggered");
    const inv = first.json.invocation as Record<string, number | string>;
    assert.equal(inv.stoppedBy, "bytes");
    assert.ok(Number(first.json.estimatedInvocationsRemaining) >= 1);
    const uuid = String(first.json.job);
    assert.equal(await store.head(`${first.json.backupId}/manifest.json`), null, "no manifest before completion");
    // The codec is fixed when the job is planned: later invocations keep it, whatever the setting says now.
    await sql`update lifeboat.settings set value = '"gzip"' where key = 'export.compression'`;

    const run = await waitForJob(sql, uuid, ["completed", "failed"], 120_000);
    assert.equal(run.state, "completed", run.error);
    assert.ok(Number(run.metadata.invocations) >= 4, `took ${run.metadata.invocations} invocations`);
    assert.equal(run.consistent, false);

    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await store.getBytes(run.manifest_key))));
    assert.equal(manifest.snapshot.consistent, false);
    assert.equal(run.metadata.compression, "zstd");
    assert.equal(manifest.compression, "zstd", "zstd is the default where the runtime has it");
    assert.deepEqual(manifest.objects.filter((o) => !o.key.endsWith(".zst.age")).map((o) => o.key), [], "one codec in every invocation");
    // The job's request is recorded as the backup's scope, so verify knows what it covers.
    assert.deepEqual(manifest.scope, {
      includeSchemas: null,
      excludeSchemas: [],
      tables: ["events", "pairs", "nokey", "empty"].map((name) => ({ schema: SCHEMA, name })),
      excludeTables: [],
    });
    assert.ok(manifest.snapshot.snapshotIds.length >= 2);
    assert.notEqual(manifest.snapshot.lsnStart, "");
    // Every part exactly once, and every row: the manifest's counts equal the source's.
    const keys = manifest.objects.map((o) => o.key);
    assert.equal(new Set(keys).size, keys.length);
    const counts = await sql`select (select count(*) from edge_multi.events)::int as events, (select count(*) from edge_multi.pairs)::int as pairs`;
    const rowsOf = (name: string) => manifest.tables.find((t) => t.name === name)!.rows;
    assert.equal(rowsOf("events"), counts[0].events);
    assert.equal(rowsOf("pairs"), counts[0].pairs);
    assert.ok(manifest.tables.find((t) => t.name === "events")!.parts.length >= 4);

    const source = await fingerprints(sql, SCHEMA);
    for (const t of manifest.tables) assert.deepEqual(t.fingerprint, source[t.name], `manifest fingerprint of ${t.name}`);
    await assertPsqlRestoreMatches(sql, store, manifest.id, keyFile, SCHEMA, source);
  } finally {
    await removeTestTargets();
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await sql.end();
  }
});

Deno.test("a database that fits in one invocation is exported in one snapshot", async () => {
  const sql = db();
  try {
    await makeTestSchema(sql, SCHEMA, 1);
    const { recipient } = await ageKey();
    const { target, store } = testTarget("single");
    await configureExport(sql, { target, recipients: [recipient], chunkBytes: 64 * 1024 });
    const r = await callExport(functionUrl("backup-export"), { mode: "full" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.state, "completed");
    assert.equal(r.json.consistent, true);
    assert.equal(r.json.estimatedInvocationsRemaining, 0);
    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await store.getBytes(String(r.json.manifest)))));
    assert.equal(manifest.snapshot.consistent, true);
    assert.equal(manifest.snapshot.snapshotIds.length, 1);
    assert.ok(manifest.tables.find((t) => t.schema === SCHEMA && t.name === "events")!.parts.length > 1, "chunked, yet one snapshot");
    // The edge-function driver runs the same export core: the demo app's users and buckets are in.
    const [users] = await sql`select count(*)::int as n from auth.users`;
    assert.equal(manifest.tables.find((t) => t.schema === "auth" && t.name === "users")?.rows, users.n);
    assert.ok(manifest.tables.some((t) => t.schema === "storage" && t.name === "objects"));
    assert.ok(!manifest.tables.some((t) => t.schema === "auth" && t.name === "refresh_tokens"), "sessions only on request");
    assert.match(manifest.platform?.authVersion ?? "", /^\d{14}$/);
    assert.ok(manifest.platform?.tables.some((t) => t.name === "sessions" && t.class === "sessions" && !t.copied));
  } finally {
    await removeTestTargets();
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await sql.end();
  }
});

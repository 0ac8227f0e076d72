/**
 * Concurrency and staleness, through the gateway: simultaneous triggers make one job (the
 * others join it), several invocations work it at once with every part counted once, and a
 * job without progress is failed by the sweeper with an alert, after which a new job starts.
 */
import assert from "node:assert/strict";
import { db, functionUrl } from "../../harness/stack.ts";
import { ageKey, callExport, configureExport, makeTestSchema, removeTestTargets, testTarget, waitForJob } from "../../harness/edge_export.ts";

const SCHEMA = "edge_conc";
const TABLES = [`${SCHEMA}.events`, `${SCHEMA}.pairs`];

Deno.test("simultaneous triggers make one job, and parallel invocations share its parts", async () => {
  const sql = db();
  try {
    await makeTestSchema(sql, SCHEMA, 2);
    const { recipient } = await ageKey();
    const { target } = testTarget("conc");
    await configureExport(sql, { target, recipients: [recipient], budgetBytes: 256 * 1024, chunkBytes: 64 * 1024, continueJobs: false });

    const first = await Promise.all(Array.from({ length: 6 }, () => callExport(functionUrl("backup-export"), { mode: "tables", tables: TABLES })));
    for (const r of first) assert.ok([200, 202].includes(r.status), r.text);
    const ids = new Set(first.map((r) => r.json.job));
    assert.equal(ids.size, 1, "every trigger reports the same job");
    assert.equal(first.filter((r) => r.json.joined === false).length, 1, "exactly one trigger created it");
    const [{ n }] = await sql`select count(*)::int as n from lifeboat.backup_runs where target = ${target}`;
    assert.equal(n, 1);

    const uuid = String([...ids][0]);
    for (let round = 0; round < 40; round++) {
      const rs = await Promise.all(Array.from({ length: 4 }, () => callExport(functionUrl("backup-export"), { mode: "tables", resume: uuid })));
      for (const r of rs) assert.ok([200, 202].includes(r.status), r.text);
      if (rs.some((r) => r.json.state === "completed")) break;
    }
    const run = await waitForJob(sql, uuid, ["completed", "failed"], 30_000);
    assert.equal(run.state, "completed", run.error);
    const [w] = await sql`select count(distinct claimed_by)::int as workers from lifeboat.backup_parts where run_id = ${run.id}`;
    assert.ok(w.workers > 1, `parts were done by ${w.workers} worker(s)`);
    const [rows] = await sql`
      select (select sum(row_count) from lifeboat.backup_parts where run_id = ${run.id} and table_name = 'events')::int as exported,
             (select count(*) from edge_conc.events)::int as source`;
    assert.equal(rows.exported, rows.source, "every events row exactly once");
  } finally {
    await removeTestTargets();
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await sql.end();
  }
});

Deno.test("a stale job is failed with an alert, and the next trigger starts a new one", async () => {
  const sql = db();
  try {
    await makeTestSchema(sql, SCHEMA, 1);
    const { recipient } = await ageKey();
    const { target } = testTarget("stale");
    await configureExport(sql, { target, recipients: [recipient], budgetBytes: 64 * 1024, chunkBytes: 32 * 1024, continueJobs: false, staleAfter: "1 hour" });
    const r1 = await callExport(functionUrl("backup-export"), { mode: "tables", tables: TABLES });
    assert.equal(r1.status, 202, r1.text);
    const old = String(r1.json.job);
    // No progress for two hours, as if every invocation since had died.
    await sql`update lifeboat.backup_runs set last_progress_at = now() - interval '2 hours' where run_uuid = ${old}`;

    const r2 = await callExport(functionUrl("backup-export"), { mode: "tables", tables: TABLES });
    assert.ok([200, 202].includes(r2.status), r2.text);
    assert.notEqual(r2.json.job, old, "a new job was started");
    assert.equal(r2.json.joined, false);
    const [run] = await sql`select state, error from lifeboat.backup_runs where run_uuid = ${old}`;
    assert.equal(run.state, "failed");
    assert.match(run.error, /stale: no progress/);
    const alerts = await sql`select severity, state, summary from lifeboat.alert_events where dedup_key = ${"backup_export_stale:" + target}`;
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].state, "firing");
    assert.equal(alerts[0].severity, "critical");

    const r3 = await callExport(functionUrl("backup-export"), { mode: "tables", resume: old });
    assert.equal(r3.status, 409);
    assert.equal(r3.json.error, "job_failed");
    await sql`select lifeboat.export_fail_run(id, 'test cleanup') from lifeboat.backup_runs where target = ${target} and state = 'running'`;
  } finally {
    await removeTestTargets();
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await sql.end();
  }
});

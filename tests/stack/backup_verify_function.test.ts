/**
 * backup-verify through the stack (gateway, pg_net, pg_cron's sweep function, RGW): a backup
 * that backup-export completes is verified by the project on its own; a backup with one
 * flipped byte in the store is caught by one sweep (lifeboat.verify_tick(), what pg_cron
 * runs), which raises verification_failed and opens an incident; a verification spread over
 * many invocations (a tiny budget) resumes until done; only service callers reach any of it.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { db, functionUrl, secretKey, stackEnv, waitFor } from "../../harness/stack.ts";
import { ageKey, callExport, configureExport, removeTestTargets, testTarget, waitForJob } from "../../harness/edge_export.ts";
import type { Store } from "../../supabase/functions/_shared/store/mod.ts";

const url = () => functionUrl("backup-verify");

async function setSetting(sql: postgres.Sql, key: string, value: unknown) {
  await sql`update lifeboat.settings set value = ${JSON.stringify(value)}::text::jsonb where key = ${key}`;
}

async function resetSettings(sql: postgres.Sql) {
  await sql`update lifeboat.settings set value = default_value
    where key like 'verify.%' or key in ('export.target', 'export.recipients', 'export.budget.bytes', 'export.chunk_bytes')`;
}

/** Runs a full export through the function and waits until it completed; returns its run row. */
async function exportOnce(sql: postgres.Sql, target: string, recipient: string, chunkBytes = 16777216) {
  await configureExport(sql, { target, recipients: [recipient], chunkBytes });
  const r = await callExport(functionUrl("backup-export"), { mode: "full", label: "verify-fn-test" });
  assert.ok(r.status === 200 || r.status === 202, r.text);
  const uuid = String(r.json.job);
  return await waitForJob(sql, uuid, ["completed", "failed"], 240_000);
}

/** Waits for the finished automatic verification of a backup run. */
async function finishedVerification(sql: postgres.Sql, runId: number, ms = 120_000) {
  let row: postgres.Row | undefined;
  await waitFor(async () => {
    [row] = await sql`select * from lifeboat.verification_runs
      where backup_run_id = ${runId} and source = 'backup-verify' and finished_at is not null order by id desc limit 1`;
    return !!row;
  }, ms, `the verification of backup run ${runId}`);
  return row!;
}

async function flipOneByte(store: Store, backupId: string, key: string) {
  const full = `${backupId}/${key}`;
  const bytes = await store.getBytes(full);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  await store.put(full, bytes);
}

async function cleanup(sql: postgres.Sql, runIds: number[]) {
  // The test's stores are emptied next: their runs must not be verified again by the sweep.
  await sql`update lifeboat.backup_runs set state = 'pruned' where id = any(${runIds}::bigint[])`;
  await sql`delete from lifeboat.verification_runs where backup_run_id = any(${runIds}::bigint[])`;
  await sql`select count(*) from lifeboat.evaluate_alerts()`;
  await sql`update lifeboat.incidents set status = 'resolved', resolved_at = now()
    where status = 'open' and dedup_key = 'verification_failed:backup'`;
}

Deno.test("backup-verify: a completed export is verified by the project, and a flipped byte is caught by one sweep", async () => {
  const sql = db();
  const runIds: number[] = [];
  try {
    const { recipient } = await ageKey();
    const { target, store } = testTarget("verify-fn");
    await setSetting(sql, "verify.on_completion", true);

    // 1. The completion trigger asks for the verification; it passes, signed by the Vault key.
    const good = await exportOnce(sql, target, recipient);
    assert.equal(good.state, "completed", good.error);
    runIds.push(Number(good.id));
    const v = await finishedVerification(sql, Number(good.id));
    assert.equal(v.success, true, JSON.stringify(v.findings));
    assert.equal(v.kind, "backup");
    assert.equal(v.backup_id, good.metadata.backup_id);
    const names = (v.details.checks as { check: string; level: string }[]).map((c) => `${c.check}:${c.level}`);
    for (const n of ["signature:ok", "integrity:ok", "completeness:ok", "backup_recorded:ok"]) assert.ok(names.includes(n), `${n} in ${names}`);

    // 2. Without the trigger, the sweep finds the unverified backup; one flipped byte fails it.
    await setSetting(sql, "verify.on_completion", false);
    const bad = await exportOnce(sql, target, recipient);
    assert.equal(bad.state, "completed", bad.error);
    runIds.push(Number(bad.id));
    const manifest = JSON.parse(new TextDecoder().decode(await store.getBytes(bad.manifest_key)));
    const victim = manifest.objects.find((o: { kind: string }) => o.kind === "data").key as string;
    await flipOneByte(store, manifest.id, victim);
    const [pending] = await sql`select count(*)::int as n from lifeboat.verify_pending() where backup_run_id = ${bad.id}`;
    assert.equal(pending.n, 1);
    const [tick] = await sql`select lifeboat.verify_tick() as r`;
    assert.equal(tick.r, "invoked");
    const failed = await finishedVerification(sql, Number(bad.id));
    assert.equal(failed.success, false);
    const finding = (failed.findings as { check: string; object: string }[]).find((f) => f.check === "object_sha256");
    assert.ok(finding, JSON.stringify(failed.findings));
    assert.equal(finding.object, victim);
    const [alert] = await sql`select * from lifeboat.alert_events where dedup_key = 'verification_failed:backup' and state = 'firing'`;
    assert.ok(alert, "verification_failed fired");
    assert.equal(alert.details.verification_id, Number(failed.id));
    const [incident] = await sql`select * from lifeboat.incidents where id = ${alert.incident_id}`;
    assert.equal(incident.status, "open");
    // Nothing pending any more: the next sweep calls nothing.
    const [idle] = await sql`select count(*)::int as n from lifeboat.verify_pending() where backup_run_id = any(${runIds}::bigint[])`;
    assert.equal(idle.n, 0);
  } finally {
    await cleanup(sql, runIds);
    await resetSettings(sql);
    await removeTestTargets();
    await sql.end();
  }
});

Deno.test("backup-verify: a verification that does not fit one invocation resumes until done", async () => {
  const sql = db();
  const runIds: number[] = [];
  try {
    const { recipient } = await ageKey();
    const { target } = testTarget("verify-fn-resume");
    await setSetting(sql, "verify.on_completion", false);
    const run = await exportOnce(sql, target, recipient, 64 * 1024);
    assert.equal(run.state, "completed", run.error);
    runIds.push(Number(run.id));
    // One object per invocation: the first batch always runs, the byte budget stops the next.
    await setSetting(sql, "verify.budget.bytes", 1);
    await setSetting(sql, "verify.concurrency", 1);
    const first = await fetch(url(), {
      method: "POST", headers: { apikey: secretKey(), "content-type": "application/json" },
      body: JSON.stringify({ backup_run_id: Number(run.id) }),
    });
    const body = await first.json();
    assert.equal(first.status, 202, JSON.stringify(body));
    assert.equal(body.state, "running");
    assert.equal(body.objectsDone, 1);
    assert.equal(body.stoppedBy, "bytes");
    const v = await finishedVerification(sql, Number(run.id), 240_000);
    assert.equal(v.success, true, JSON.stringify(v.findings));
    assert.equal(v.details.invocations, body.objectsTotal, "one invocation per object");
    assert.ok(body.objectsTotal > 3, `only ${body.objectsTotal} objects`);
  } finally {
    await cleanup(sql, runIds);
    await resetSettings(sql);
    await removeTestTargets();
    await sql.end();
  }
});

Deno.test("backup-verify: service callers only (401/403/405), 400 naming the field, idle with nothing to do", async () => {
  const post = (body: string, headers: Record<string, string>) =>
    fetch(url(), { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const missing = await post("{}", {});
  assert.equal(missing.status, 401);
  await missing.body?.cancel();
  const anon = await post("{}", { apikey: JSON.parse(stackEnv("SUPABASE_PUBLISHABLE_KEYS")).default });
  assert.equal(anon.status, 403);
  assert.equal((await anon.json()).error, "forbidden");
  const legacyAnon = await post("{}", { authorization: `Bearer ${stackEnv("SUPABASE_ANON_KEY")}` });
  assert.equal(legacyAnon.status, 403);
  await legacyAnon.body?.cancel();
  const get = await fetch(url(), { headers: { apikey: secretKey() } });
  assert.equal(get.status, 405);
  await get.body?.cancel();
  for (const [body, field] of [["[1]", "(body)"], ['{"backup_run_id": "x"}', "backup_run_id"], ['{"id": 1}', "id"], ["{", "(body)"]]) {
    const r = await post(body, { apikey: secretKey() });
    const j = await r.json();
    assert.equal(r.status, 400, `${body}: ${JSON.stringify(j)}`);
    assert.equal(j.field, field, body);
  }
  const none = await post('{"backup_run_id": 999999999}', { apikey: secretKey() });
  assert.equal(none.status, 200);
  assert.equal((await none.json()).state, "idle");
});

Deno.test("backup-verify: anon and authenticated reach none of the queue; service_role may only report drills", async () => {
  const sql = db();
  try {
    for (const role of ["anon", "authenticated", "service_role"]) {
      for (const stmt of ["select lifeboat.verify_tick()", "select * from lifeboat.verify_claim('x', '1 minute')",
        "select * from lifeboat.verify_pending()", "select lifeboat.verify_finish(1, 'x', true, 1, 0, 0, '[]', '{}')",
        "select * from lifeboat.objectives", "select lifeboat.status_reasons()"]) {
        await assert.rejects(sql.begin(async (tx) => {
          await tx.unsafe(`set local role ${role}`);
          await tx.unsafe(stmt);
        }), (e: { code?: string }) => e.code === "42501", `${role}: ${stmt}`);
      }
    }
    for (const role of ["anon", "authenticated"]) {
      await assert.rejects(sql.begin(async (tx) => {
        await tx.unsafe(`set local role ${role}`);
        await tx.unsafe(`select lifeboat.report_drill('{}')`);
      }), (e: { code?: string }) => e.code === "42501", `${role} may not report drills`);
    }
  } finally {
    await sql.end();
  }
});

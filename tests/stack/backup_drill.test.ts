/**
 * In-project restore drills (`backup-drill`, issue 19 item 2) on the real stack: a signed,
 * encrypted backup of the demo app taken by backup-export (to an offline recipient and the drill
 * recipient), drilled into scratch schemas of the same database, unit by unit across
 * invocations; killed mid-way and cleaned up by the next run; refused beside an export, by the
 * kill switch, and without a usable drill identity (each recorded); closed to anon/authenticated.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { db, FunctionProcess, functionUrl, secretKey, stackEnv, waitFor } from "../../harness/stack.ts";
import { ageKey, callExport, configureExport, removeTestTargets, testTarget, waitForJob } from "../../harness/edge_export.ts";

const DRILL_SECRET = "lifeboat_drill_identity_test";

/** The drill's settings, written to lifeboat.settings (the migration's defaults for the rest). */
async function setDrill(sql: postgres.Sql, values: Record<string, unknown>): Promise<void> {
  for (const [key, value] of Object.entries(values)) {
    await sql`update lifeboat.settings set value = ${JSON.stringify(value)}::text::jsonb where key = ${key}`;
  }
}

/** Back to the defaults, except the identity. */
async function resetDrill(sql: postgres.Sql): Promise<void> {
  await sql`update lifeboat.settings set value = default_value where key like 'drill.%'`;
  await setDrill(sql, { "drill.identity_secret": DRILL_SECRET, "drill.continue": false });
}

/** Stores (or replaces) a Vault secret. */
async function putSecret(sql: postgres.Sql, name: string, value: string): Promise<void> {
  await sql`delete from vault.secrets where name = ${name}`;
  await sql`select vault.create_secret(${value}, ${name})`;
}

async function callDrill(url: string, body: unknown = {}, headers: Record<string, string> = { apikey: secretKey() }) {
  return await callExport(url, body, headers);
}

/** Calls the function with {"resume": true} until the drill ends; returns the last answer. */
async function drillToEnd(url: string, first: unknown = {}) {
  let r = await callDrill(url, first);
  for (let i = 0; i < 60 && (r.status === 202 || r.json.state === "running"); i++) r = await callDrill(url, { resume: true });
  return r;
}

async function scratchSchemas(sql: postgres.Sql): Promise<string[]> {
  const rows = await sql`select nspname::text as n from pg_namespace where nspname ~ '^lifeboat_drill_j[0-9]' order by 1`;
  return rows.map((r) => r.n);
}

async function drillRow(sql: postgres.Sql, id: number) {
  const [r] = await sql`select *, extract(epoch from measured_rto)::float8 as rto_s from lifeboat.drills where id = ${id}`;
  return r;
}

/** Fingerprints of the demo app's public tables (production must not change). */
async function publicFingerprints(sql: postgres.Sql) {
  const rows = await sql`
    select c.relname as name, lifeboat.fingerprint(c.oid::regclass) as f from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' order by 1`;
  return Object.fromEntries(rows.map((r) => [r.name, r.f]));
}

let setup: Promise<{ tables: number; offlineKey: string }> | null = null;

/**
 * Once per file: a full backup of the demo app through backup-export, encrypted to an offline
 * recipient and to the drill recipient, the drill identity in Vault, and assertions in
 * lifeboat_drill_tests.
 */
function prepare(): Promise<{ tables: number; offlineKey: string }> {
  setup ??= (async () => {
    const sql = db();
    try {
      const offline = await ageKey();
      const drillKey = await ageKey();
      const { target } = testTarget("drill");
      await configureExport(sql, { target, recipients: [offline.recipient, drillKey.recipient] });
      const r = await callExport(functionUrl("backup-export"), { mode: "full" });
      assert.ok(r.status === 200 || r.status === 202, `export: ${r.status} ${r.text}`);
      const job = await waitForJob(sql, String(r.json.job), ["completed", "failed"], 240_000);
      assert.equal(job.state, "completed", `export failed: ${job.error}`);
      await putSecret(sql, DRILL_SECRET, await Deno.readTextFile(drillKey.keyFile));
      await resetDrill(sql);
      // The user's assertions need pgTAP enabled, as on hosted Supabase (Database → Extensions).
      await sql.unsafe(`
        create extension if not exists pgtap with schema extensions;
        drop schema if exists lifeboat_drill_tests cascade;
        create schema lifeboat_drill_tests;
        create function lifeboat_drill_tests.test_demo_app() returns setof text language plpgsql as $f$
        begin
          return next is((select count(*) from profiles), 40::bigint, 'every user has a profile in the copy');
          return next ok((select count(*) from notes) > 0, 'notes are restored');
          return next is((select count(*) from notes n where not exists (select from profiles p where p.id = n.user_id)), 0::bigint,
                         'every note has its owner');
        end
        $f$;`);
      return { tables: Number(job.metadata.table_count ?? 0), offlineKey: offline.keyFile };
    } finally {
      await sql.end();
    }
  })();
  return setup;
}

Deno.test("a drill restores the demo app into scratch schemas across invocations, passes, runs the assertions and leaves nothing behind", async () => {
  const sql = db();
  try {
    await prepare();
    await resetDrill(sql);
    // One unit per invocation: the drill resumes across several.
    await setDrill(sql, { "drill.unit_bytes": 1, "drill.budget.wall_ms": 1 });
    const before = await publicFingerprints(sql);
    const first = await callDrill(functionUrl("backup-drill"));
    assert.equal(first.status, 202, first.text);
    assert.equal(first.json.state, "running");
    assert.equal((first.json.invocation as { unitsDone: number }).unitsDone, 1);
    const r = await drillToEnd(functionUrl("backup-drill"), { resume: true });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.state, "completed", r.text);
    assert.equal(r.json.success, true, r.text);
    const row = await drillRow(sql, Number(r.json.drill));
    assert.equal(row.success, true);
    assert.equal(row.details.where, "in-project");
    assert.deepEqual([row.ran_in, row.restored_into, row.sampled, row.backup_id], ["project", "scratch_schema", false, r.json.backupId]);
    assert.ok(row.backup_taken_at instanceof Date && row.backup_taken_at <= row.started_at);
    assert.equal(row.details.sampled, false);
    assert.equal(row.details.state, "completed");
    assert.ok(row.details.invocations >= 3, `only ${row.details.invocations} invocations`);
    assert.ok(row.details.tables >= 7, `only ${row.details.tables} tables restored`);
    assert.ok(row.details.tableResults.every((t: { fingerprint: string }) => t.fingerprint === "match"));
    assert.ok(row.details.tableResults.some((t: { source: string }) => t.source === "public.profiles"));
    assert.deepEqual({ passed: row.details.assertions.passed, failed: row.details.assertions.failed }, { passed: 3, failed: 0 });
    assert.ok(row.rto_s > 0 && row.finished_at);
    assert.equal(row.met_objective, true);
    assert.deepEqual(await scratchSchemas(sql), []);
    assert.deepEqual(await publicFingerprints(sql), before, "production's tables changed");
  } finally {
    await sql.end();
  }
});

Deno.test("a failing assertion fails the drill, and a larger backup than drill.max_bytes is sampled and says so", async () => {
  const sql = db();
  try {
    await prepare();
    await resetDrill(sql);
    await sql.unsafe(`create function lifeboat_drill_tests.test_wrong() returns setof text language plpgsql as $f$
      begin return next is((select count(*) from profiles), 41::bigint, 'a wrong expectation'); end $f$`);
    try {
      await setDrill(sql, { "drill.max_bytes": 20000 });
      const r = await drillToEnd(functionUrl("backup-drill"));
      assert.equal(r.json.state, "failed", r.text);
      const row = await drillRow(sql, Number(r.json.drill));
      assert.equal(row.success, false);
      assert.equal(row.details.sampled, true);
      assert.equal(row.sampled, true);
      assert.ok(row.details.sample.tables < row.details.sample.totalTables, JSON.stringify(row.details.sample));
      const checks = row.details.findings.map((f: { check: string }) => f.check);
      assert.ok(checks.includes("sample"), checks.join());
      assert.ok(checks.includes("assertions"), checks.join());
      assert.deepEqual(await scratchSchemas(sql), []);
    } finally {
      await sql`drop function if exists lifeboat_drill_tests.test_wrong()`;
    }
  } finally {
    await sql.end();
  }
});

Deno.test("killed mid-drill, the next run drops the scratch schemas left behind and drills again", async () => {
  const sql = db();
  const env = Deno.env.toObject();
  try {
    await prepare();
    await resetDrill(sql);
    await setDrill(sql, { "drill.unit_bytes": 1, "drill.lease": "1 second", "drill.stale_after": "1 second" });
    const proc = new FunctionProcess("backup-drill", env);
    await proc.ready();
    const call = callDrill(`${proc.url}/backup-drill`).catch(() => null);
    // Killed once the drill has restored into a scratch schema and is still running.
    await waitFor(async () => (await sql`select count(*)::int as n from lifeboat.drill_units u join lifeboat.drill_jobs j on j.id = u.job_id
                                          where j.state = 'running' and u.state = 'done'`)[0].n > 0, 60_000, "a unit done");
    await proc.stop();
    await call;
    const [killed] = await sql`select * from lifeboat.drill_jobs where state = 'running'`;
    assert.ok(killed, "the killed drill is still running");
    const left = await scratchSchemas(sql);
    assert.ok(left.some((s) => s.startsWith(`lifeboat_drill_j${killed.id}_`)), `no scratch left by the kill: ${left}`);
    await new Promise((r) => setTimeout(r, 2100));
    // An orphan from a drill whose job row is gone: dropped too.
    await sql.unsafe(`create schema lifeboat_drill_j999999_u0; create table lifeboat_drill_j999999_u0.t (x int)`);

    const r = await drillToEnd(functionUrl("backup-drill"));
    assert.equal(r.json.state, "completed", r.text);
    assert.equal(r.json.success, true, r.text);
    const old = await drillRow(sql, Number(killed.drill_id));
    assert.equal(old.success, false);
    assert.equal(old.details.state, "interrupted");
    assert.equal(old.details.dropped, true);
    const now = await drillRow(sql, Number(r.json.drill));
    const leftovers = (now.details.leftovers ?? []).map((c: { object: string }) => c.object);
    assert.ok(leftovers.includes("lifeboat_drill_j999999_u0"), JSON.stringify(now.details.leftovers));
    assert.deepEqual(await scratchSchemas(sql), []);
  } finally {
    await sql.end();
  }
});

Deno.test("a drill refuses to start while an export runs, and waits when one starts mid-drill", async () => {
  const sql = db();
  try {
    await prepare();
    await resetDrill(sql);
    const [run] = await sql`insert into lifeboat.backup_runs (state, target, kind, started_at) values ('running', 's3://drill-test-busy/', 'full', now()) returning id`;
    try {
      const drills = (await sql`select count(*)::int as n from lifeboat.drills`)[0].n;
      const r = await callDrill(functionUrl("backup-drill"));
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error, "export_running");
      assert.equal((await sql`select count(*)::int as n from lifeboat.drills`)[0].n, drills, "a refused start recorded a drill");
      assert.deepEqual(await scratchSchemas(sql), []);
    } finally {
      await sql`delete from lifeboat.backup_runs where id = ${run.id}`;
    }
    // Started, then an export begins: the next invocation waits (202) and keeps its progress.
    await setDrill(sql, { "drill.unit_bytes": 1, "drill.budget.wall_ms": 1 });
    const first = await callDrill(functionUrl("backup-drill"));
    assert.equal(first.status, 202, first.text);
    const [run2] = await sql`insert into lifeboat.backup_runs (state, target, kind, started_at) values ('running', 's3://drill-test-busy/', 'full', now()) returning id`;
    try {
      const w = await callDrill(functionUrl("backup-drill"), { resume: true });
      assert.equal(w.status, 202, w.text);
      assert.equal(w.json.state, "waiting");
    } finally {
      await sql`delete from lifeboat.backup_runs where id = ${run2.id}`;
    }
    const r = await drillToEnd(functionUrl("backup-drill"), { resume: true });
    assert.equal(r.json.success, true, r.text);
    assert.deepEqual(await scratchSchemas(sql), []);
  } finally {
    await sql.end();
  }
});

Deno.test("the kill switch refuses new drills and stops a running one, dropping its scratch schemas", async () => {
  const sql = db();
  try {
    await prepare();
    await resetDrill(sql);
    await setDrill(sql, { "drill.unit_bytes": 1, "drill.budget.wall_ms": 1 });
    const first = await callDrill(functionUrl("backup-drill"));
    assert.equal(first.status, 202, first.text);
    assert.ok((await scratchSchemas(sql)).length > 0);
    await setDrill(sql, { "drill.kill_switch": true });
    const r = await callDrill(functionUrl("backup-drill"), { resume: true });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error, "drill_disabled");
    const row = await drillRow(sql, Number(first.json.drill));
    assert.equal(row.success, false);
    assert.equal(row.details.state, "stopped");
    assert.deepEqual(await scratchSchemas(sql), []);
    const again = await callDrill(functionUrl("backup-drill"));
    assert.equal(again.status, 409);
    assert.equal(again.json.error, "drill_disabled");
    assert.equal((await sql`select count(*)::int as n from lifeboat.drill_jobs where state = 'running'`)[0].n, 0);
  } finally {
    await resetDrill(sql);
    await sql.end();
  }
});

Deno.test("a missing, malformed or wrong drill identity is a clear recorded failure", async () => {
  const sql = db();
  try {
    const { offlineKey } = await prepare();
    await resetDrill(sql);
    const cases: [string, string | null, string][] = [
      ["lifeboat_drill_identity_absent", null, "drill_identity_missing"],
      ["lifeboat_drill_identity_garbage", "garbage-drill-key-value", "drill_identity_invalid"],
      // A valid identity that is not the drill recipient of this backup.
      ["lifeboat_drill_identity_other", (await ageKey()).keyFile, "drill_identity_not_recipient"],
    ];
    for (const [name, value, code] of cases) {
      const secret = value === null ? null : value.startsWith("/") ? await Deno.readTextFile(value) : value;
      if (secret !== null) await putSecret(sql, name, secret);
      await setDrill(sql, { "drill.identity_secret": name });
      const r = await callDrill(functionUrl("backup-drill"));
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error, code);
      const quoted = secret?.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1") || l === "garbage-drill-key-value");
      if (quoted) assert.ok(!r.text.includes(quoted), "the answer quotes the secret");
      const row = await drillRow(sql, Number(r.json.drill));
      assert.equal(row.success, false);
      assert.equal(row.details.where, "in-project");
      assert.equal(row.details.findings.at(-1).check, code);
      assert.ok(row.finished_at);
    }
    // The offline identity is never needed by the project (it decrypts as well: it is a recipient).
    assert.ok((await Deno.readTextFile(offlineKey)).includes("AGE-SECRET-KEY-1"));
    assert.deepEqual(await scratchSchemas(sql), []);
  } finally {
    await resetDrill(sql);
    await sql.end();
  }
});

Deno.test("anon and authenticated cannot reach backup-drill or its tables and functions", async () => {
  const sql = db();
  try {
    const url = functionUrl("backup-drill");
    const anon = stackEnv("SUPABASE_ANON_KEY");
    const publishable = JSON.parse(stackEnv("SUPABASE_PUBLISHABLE_KEYS")).default as string;
    assert.equal((await callDrill(url, {}, {})).status, 401);
    assert.equal((await callDrill(url, {}, { apikey: publishable })).status, 403);
    assert.equal((await callDrill(url, {}, { apikey: anon, authorization: `Bearer ${anon}` })).status, 403);
    assert.equal((await callDrill(url, {}, { apikey: "sb_secret_wrong" })).status, 401);
    const bad = await callDrill(url, { resume: "yes" });
    assert.equal(bad.status, 400);
    assert.equal((await fetch(url, { headers: { apikey: secretKey() } }).then(async (r) => (await r.body?.cancel(), r.status))), 405);
    for (const role of ["anon", "authenticated"]) {
      for (const stmt of [
        "select * from lifeboat.drill_jobs", "select * from lifeboat.drill_units", "select lifeboat.drill_tick()",
        "select * from lifeboat.drill_leftover_schemas()",
      ]) {
        await assert.rejects(
          sql.begin(async (tx) => {
            await tx.unsafe(`set local role ${role}`);
            await tx.unsafe(stmt);
          }),
          /permission denied/,
          `${role}: ${stmt}`,
        );
      }
    }
  } finally {
    await sql.end();
  }
});

Deno.test("the weekly schedule reaches the function through pg_net and the drill completes by itself, continuation by continuation", async () => {
  const sql = db();
  try {
    await prepare();
    await resetDrill(sql);
    await setDrill(sql, { "drill.continue": true, "drill.unit_bytes": 1, "drill.budget.wall_ms": 1 });
    const applied = await sql`select * from lifeboat.apply_schedules() where jobname like 'lifeboat-drill-%' order by 1`;
    assert.deepEqual(applied.map((r) => [r.jobname, r.active]), [["lifeboat-drill-resume", true], ["lifeboat-drill-weekly", true]]);
    const [job] = await sql`select command from cron.job where jobname = 'lifeboat-drill-weekly'`;
    const [{ since }] = await sql`select now() as since`;
    // What pg_cron runs on Monday at 04:17, run now.
    await sql.unsafe(String(job.command));
    let row: postgres.Row | undefined;
    await waitFor(async () => {
      [row] = await sql`select * from lifeboat.drills where started_at >= ${since} and details ->> 'where' = 'in-project' and finished_at is not null`;
      return !!row;
    }, 180_000, "the scheduled drill to finish");
    assert.equal(row!.success, true, JSON.stringify(row!.details.findings));
    assert.ok(row!.details.invocations >= 3, `${row!.details.invocations} invocations`);
    assert.deepEqual(await scratchSchemas(sql), []);
  } finally {
    await resetDrill(sql);
    await sql`update lifeboat.settings set value = default_value where key in ('drill.identity_secret', 'export.target')`;
    await sql`select * from lifeboat.apply_schedules()`;
    await sql.end();
  }
});

Deno.test("cleanup: the drill tests' stores and settings", async () => {
  const sql = db();
  try {
    // The export settings go back too: apply_schedules() would otherwise keep export-daily installed.
    await sql`update lifeboat.settings set value = default_value where key like 'drill.%' or key in ('export.target', 'export.recipients')`;
    await sql`select * from lifeboat.apply_schedules()`;
    await sql`drop schema if exists lifeboat_drill_tests cascade`;
    await removeTestTargets();
  } finally {
    await sql.end();
  }
});

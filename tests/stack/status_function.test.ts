// The backup-status function over real HTTP, through the local gateway, against the real
// database with seeded backup, verification and drill history.
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { withIsolatedTables } from "../support/isolation.ts";
import { db, freePort, FunctionProcess, functionUrl, secretKey, serviceHeaders, stackEnv } from "../../harness/stack.ts";
import { removeStatusHistory, seedStatusHistory, withStatusIsolation } from "../support/status_seed.ts";

const STATUS = functionUrl("backup-status");
const token = () => stackEnv("LIFEBOAT_STATUS_TOKEN");
const bearer = () => ({ authorization: `Bearer ${token()}` });

/** Nothing that identifies the server or a credential may appear in a response. */
function assertNoLeaks(text: string) {
  for (
    const needle of ["127.0.0.1", "localhost", "postgres:", "PostgreSQL", "sb_secret_", "lbst_", stackEnv("LIFEBOAT_DB_PORT"), "manifest.json"]
  ) {
    assert.ok(!text.includes(needle), `response leaks ${needle}`);
  }
}

async function get(url: string, headers: Record<string, string> = {}, method = "GET") {
  const res = await fetch(url, { headers, method });
  const text = await res.text();
  return { res, text };
}

async function withSeed(fn: () => Promise<void>) {
  const sql = db();
  try {
    await withStatusIsolation(sql, async () => {
      try {
        await seedStatusHistory(sql);
        // The function caches a report for up to 1 s: let a previous one expire.
        await new Promise((r) => setTimeout(r, 1100));
        await fn();
      } finally {
        await removeStatusHistory(sql);
      }
    });
  } finally {
    await sql.end();
  }
}

Deno.test("backup-status: public, wrong-token and anon callers get 401 JSON", async () => {
  for (
    const headers of [
      {},
      { authorization: "Bearer lbst_wrong" },
      { authorization: `Bearer ${stackEnv("SUPABASE_ANON_KEY")}` },
      { apikey: "sb_secret_wrong" },
    ] as Record<string, string>[]
  ) {
    for (const path of ["", "?format=html", "?format=prometheus", "/badge.svg", "/metrics"]) {
      const { res, text } = await get(`${STATUS}${path}`, headers);
      assert.equal(res.status, 401, `${path} with ${Object.keys(headers)}`);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal(JSON.parse(text).error, "unauthorized");
      assertNoLeaks(text);
    }
  }
  const wrongQuery = await get(`${STATUS}/badge.svg?token=lbst_wrong`);
  assert.equal(wrongQuery.res.status, 401);
});

Deno.test("backup-status: JSON for the status token, secret key and service_role JWT", async () => {
  await withSeed(async () => {
    for (
      const headers of [bearer(), serviceHeaders(), { authorization: `Bearer ${stackEnv("SUPABASE_SERVICE_ROLE_KEY")}` }]
    ) {
      const { res, text } = await get(STATUS, headers);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal(res.headers.get("cache-control"), "no-store");
      const body = JSON.parse(text);
      assert.equal(body.recoverable, true, JSON.stringify(body.reasons));
      assert.deepEqual(body.reasons.map((r: { check: string }) => r.check), ["backup_exists", "backup_within_rpo", "backup_verified", "drill_passed"]);
      assert.equal(body.backups.full.within_rpo, true);
      assert.ok(body.backups.full.age_seconds >= 7000 && body.backups.full.age_seconds < 7400, `age ${body.backups.full.age_seconds}`);
      assert.equal(body.rpo.seconds, 86400);
      assert.ok(body.trend.length >= 30);
      assert.ok(body.drills.length >= 8);
      assert.equal(body.drill.last.success, true);
      assert.equal(body.retention.tiers[0].tier, "daily");
      assert.equal(body.retention.tiers[0].filled, 7);
      assert.ok(Array.isArray(body.cron.jobs) && body.cron.jobs.some((j: { job: string }) => j.job === "lifeboat-alerts-evaluate"));
      assertNoLeaks(text);
    }
  });
});

Deno.test("backup-status: Prometheus exposition parses and carries the status", async () => {
  await withSeed(async () => {
    const { res, text } = await get(`${STATUS}?format=prometheus`, bearer());
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const families = parsePrometheus(text) as { name: string; type: string; help: string; metrics: { value: string; labels?: Record<string, string> }[] }[];
    const fam = (n: string) => {
      const f = families.find((x) => x.name === n);
      assert.ok(f, `metric ${n} missing`);
      assert.equal(f.type, "GAUGE");
      assert.ok(f.help.length > 0);
      return f;
    };
    const age = fam("lifeboat_backup_age_seconds").metrics.find((m) => m.labels?.kind === "full");
    assert.ok(age && Number(age.value) >= 7000 && Number(age.value) < 7400);
    assert.equal(fam("lifeboat_rpo_seconds").metrics[0].value, "86400");
    assert.equal(fam("lifeboat_last_drill_success").metrics[0].value, "1");
    assert.equal(fam("lifeboat_recoverable").metrics[0].value, "1");
    assert.equal(fam("lifeboat_up").metrics[0].value, "1");
    assert.equal(fam("lifeboat_retention_slots_filled").metrics.find((m) => m.labels?.tier === "daily")?.value, "7");
    assert.ok(Number(fam("lifeboat_backup_size_bytes").metrics[0].value) > 0);
    assert.ok(fam("lifeboat_cron_job_healthy").metrics.length >= 1);
    // Every sample line belongs to a family with HELP and TYPE, and names are unique.
    const names = families.map((f) => f.name);
    assert.equal(new Set(names).size, names.length);
    assertNoLeaks(text);

    // /metrics is the same exposition (for scrape configs that cannot set a query string).
    const m = await get(`${STATUS}/metrics`, bearer());
    assert.equal(m.res.status, 200);
    assert.ok(parsePrometheus(m.text).some((f: { name: string }) => f.name === "lifeboat_backup_age_seconds"));
  });
});

Deno.test("backup-status: the badge and page work with ?token= alone", async () => {
  await withSeed(async () => {
    const badge = await get(`${STATUS}/badge.svg?token=${encodeURIComponent(token())}`);
    assert.equal(badge.res.status, 200);
    assert.equal(badge.res.headers.get("content-type"), "image/svg+xml; charset=utf-8");
    assert.match(badge.text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(badge.text, /aria-label="backup: 2h ago"/);
    assert.match(badge.text, /fill="#4c1"/, "a backup within 80% of the RPO is green");
    assertNoLeaks(badge.text);

    const page = await get(`${STATUS}?format=html&token=${encodeURIComponent(token())}`);
    assert.equal(page.res.status, 200);
    assert.equal(page.res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.text, /^<!doctype html>/);
    assert.match(page.text, /Recoverable/);
    // Self-contained: no external script, stylesheet, image or font.
    assert.ok(!/<script|<link|src=|url\(http|@import/i.test(page.text), "the page loads nothing external");
    assertNoLeaks(page.text);

    const head = await get(`${STATUS}/badge.svg?token=${encodeURIComponent(token())}`, {}, "HEAD");
    assert.equal(head.res.status, 200);
    assert.equal(head.text, "");
  });
});

Deno.test("backup-status: bad input gets a clear JSON 4xx", async () => {
  let r = await get(`${STATUS}?format=xml`, bearer());
  assert.equal(r.res.status, 400);
  assert.equal(JSON.parse(r.text).error, "invalid_format");
  assert.match(JSON.parse(r.text).message, /format=json, format=prometheus or format=html/);

  r = await get(`${STATUS}/metrics?format=html`, bearer());
  assert.equal(r.res.status, 400);

  r = await get(`${STATUS}/admin`, bearer());
  assert.equal(r.res.status, 404);
  assert.equal(JSON.parse(r.text).error, "not_found");

  r = await get(STATUS, bearer(), "DELETE");
  assert.equal(r.res.status, 405);
  assert.equal(r.res.headers.get("allow"), "GET, HEAD, POST, OPTIONS");

  r = await get(`${STATUS}/badge.svg`, bearer(), "POST");
  assert.equal(r.res.status, 405);

  // The status token is read-only.
  let res = await fetch(`${STATUS}/notify`, { method: "POST", headers: bearer(), body: "{}" });
  assert.equal(res.status, 403);
  assert.equal((await res.json()).error, "forbidden");
  res = await fetch(`${STATUS}/notify`, { method: "POST", body: "{}" });
  assert.equal(res.status, 401);
  await res.body?.cancel();
  res = await fetch(STATUS, { method: "POST", headers: serviceHeaders(), body: "not json" });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "invalid_body");
  res = await fetch(STATUS, { method: "POST", headers: serviceHeaders(), body: '{"action":"drop tables"}' });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "invalid_action");
  res = await fetch(`${STATUS}/notify`, { method: "POST", headers: serviceHeaders(), body: '{"action":"notify"}' });
  assert.equal(res.status, 200);
  const summary = await res.json();
  assert.equal(summary.action, "notify");
  assert.equal(typeof summary.claimed, "number");
});

Deno.test("backup-status: CORS follows LIFEBOAT_STATUS_CORS_ORIGINS; a dead database gives 503 JSON, up 0 and a grey badge", async () => {
  const fn = new FunctionProcess("backup-status", {
    SUPABASE_DB_URL: stackEnv("SUPABASE_DB_URL"),
    SUPABASE_SECRET_KEYS: stackEnv("SUPABASE_SECRET_KEYS"),
    LIFEBOAT_STATUS_TOKEN: token(),
    LIFEBOAT_STATUS_CORS_ORIGINS: "https://dash.example.com, https://grafana.example.com",
  });
  const port = freePort();
  const dead = new FunctionProcess("backup-status", {
    SUPABASE_DB_URL: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    SUPABASE_SECRET_KEYS: stackEnv("SUPABASE_SECRET_KEYS"),
    LIFEBOAT_STATUS_TOKEN: token(),
  });
  try {
    await fn.ready();
    let res = await fetch(`${fn.url}/backup-status`, {
      method: "OPTIONS",
      headers: { origin: "https://dash.example.com", "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://dash.example.com");
    assert.match(res.headers.get("access-control-allow-headers") ?? "", /authorization/);
    await res.body?.cancel();
    res = await fetch(`${fn.url}/backup-status`, { headers: { origin: "https://grafana.example.com", ...bearer() } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://grafana.example.com");
    assert.equal(res.headers.get("vary"), "Origin");
    await res.body?.cancel();
    res = await fetch(`${fn.url}/backup-status`, { method: "OPTIONS", headers: { origin: "https://evil.example.net" } });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error, "origin_not_allowed");
    res = await fetch(`${fn.url}/backup-status`, { headers: { origin: "https://evil.example.net", ...bearer() } });
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    await res.body?.cancel();

    await dead.ready();
    const json = await get(`${dead.url}/backup-status`, { apikey: secretKey() });
    assert.equal(json.res.status, 503);
    assert.equal(JSON.parse(json.text).error, "status_unavailable");
    assert.ok(!json.text.includes(String(port)));
    const prom = await get(`${dead.url}/backup-status?format=prometheus`, bearer());
    assert.equal(prom.res.status, 200);
    assert.equal(parsePrometheus(prom.text).find((f: { name: string }) => f.name === "lifeboat_up").metrics[0].value, "0");
    const badge = await get(`${dead.url}/backup-status/badge.svg`, bearer());
    assert.match(badge.text, /backup: unknown/);
    assert.match(badge.text, /#9f9f9f/);
  } finally {
    await fn.stop();
    await dead.stop();
  }
});

Deno.test("test isolation: rows set aside come back with their ids, and paused jobs run again, even when the test throws", async () => {
  const sql = db();
  const job = "lifeboat-isolation-probe";
  const snapshot = async () => ({
    runs: await sql`select * from lifeboat.backup_runs where label = ${job}`,
    parts: await sql`select p.* from lifeboat.backup_parts p join lifeboat.backup_runs r on r.id = p.run_id where r.label = ${job}`,
    drills: await sql`select * from lifeboat.drills where details ->> 'probe' = ${job}`,
  });
  try {
    await sql`select cron.schedule(${job}, '0 0 1 1 *', 'select 1')`;
    const [run] = await sql`insert into lifeboat.backup_runs (kind, label, state, started_at, finished_at, manifest_key, bytes)
      values ('full', ${job}, 'completed', now() - interval '1 hour', now(), 'probe/manifest.json', 42) returning id`;
    await sql`insert into lifeboat.backup_parts (run_id, table_schema, table_name, state) values (${run.id}, 'public', 'orders', 'pending')`;
    await sql`insert into lifeboat.drills (system, backup_run_id, started_at, finished_at, measured_rto, objective, success, details)
      values ('database', ${run.id}, now() - interval '1 hour', now(), interval '5 minutes', interval '1 hour', false, ${sql.json({ probe: job })})`;
    const before = await snapshot();

    await assert.rejects(
      withIsolatedTables(sql, { tables: ["lifeboat.backup_runs"] }, async () => {
        const [n] = await sql`select (select count(*) from lifeboat.backup_runs)::int as runs,
          (select count(*) from lifeboat.backup_parts)::int as parts, (select count(*) from lifeboat.drills)::int as drills,
          (select count(*) from cron.job where active)::int as active`;
        assert.deepEqual(n, { runs: 0, parts: 0, drills: 0, active: 0 });
        await sql`insert into lifeboat.backup_runs (kind, label) values ('full', 'left behind by a failing test')`;
        throw new Error("the test failed");
      }),
      /the test failed/,
    );

    assert.deepEqual(await snapshot(), before);
    const [after] = await sql`select (select active from cron.job where jobname = ${job}) as active,
      (select count(*) from lifeboat.backup_runs where label = 'left behind by a failing test')::int as stray,
      pg_catalog.to_regnamespace('lifeboat_test_stash') is null as dropped`;
    assert.deepEqual(after, { active: true, stray: 0, dropped: true });
  } finally {
    await sql`delete from lifeboat.backup_runs where label = ${job}`;
    await sql`delete from lifeboat.drills where details ->> 'probe' = ${job}`;
    await sql`select cron.unschedule(jobid) from cron.job where jobname = ${job}`;
    await sql.end();
  }
});

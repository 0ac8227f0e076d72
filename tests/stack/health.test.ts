// The health function over real HTTP, through the local gateway, against the real database.
import assert from "node:assert/strict";
import {
  db,
  dbUrl,
  freePort,
  FunctionProcess,
  functionUrl,
  repoRoot,
  run,
  serviceHeaders,
  stackEnv,
  waitFor,
} from "../../harness/stack.ts";

const HEALTH = functionUrl("health");
const HEALTH_QUERY = `select "check", level, object, detail, metadata from lifeboat.health()`;

async function getJson(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { res, text, body: text ? JSON.parse(text) : null };
}

/** Nothing that identifies the server may appear in a response. */
function assertNoLeaks(text: string) {
  for (const needle of ["127.0.0.1", "localhost", "postgres:", "PostgreSQL", "Debian", "sb_secret_", stackEnv("LIFEBOAT_DB_PORT")]) {
    assert.ok(!text.includes(needle), `response leaks ${needle}: ${text}`);
  }
}

async function healthCalls(): Promise<number> {
  const sql = db();
  try {
    const rows = await sql`select coalesce(sum(calls), 0)::int as calls from extensions.pg_stat_statements
      where query = ${HEALTH_QUERY}`;
    return rows[0].calls;
  } finally {
    await sql.end();
  }
}

Deno.test("health: public readiness shows status and check names only", async () => {
  const { res, text, body } = await getJson(HEALTH);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/health\+json/);
  // warn, not fail, is what a stack with no backup yet reports (backup_age).
  assert.ok(["pass", "warn"].includes(body.status), body.status);
  assert.deepEqual(Object.keys(body.checks).sort(), [
    "database:backup_age",
    "database:connections",
    "database:cron_failures",
    "database:cron_scheduler",
    "database:responseTime",
  ]);
  for (const list of Object.values(body.checks) as Array<Array<Record<string, unknown>>>) {
    for (const c of list) assert.deepEqual(Object.keys(c), ["status"]);
  }
  assertNoLeaks(text);
});

Deno.test("health: service callers see values (secret key and legacy service_role JWT)", async () => {
  for (
    const headers of [
      serviceHeaders() as Record<string, string>,
      { authorization: `Bearer ${stackEnv("SUPABASE_SERVICE_ROLE_KEY")}` },
    ]
  ) {
    const { res, text, body } = await getJson(HEALTH, { headers });
    assert.equal(res.status, 200);
    const rt = body.checks["database:responseTime"][0];
    assert.equal(typeof rt.observedValue, "number");
    assert.equal(rt.observedUnit, "ms");
    assert.equal(rt.componentType, "datastore");
    assert.ok(!Number.isNaN(Date.parse(rt.time)));
    assert.equal(body.checks["database:connections"][0].observedUnit, "percent");
    assertNoLeaks(text);
  }
});

Deno.test("health: a wrong key or the anon key gets the public view", async () => {
  for (
    const headers of [
      { apikey: "sb_secret_not_the_right_one" } as Record<string, string>,
      { authorization: `Bearer ${stackEnv("SUPABASE_ANON_KEY")}` },
    ]
  ) {
    const { res, body } = await getJson(HEALTH, { headers });
    assert.equal(res.status, 200);
    assert.equal(body.checks["database:responseTime"][0].observedValue, undefined);
  }
});

Deno.test("health: HEAD answers with the status and no body", async () => {
  const res = await fetch(HEALTH, { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /health\+json/);
  assert.equal(await res.text(), "");
});

Deno.test("health: liveness answers without touching the database", async () => {
  const before = await healthCalls();
  for (let i = 0; i < 20; i++) {
    const { res, body } = await getJson(`${HEALTH}?probe=liveness`);
    assert.equal(res.status, 200);
    assert.equal(body.status, "pass");
    assert.deepEqual(Object.keys(body.checks), ["process:uptime"]);
  }
  assert.equal(await healthCalls(), before);
});

Deno.test("health: bad input gets a clear JSON 4xx", async () => {
  let r = await getJson(`${HEALTH}?probe=deep`);
  assert.equal(r.res.status, 400);
  assert.equal(r.body.error, "invalid_probe");
  assert.match(r.body.message, /probe=liveness or probe=readiness/);

  r = await getJson(HEALTH, { method: "POST", body: "{}" });
  assert.equal(r.res.status, 405);
  assert.equal(r.res.headers.get("allow"), "GET, HEAD, OPTIONS");
  assert.equal(r.body.error, "method_not_allowed");

  r = await getJson(`${HEALTH}/admin`);
  assert.equal(r.res.status, 404);
  assert.equal(r.body.error, "not_found");

  r = await getJson(functionUrl("no-such-function"));
  assert.equal(r.res.status, 404);
});

Deno.test("health: a flood costs at most one database round trip per cache TTL", async () => {
  const ttlMs = 2000; // LIFEBOAT_HEALTH_CACHE_TTL_MS default
  const before = await healthCalls();
  const started = Date.now();
  let ok = 0;
  // 40 waves of 25 concurrent requests: 1,000 requests over several TTLs.
  for (let wave = 0; wave < 40; wave++) {
    const results = await Promise.all(
      Array.from({ length: 25 }, () => fetch(HEALTH).then(async (r) => (await r.body?.cancel(), r.status))),
    );
    ok += results.filter((s) => s === 200).length;
    await new Promise((r) => setTimeout(r, 100));
  }
  const elapsed = Date.now() - started;
  const calls = (await healthCalls()) - before;
  assert.equal(ok, 1000);
  const bound = Math.ceil(elapsed / ttlMs) + 1;
  assert.ok(calls >= 1 && calls <= bound, `${calls} database probes for ${elapsed} ms (bound ${bound})`);
});

Deno.test("health: a hanging database gives fail (503) within about 2 s, every time", async () => {
  // A TCP server that accepts connections and never answers: a wedged database.
  const port = freePort();
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of listener) held.push(c);
    } catch {
      // closed
    }
  })();
  const fn = new FunctionProcess("health", {
    SUPABASE_DB_URL: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    SUPABASE_SECRET_KEYS: stackEnv("SUPABASE_SECRET_KEYS"),
    LIFEBOAT_HEALTH_CACHE_TTL_MS: "100",
  });
  try {
    await fn.ready();
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const { res, text, body } = await getJson(`${fn.url}/health`, { headers: serviceHeaders() });
      const ms = performance.now() - t0;
      assert.equal(res.status, 503);
      assert.equal(body.status, "fail");
      assert.ok(ms < 2500, `took ${Math.round(ms)} ms`);
      assert.match(body.checks["database:responseTime"][0].output, /no answer within/);
      assert.ok(!text.includes(String(port)));
      await new Promise((r) => setTimeout(r, 150));
    }
  } finally {
    await fn.stop();
    listener.close();
    for (const c of held) c.close();
    await accepting;
  }
});

Deno.test({
  name: "health: a stopped database gives 503 within the bound, and pass again once it is back",
  // Stops the shared database: this test must not overlap with others (deno test runs files
  // one at a time unless --parallel).
  fn: async () => {
    const stack = `${repoRoot}/scripts/stack.sh`;
    const stopped = await run("bash", [stack, "db-stop"]);
    assert.equal(stopped.code, 0, stopped.stderr);
    try {
      // The cache may serve the last pass for up to one TTL; after that, fail within 2 s.
      let sawFail = false;
      const deadline = Date.now() + 6000;
      while (Date.now() < deadline && !sawFail) {
        const t0 = performance.now();
        const { res, text, body } = await getJson(HEALTH, { headers: serviceHeaders() });
        assert.ok(performance.now() - t0 < 2500, "a request took longer than the bound");
        if (res.status === 503) {
          sawFail = true;
          assert.equal(body.status, "fail");
          assert.equal(body.checks["database:responseTime"][0].status, "fail");
          assertNoLeaks(text);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(sawFail, "health never reported fail with the database stopped");
    } finally {
      const started = await run("bash", [stack, "db-start"]);
      assert.equal(started.code, 0, started.stderr);
    }
    await waitFor(async () => (await fetch(HEALTH).then(async (r) => (await r.body?.cancel(), r.status))) === 200, 10_000, "health to pass again");
    // And the database is really back for the tests that follow.
    const sql = db(dbUrl());
    try {
      assert.equal((await sql`select 1 as one`)[0].one, 1);
    } finally {
      await sql.end();
    }
  },
});

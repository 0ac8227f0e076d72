/**
 * The outbox path end to end against the running stack: lifeboat.invoke() (directly and from
 * a real pg_cron job) → lifeboat.outbox → `lifeboat outbox` (a worker process,
 * pointed at this test's HTTP receiver and its own queue) → the "function" → the recorded
 * response. Also: retries with backoff, dead messages, SKIP LOCKED claiming across sessions,
 * failed cron runs becoming alerts, and run_analyze's per-table commits.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { secretKey, stackEnv, waitForValue } from "../../harness/stack.ts";
import { listeningReceiver, type Receiver } from "../support/outbox_receiver.ts";
import { spawnWorker, type WorkerProcess } from "../support/worker_process.ts";
import { deliver, describeFetchError } from "../../scripts/cli/outbox.ts";

type Sql = postgres.Sql<Record<string, unknown>>;

function db(): Sql {
  return postgres(stackEnv("SUPABASE_DB_URL"), { max: 2, prepare: false, onnotice: () => {}, idle_timeout: 5 }) as Sql;
}

/** Sets a lifeboat setting and returns a function that puts the old value back. */
async function withSetting(sql: Sql, key: string, value: unknown): Promise<() => Promise<void>> {
  const [old] = await sql<{ value: unknown }[]>`select value from lifeboat.settings where key = ${key}`;
  await sql`update lifeboat.settings set value = ${sql.json(value as postgres.JSONValue)} where key = ${key}`;
  return async () => {
    await sql`update lifeboat.settings set value = ${sql.json(old.value as postgres.JSONValue)} where key = ${key}`;
  };
}

interface OutboxRow {
  id: string;
  attempts: number;
  delivered_at: Date | null;
  dead_at: Date | null;
  last_status: number | null;
  last_response: string | null;
  last_error: string | null;
}

async function outboxRow(sql: Sql, id: string): Promise<OutboxRow> {
  const [row] = await sql<OutboxRow[]>`
    select id, attempts, delivered_at, dead_at, last_status, last_response, last_error from lifeboat.outbox where id = ${id}`;
  return row;
}

async function invoke(sql: Sql, fn: string, body: unknown): Promise<string> {
  const [{ id }] = await sql<{ id: string }[]>`select lifeboat.invoke(${fn}, ${sql.json(body as postgres.JSONValue)}) as id`;
  return String(id);
}

Deno.test({
  name: "outbox: invoke -> worker -> function -> recorded response, with retries, dead messages and a real cron job",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const sql = db();
    const queue = `test-${crypto.randomUUID().slice(0, 8)}`;
    const restores: (() => Promise<void>)[] = [];
    let receiver: Receiver | undefined;
    let worker: WorkerProcess | undefined;
    const cronJobs = ["lifeboat-test-invoke", "lifeboat-test-fail"];
    try {
      // This test's functions go to a queue only this test's worker drains; the stack's own
      // worker keeps draining "default" towards the gateway.
      const [{ queues }] = await sql<{ queues: Record<string, string> }[]>`
        select value as queues from lifeboat.settings where key = 'invoke.queues'`;
      restores.push(await withSetting(sql, "invoke.queues", { ...queues, echo: queue, flaky: queue, broken: queue }));
      // pg_net is installed here, as on Supabase: the outbox is the transport a user chooses.
      restores.push(await withSetting(sql, "invoke.transport", "outbox"));
      restores.push(await withSetting(sql, "outbox.retry_base", "1 second"));

      const listeners = async () => {
        const [{ n }] = await sql<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where application_name = 'lifeboat-outbox-worker' and query ilike 'listen%'`;
        return n;
      };
      const listenersBefore = await listeners(); // the stack's own worker, if it runs
      receiver = await listeningReceiver();
      // A long poll: prompt delivery below can then only come from LISTEN/NOTIFY.
      worker = spawnWorker({
        SUPABASE_URL: receiver.url,
        LIFEBOAT_OUTBOX_QUEUE: queue,
        LIFEBOAT_OUTBOX_POLL_MS: "60000",
      });
      const r = receiver;

      await t.step("a direct invoke is delivered within seconds, with the secret key, and recorded", async () => {
        // Let the worker connect and LISTEN before the first insert.
        await waitForValue("the worker to listen", async () => (await listeners()) > listenersBefore, 15_000);
        const started = performance.now();
        const id = await invoke(sql, "echo", { ping: "direct" });
        const req = await waitForValue("the echo request", () => r.requests.find((q) => q.headers["x-lifeboat-outbox-id"] === id), 10_000);
        assert.ok(req.at - started < 5_000, `delivered in ${Math.round(req.at - started)} ms, well under the 60 s poll`);
        assert.equal(req.method, "POST");
        assert.equal(req.path, "/functions/v1/echo");
        assert.deepEqual(JSON.parse(req.body), { ping: "direct" });
        assert.equal(req.headers["content-type"], "application/json");
        assert.equal(req.headers["apikey"], secretKey());
        assert.equal(req.headers["authorization"], `Bearer ${stackEnv("SUPABASE_SERVICE_ROLE_KEY")}`);
        assert.equal(req.headers["x-lifeboat-attempt"], "1");

        const row = await waitForValue("the delivery record", async () => {
          const o = await outboxRow(sql, id);
          return o.delivered_at ? o : undefined;
        }, 5_000);
        assert.equal(row.last_status, 200);
        assert.deepEqual(JSON.parse(row.last_response!), { received: "echo", id });
        assert.equal(row.attempts, 1);
        const attempts = await sql`select attempt, status from lifeboat.outbox_attempts where outbox_id = ${id}`;
        assert.deepEqual(attempts.map((a) => [a.attempt, a.status]), [[1, 200]]);
      });

      await t.step("a failing function is retried with exponential backoff until it answers", async () => {
        r.on("flaky", (n) => n <= 2 ? { status: 500, body: "temporarily broken" } : { status: 200, body: '{"ok":true}' });
        const id = await invoke(sql, "flaky", { n: 1 });
        const row = await waitForValue("delivery after two failures", async () => {
          const o = await outboxRow(sql, id);
          return o.delivered_at ? o : undefined;
        }, 20_000, 200);
        const calls = r.requests.filter((q) => q.headers["x-lifeboat-outbox-id"] === id);
        assert.deepEqual(calls.map((c) => c.headers["x-lifeboat-attempt"]), ["1", "2", "3"]);
        // retry_base 1 s: the second attempt waits ≥1 s, the third ≥2 s.
        assert.ok(calls[1].at - calls[0].at >= 900, `first retry after ${Math.round(calls[1].at - calls[0].at)} ms`);
        assert.ok(calls[2].at - calls[1].at >= 1_900, `second retry after ${Math.round(calls[2].at - calls[1].at)} ms`);
        assert.equal(row.attempts, 3);
        assert.equal(row.last_status, 200);
        assert.equal(row.last_response, '{"ok":true}');
        const attempts = await sql`select status, response from lifeboat.outbox_attempts where outbox_id = ${id} order by attempt`;
        assert.deepEqual(attempts.map((a) => [a.status, a.response]),
          [[500, "temporarily broken"], [500, "temporarily broken"], [200, '{"ok":true}']]);
      });

      await t.step("a function that keeps failing ends dead after outbox.max_attempts", async () => {
        const restore = await withSetting(sql, "outbox.max_attempts", 2);
        try {
          r.on("broken", () => ({ status: 503, body: "down" }));
          const id = await invoke(sql, "broken", {});
          const row = await waitForValue("the message to die", async () => {
            const o = await outboxRow(sql, id);
            return o.dead_at ? o : undefined;
          }, 15_000, 200);
          assert.equal(row.attempts, 2);
          assert.equal(row.last_status, 503);
          assert.equal(row.delivered_at, null);
          assert.equal(r.requests.filter((q) => q.headers["x-lifeboat-outbox-id"] === id).length, 2);
        } finally {
          await restore();
        }
      });

      await t.step("a real pg_cron job invokes through the outbox; a failing job becomes an alert", async () => {
        const before = r.requests.length;
        await sql`select cron.schedule('lifeboat-test-invoke', '* * * * *', $$select lifeboat.invoke('echo', '{"ping":1}')$$)`;
        await sql`select cron.schedule('lifeboat-test-fail', '* * * * *', 'select 1/0')`;
        // pg_cron has minute granularity: up to a minute for the tick, plus delivery.
        const req = await waitForValue("the cron-triggered request", () =>
          r.requests.slice(before).find((q) => q.name === "echo" && q.body.includes('"ping"') && JSON.parse(q.body).ping === 1),
          75_000, 250);
        const id = req.headers["x-lifeboat-outbox-id"];
        const row = await waitForValue("the cron delivery record", async () => {
          const o = await outboxRow(sql, id);
          return o.delivered_at ? o : undefined;
        }, 5_000);
        assert.equal(row.last_status, 200);
        const runs = await sql`
          select d.status from cron.job_run_details d join cron.job j using (jobid)
          where j.jobname = 'lifeboat-test-invoke'`;
        assert.ok(runs.some((x) => x.status === "succeeded"), "the cron run itself succeeded");

        await waitForValue("the failing job's run", async () => {
          const [x] = await sql`
            select count(*)::int as n from cron.job_run_details d join cron.job j using (jobid)
            where j.jobname = 'lifeboat-test-fail' and d.status = 'failed'`;
          return x.n > 0;
        }, 15_000, 250);
        const changes = await sql`select jobname, action from lifeboat.record_cron_failures() where jobname = 'lifeboat-test-fail'`;
        // "refreshed" if the stack's own lifeboat-cron-failures job got there first.
        assert.equal(changes.length, 1);
        assert.ok(["fired", "refreshed"].includes(String(changes[0].action)), `action ${changes[0].action}`);
        const [alert] = await sql`
          select state, severity, details from lifeboat.alert_events
          where dedup_key = 'cron_job_failed:lifeboat-test-fail' order by id desc limit 1`;
        assert.ok(alert, "a failed run of a lifeboat job raises an alert");
        assert.equal(alert.state, "firing");
        assert.match(String((alert.details as Record<string, unknown>).last_message), /division by zero/);
        const [health] = await sql`select level, metadata from lifeboat.health() where "check" = 'cron_failures'`;
        assert.notEqual(health.level, "ok");
        assert.ok(((health.metadata as { alerting_jobs: string[] }).alerting_jobs).includes("lifeboat-test-fail"));
      });

      await t.step("concurrent claims skip each other's rows instead of waiting", async () => {
        const lockQueue = `${queue}-locks`;
        const restore = await withSetting(sql, "invoke.queues", { lockA: lockQueue, lockB: lockQueue });
        const other = db();
        try {
          const a = await invoke(sql, "lockA", {});
          const b = await invoke(sql, "lockB", {});
          const [run] = await sql`insert into lifeboat.backup_runs (kind, label) values ('full', 'skip-locked test') returning id`;
          await sql`insert into lifeboat.backup_parts (run_id, table_schema, table_name, chunk)
                    values (${run.id}, 'public', 'orders', 0), (${run.id}, 'public', 'orders', 1)`;
          await sql.begin(async (tx) => {
            const [heldMsg] = await tx`select id from lifeboat.outbox_claim(${lockQueue}, 1)`;
            const [heldPart] = await tx`select id from lifeboat.claim_backup_part(${run.id}, 'holder')`;
            // The other session must not block on the rows this transaction holds.
            await other`set statement_timeout = '3s'`;
            const msgs = await other`select id from lifeboat.outbox_claim(${lockQueue}, 10)`;
            assert.deepEqual(msgs.map((m) => String(m.id)), [String(heldMsg.id) === a ? b : a]);
            const parts = await other`select id from lifeboat.claim_backup_part(${run.id}, 'other')`;
            assert.equal(parts.length, 1);
            assert.notEqual(String(parts[0].id), String(heldPart.id));
          });
          await sql`delete from lifeboat.backup_runs where id = ${run.id}`;
          await sql`delete from lifeboat.outbox where id in (${a}, ${b})`;
        } finally {
          await other.end();
          await restore();
        }
      });

      await t.step("the worker stops cleanly on SIGTERM and never logged a secret or a host", async () => {
        const w = worker!;
        worker = undefined;
        const { code, output } = await w.stop();
        assert.equal(code, 0, `worker exit code (output: ${output.slice(0, 500)})`);
        assert.match(output, /"msg":"stopped"/);
        assert.match(output, /"msg":"outbox attempt"/);
        for (const secret of [secretKey(), stackEnv("SUPABASE_SERVICE_ROLE_KEY"), "127.0.0.1", "postgres:postgres"]) {
          assert.ok(!output.includes(secret), "the worker's log holds no key, password or host");
        }
      });
    } finally {
      for (const job of cronJobs) {
        const [j] = await sql`select jobid from cron.job where jobname = ${job}`;
        if (j) {
          await sql`select cron.unschedule(${j.jobid}::bigint)`;
          await sql`delete from cron.job_run_details where jobid = ${j.jobid}`;
        }
        await sql`delete from lifeboat.incidents where dedup_key = ${"cron_job_failed:" + job}`;
        await sql`delete from lifeboat.alert_events where dedup_key = ${"cron_job_failed:" + job}`;
      }
      if (worker) await worker.stop();
      for (const restore of restores.reverse()) await restore();
      await receiver?.close();
      await sql.end();
    }
  },
});

Deno.test("outbox worker: a failed connection is recorded without naming the host", async () => {
  // A port nothing listens on: bind one, note it, close it.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const attempt = await deliver(
    { id: "1", function_name: "echo", body: {}, attempts: 1 },
    { functionsUrl: `http://127.0.0.1:${port}/functions/v1`, headers: {}, queue: "x", batch: 1, pollMs: 1, requestTimeoutMs: 2_000 },
    new AbortController().signal,
  );
  assert.equal(attempt.status, null);
  assert.equal(attempt.error, "connection refused");
  assert.equal(describeFetchError(new DOMException("t", "TimeoutError")), "request timed out");
});

Deno.test("run_analyze: ANALYZE per table with a commit each, logged in maintenance_log", async () => {
  const sql = db();
  try {
    const [{ now }] = await sql`select clock_timestamp() as now`;
    await sql`call lifeboat.run_analyze()`;
    const [log] = await sql`
      select outcome, details from lifeboat.maintenance_log where type = 'analyze' and logged_at >= ${now}
      order by id desc limit 1`;
    assert.ok(log, "run_analyze logs its run");
    assert.equal(log.outcome, "success");
    assert.ok((log.details as { analyzed: number }).analyzed > 0);
    const [orders] = await sql`
      select last_analyze from pg_stat_user_tables where schemaname = 'public' and relname = 'orders'`;
    assert.ok(orders.last_analyze && new Date(orders.last_analyze as string) >= new Date(now as string),
      "public.orders was analyzed by this call");
    await sql`delete from lifeboat.maintenance_log where type = 'analyze' and logged_at >= ${now}`;
  } finally {
    await sql.end();
  }
});

// Notifications over real HTTP to a local receiver: the exact payload each channel gets
// (Slack, Discord, HMAC-signed webhook, Resend-style email, healthchecks pings), one message
// for a burst, resolve messages, retries with backoff on an injected clock, and the whole
// platform path: the scheduled command, pg_net, the gateway, the function.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import type postgres from "postgres";
import { db, FunctionProcess, serviceHeaders, stackEnv } from "../../harness/stack.ts";
import { Receiver } from "../support/receiver.ts";
import { withIsolatedTables } from "../support/isolation.ts";
import { dispatchNotifications } from "../../supabase/functions/_shared/notify/mod.ts";
import { verifyWebhook } from "../../supabase/functions/_shared/notify/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";

const HOOK_SECRET = "whsec_lifeboat_test_0123456789";
const MAIL_KEY = "re_test_key_abc";
const SUMMARY = 'disk <full> & "hot"';
const FIRST_SEEN = "2026-01-01T00:00:00+00:00";
const TEST_JOB = "lifeboat-notify-test-job";

/**
 * Runs `fn` with the scheduled jobs paused (the dispatcher would race this test for deliveries,
 * the alert evaluator would add alerts) and with no other channel, alert or pending outbox call
 * around: other test files leave firing alerts that would be notified too. All comes back after.
 */
async function withIsolation(sql: postgres.Sql, fn: () => Promise<void>): Promise<void> {
  await withIsolatedTables(sql, {
    tables: ["lifeboat.notification_channels", "lifeboat.alert_events", "lifeboat.outbox"],
    settleOutboxFor: ["backup-status"],
  }, async () => {
    try {
      await fn();
    } finally {
      await sql`delete from lifeboat.notification_channels where name like 'test-%'`;
      await sql`delete from lifeboat.alert_events where rule = 'notify_test'`;
      await sql`delete from cron.job_run_details where jobid in (select jobid from cron.job where jobname = ${TEST_JOB})`;
      await sql`select cron.unschedule(jobid) from cron.job where jobname = ${TEST_JOB}`;
    }
  });
}

async function insertAlert(sql: postgres.Sql, key: string, severity = "critical"): Promise<number> {
  const [a] = await sql`insert into lifeboat.alert_events (rule, severity, dedup_key, summary, first_seen, last_seen)
    values ('notify_test', ${severity}, ${key}, ${SUMMARY}, ${FIRST_SEEN}::timestamptz, ${FIRST_SEEN}::timestamptz)
    returning id::int as id`;
  return a.id;
}

async function notify(fn: FunctionProcess) {
  const res = await fetch(`${fn.url}/backup-status/notify`, { method: "POST", headers: serviceHeaders(), body: '{"action":"notify"}' });
  assert.equal(res.status, 200);
  return await res.json();
}

function expectedEvent(id: number, state = "firing", resolvedAt: string | null = null) {
  return {
    alert_id: id,
    rule: "notify_test",
    severity: "critical",
    state,
    dedup_key: "notify_test:exact",
    summary: SUMMARY,
    first_seen: FIRST_SEEN,
    last_seen: FIRST_SEEN,
    resolved_at: resolvedAt,
    occurrences: 1,
    incident_id: null,
    remediation: null,
  };
}

Deno.test("notify: each channel receives its exact payload, a burst sends one message, resolving sends one more", async () => {
  const sql = db();
  const rx = new Receiver();
  const fn = new FunctionProcess("backup-status", {
    SUPABASE_DB_URL: stackEnv("SUPABASE_DB_URL"),
    SUPABASE_SECRET_KEYS: stackEnv("SUPABASE_SECRET_KEYS"),
    LIFEBOAT_TEST_SLACK_URL: `${rx.url}/slack`,
    LIFEBOAT_TEST_HOOK_SECRET: HOOK_SECRET,
    LIFEBOAT_TEST_MAIL_KEY: MAIL_KEY,
  });
  try {
    await withIsolation(sql, async () => {
      await sql`insert into lifeboat.notification_channels (name, kind, target, secret_ref, min_severity, config) values
        ('test-slack', 'slack', 'env:LIFEBOAT_TEST_SLACK_URL', null, 'info', '{}'),
        ('test-discord', 'discord', ${`url:${rx.url}/discord`}, null, 'info', '{}'),
        ('test-hook', 'webhook', ${`url:${rx.url}/hook`}, 'env:LIFEBOAT_TEST_HOOK_SECRET', 'info', '{}'),
        ('test-mail', 'email', ${`url:${rx.url}/mail`}, 'env:LIFEBOAT_TEST_MAIL_KEY', 'info',
          '{"from": "lifeboat@example.com", "to": ["ops@example.com"]}')`;
      const id = await insertAlert(sql, "notify_test:exact");
      await fn.ready();
      const sum = await notify(fn);
      assert.equal(sum.delivered, 4, JSON.stringify(sum));
      assert.equal(rx.requests.length, 4);

      const slack = rx.to("/slack")[0];
      assert.equal(slack.method, "POST");
      assert.equal(slack.headers.get("content-type"), "application/json");
      assert.deepEqual(JSON.parse(slack.body), {
        text: '[FIRING] critical notify_test: disk &lt;full&gt; &amp; "hot"',
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: '*FIRING* · critical · `notify_test`\ndisk &lt;full&gt; &amp; "hot"' } },
          {
            type: "context",
            elements: [
              { type: "mrkdwn", text: "*alert:* notify_test:exact" },
              { type: "mrkdwn", text: `*first seen:* ${FIRST_SEEN}` },
              { type: "mrkdwn", text: "*occurrences:* 1" },
            ],
          },
        ],
      });

      assert.deepEqual(JSON.parse(rx.to("/discord")[0].body), {
        username: "Lifeboat",
        content: `[FIRING] critical notify_test: ${SUMMARY}`,
        embeds: [{
          title: "FIRING: notify_test (critical)",
          description: SUMMARY,
          color: 0xcf222e,
          timestamp: FIRST_SEEN,
          fields: [
            { name: "alert", value: "notify_test:exact", inline: true },
            { name: "first seen", value: FIRST_SEEN, inline: true },
            { name: "occurrences", value: "1", inline: true },
          ],
        }],
        allowed_mentions: { parse: [] },
      });

      const hook = rx.to("/hook")[0];
      const body = JSON.parse(hook.body);
      assert.equal(typeof body.created_at, "string");
      assert.deepEqual(body, { version: 1, type: "alert.firing", delivery_id: body.delivery_id, created_at: body.created_at, data: expectedEvent(id) });
      assert.equal(hook.headers.get("x-lifeboat-delivery"), String(body.delivery_id));
      const ts = hook.headers.get("x-lifeboat-timestamp")!;
      assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60, "the timestamp is the send time");
      // Verified independently of Lifeboat's own code: HMAC-SHA256 over "<timestamp>.<raw body>".
      const mac = createHmac("sha256", HOOK_SECRET).update(`${ts}.${hook.body}`).digest("hex");
      assert.equal(hook.headers.get("x-lifeboat-signature"), `sha256=${mac}`);
      assert.equal(await verifyWebhook(HOOK_SECRET, hook.headers, hook.body), true);
      assert.equal(await verifyWebhook(HOOK_SECRET, hook.headers, hook.body.replace("critical", "info")), false, "a tampered body fails");
      assert.equal(await verifyWebhook("another-secret", hook.headers, hook.body), false, "another secret fails");
      assert.equal(
        await verifyWebhook(HOOK_SECRET, hook.headers, hook.body, { now: new Date((Number(ts) + 3600) * 1000) }),
        false,
        "a replay an hour later fails",
      );

      const mail = rx.to("/mail/emails")[0];
      assert.equal(mail.headers.get("authorization"), `Bearer ${MAIL_KEY}`);
      assert.match(mail.headers.get("idempotency-key") ?? "", /^lifeboat-delivery-\d+$/);
      assert.deepEqual(JSON.parse(mail.body), {
        from: "lifeboat@example.com",
        to: ["ops@example.com"],
        subject: `[FIRING] critical notify_test: ${SUMMARY}`,
        text: `[FIRING] critical notify_test: ${SUMMARY}\n\nalert: notify_test:exact\nfirst seen: ${FIRST_SEEN}\noccurrences: 1\n`,
        html: '<h2>[FIRING] critical notify_test: disk &lt;full&gt; &amp; &quot;hot&quot;</h2><table>' +
          '<tr><th align="left">alert</th><td>notify_test:exact</td></tr>' +
          `<tr><th align="left">first seen</th><td>${FIRST_SEEN}</td></tr>` +
          '<tr><th align="left">occurrences</th><td>1</td></tr></table>',
      });
      // No secret leaves in a URL or a body it does not belong to.
      for (const r of rx.requests) {
        assert.ok(!r.body.includes(HOOK_SECRET) && !r.body.includes(MAIL_KEY));
      }

      // A burst of the same failure: nine more occurrences, two more dispatches, no message.
      for (let i = 0; i < 9; i++) {
        await sql`insert into lifeboat.alert_events as x (rule, severity, dedup_key, summary)
          values ('notify_test', 'critical', 'notify_test:exact', ${SUMMARY})
          on conflict (dedup_key) where state = 'firing' do update set occurrences = x.occurrences + 1`;
      }
      await notify(fn);
      await notify(fn);
      assert.equal(rx.requests.length, 4, "a burst of identical failures sends one message per channel");

      // Resolved: one resolve message per channel.
      await sql`update lifeboat.alert_events set state = 'resolved', resolved_at = now() where id = ${id}`;
      await notify(fn);
      await notify(fn);
      assert.equal(rx.requests.length, 8);
      assert.match(JSON.parse(rx.to("/slack")[1].body).text, /^\[RESOLVED\] critical notify_test/);
      assert.equal(JSON.parse(rx.to("/hook")[1].body).type, "alert.resolved");
      assert.equal(JSON.parse(rx.to("/discord")[1].body).embeds[0].color, 0x1a7f37);
      const [a] = await sql`select notified_state, notifications from lifeboat.alert_events where id = ${id}`;
      assert.equal(a.notified_state, "resolved");
      assert.equal(a.notifications, 8);
      const [d] = await sql`select count(*)::int as n from lifeboat.notification_deliveries d
        join lifeboat.notification_channels c on c.id = d.channel_id where c.name like 'test-%' and d.state = 'delivered'`;
      assert.equal(d.n, 8, "every delivery is recorded");
    });
  } finally {
    await fn.stop();
    await rx.close();
    await sql.end();
  }
});

Deno.test("notify: healthchecks pings around scheduled jobs: /start, then success or /fail", async () => {
  const sql = db();
  const rx = new Receiver();
  const fn = new FunctionProcess("backup-status", {
    SUPABASE_DB_URL: stackEnv("SUPABASE_DB_URL"),
    SUPABASE_SECRET_KEYS: stackEnv("SUPABASE_SECRET_KEYS"),
  });
  try {
    await withIsolation(sql, async () => {
      await sql`insert into lifeboat.notification_channels (name, kind, target, config, created_at)
        values ('test-hc', 'healthchecks', ${`url:${rx.url}/ping/key123`}, ${sql.json({ jobs: TEST_JOB })}, now() - interval '1 hour')`;
      await sql`select cron.schedule(${TEST_JOB}, '0 0 1 1 *', 'select 1')`;
      // Run ids above every real one: postgres may not use cron.runid_seq on Supabase.
      await sql`insert into cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
        select jobid, (select coalesce(max(d.runid), 0) + 1000000 from cron.job_run_details d) + row_number() over (),
          'postgres', current_user, 'select 1', s.status, '', now() - s.ago, now() - s.ago + interval '2 seconds'
        from cron.job, (values ('succeeded', interval '3 minutes'), ('failed', interval '2 minutes')) s(status, ago)
        where jobname = ${TEST_JOB}`;
      await fn.ready();
      const sum = await notify(fn);
      assert.equal(sum.delivered, 4, JSON.stringify(sum));
      assert.deepEqual(rx.requests.map((r) => `${r.method} ${r.path}`), [
        `POST /ping/key123/${TEST_JOB}/start`,
        `POST /ping/key123/${TEST_JOB}`,
        `POST /ping/key123/${TEST_JOB}/start`,
        `POST /ping/key123/${TEST_JOB}/fail`,
      ]);
      assert.match(rx.requests[1].body, /run \d+: succeeded/);
      assert.match(rx.requests[3].body, /run \d+: failed/);
      await notify(fn);
      assert.equal(rx.requests.length, 4, "each run is pinged once");
    });
  } finally {
    await fn.stop();
    await rx.close();
    await sql.end();
  }
});

Deno.test("notify: failures are recorded and retried with backoff (injected clock); a missing secret says which", async () => {
  const sql = db();
  const rx = new Receiver();
  const engineSql = connect(stackEnv("SUPABASE_DB_URL"), { max: 2 });
  try {
    await withIsolation(sql, async () => {
      rx.plan.set("/flaky", [500, 503]);
      const closed = new Receiver();
      const closedUrl = closed.url;
      await closed.close();
      await sql`insert into lifeboat.notification_channels (name, kind, target, min_severity) values
        ('test-flaky', 'discord', ${`url:${rx.url}/flaky`}, 'info'),
        ('test-down', 'slack', ${`url:${closedUrl}/gone`}, 'info'),
        ('test-nosecret', 'slack', 'env:LIFEBOAT_TEST_NOT_SET', 'info')`;
      await insertAlert(sql, "notify_test:retry", "warning");
      const t0 = Date.now();
      const at = (s: number) => () => new Date(t0 + s * 1000);
      const env = { get: (_: string) => undefined };

      let sum = await dispatchNotifications(engineSql, { env, now: at(0) });
      assert.equal(sum.retry, 3, JSON.stringify(sum));
      const rows = async () =>
        Object.fromEntries(
          (await sql`select c.name, d.state, d.attempts, d.last_status, d.last_error,
              extract(epoch from d.next_attempt_at)::float8 as next
            from lifeboat.notification_deliveries d join lifeboat.notification_channels c on c.id = d.channel_id
            where c.name like 'test-%'`).map((r) => [r.name, r]),
        );
      let r = await rows();
      assert.equal(r["test-flaky"].last_status, 500);
      assert.equal(r["test-flaky"].state, "pending");
      assert.ok(Math.abs(r["test-flaky"].next - (t0 / 1000 + 30)) < 2, "first retry after 30 s");
      assert.equal(r["test-down"].last_status, null);
      assert.match(r["test-down"].last_error, /network error/);
      assert.ok(!r["test-down"].last_error.includes("127.0.0.1"), "the error names no host");
      assert.match(r["test-nosecret"].last_error, /env:LIFEBOAT_TEST_NOT_SET is not set/);

      sum = await dispatchNotifications(engineSql, { env, now: at(10) });
      assert.equal(sum.claimed, 0, "nothing is due before the backoff");
      sum = await dispatchNotifications(engineSql, { env, now: at(31) });
      assert.equal(sum.claimed, 3);
      r = await rows();
      assert.equal(r["test-flaky"].last_status, 503);
      assert.ok(Math.abs(r["test-flaky"].next - (t0 / 1000 + 31 + 60)) < 2, "the backoff doubles to 60 s");
      sum = await dispatchNotifications(engineSql, { env, now: at(92) });
      r = await rows();
      assert.equal(r["test-flaky"].state, "delivered");
      assert.equal(r["test-flaky"].attempts, 3);
      const attempts = await sql`select a.status from lifeboat.notification_attempts a
        join lifeboat.notification_deliveries d on d.id = a.delivery_id
        join lifeboat.notification_channels c on c.id = d.channel_id where c.name = 'test-flaky' order by a.attempt`;
      assert.deepEqual(attempts.map((a) => a.status), [500, 503, 200]);
      assert.equal(rx.to("/flaky").length, 3);
      // The same bytes every attempt: retries resend the message captured when it was queued.
      assert.equal(new Set(rx.to("/flaky").map((q) => q.body)).size, 1);
    });
  } finally {
    await engineSql.end();
    await rx.close();
    await sql.end();
  }
});

Deno.test("notify: the platform path end to end: scheduled command, pg_net, gateway, function, receiver", async () => {
  const sql = db();
  const rx = new Receiver();
  try {
    await withIsolation(sql, async () => {
      await sql`insert into lifeboat.notification_channels (name, kind, target, min_severity)
        values ('test-e2e', 'slack', ${`url:${rx.url}/e2e`}, 'info')`;
      await insertAlert(sql, "notify_test:e2e");
      // What the lifeboat-notify-dispatch job runs every minute.
      const [{ id }] = await sql`select lifeboat.dispatch_notifications() as id`;
      assert.ok(id !== null, "something was due, so the function was invoked");
      await rx.waitFor(() => rx.to("/e2e").length === 1, 30_000, "the Slack message");
      assert.match(JSON.parse(rx.to("/e2e")[0].body).text, /^\[FIRING\] critical notify_test/);
      // pg_net (real, as on Supabase) keeps the function's answer in net._http_response.
      let delivered = false;
      for (let i = 0; i < 50 && !delivered; i++) {
        const [r] = await sql`select status_code from net._http_response where id = ${id}`;
        delivered = r?.status_code === 200;
        if (!delivered) await new Promise((res) => setTimeout(res, 200));
      }
      assert.ok(delivered, "pg_net recorded the function's 200");
      const [d] = await sql`select d.state from lifeboat.notification_deliveries d
        join lifeboat.notification_channels c on c.id = d.channel_id where c.name = 'test-e2e'`;
      assert.equal(d.state, "delivered");
      const [{ again }] = await sql`select lifeboat.dispatch_notifications() as again`;
      assert.equal(again, null, "nothing due: no invocation");
    });
  } finally {
    await rx.close();
    await sql.end();
  }
});

// Safety of the source: a stream slot nobody reads triggers the warning and critical alerts as
// its retained WAL grows, and the guard drops it at the hard limit (small limits here) with a
// critical alert and an incident, so retained WAL never runs past the limit by more than what
// is written between two guard runs. Plus the schedules enable installs.
import assert from "node:assert/strict";
import { db } from "../../harness/stack.ts";
import { resetStream } from "../support/stream.ts";

const KB = 1024;

Deno.test({
  name: "stream guard: retained WAL fires warning then critical alerts, and the hard limit drops the slot with an incident",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = db();
    try {
      await resetStream(sql);
      await sql.unsafe(`drop schema if exists sc_guard cascade; create schema sc_guard; create table sc_guard.w (id bigserial primary key, v text);`);
      await sql`select lifeboat.stream_enable()`;
      const jobs = await sql`select jobname, schedule, active from cron.job where jobname in ('lifeboat-stream-guard', 'lifeboat-stream-ship')`;
      assert.deepEqual(jobs.map((j) => [j.jobname, j.schedule]), [["lifeboat-stream-guard", "10 seconds"]],
        "the guard runs every 10 seconds; shipping waits for export.target");
      // The guard's own cron run would race this test's steps.
      await sql`update lifeboat.schedules set enabled = false where name = 'stream-guard'`;
      await sql`select count(*) from lifeboat.apply_schedules()`;

      const [{ base }] = await sql`select retained_bytes::bigint as base from lifeboat.stream_slot_wal()`;
      const warn = Number(base) + 512 * KB, crit = Number(base) + 1536 * KB, limit = Number(base) + 3072 * KB;
      await sql`update lifeboat.settings set value = ${warn} where key = 'stream.wal_warn_bytes'`;
      await sql`update lifeboat.settings set value = ${crit} where key = 'stream.wal_critical_bytes'`;
      await sql`update lifeboat.settings set value = ${limit} where key = 'stream.wal_limit_bytes'`;

      const firing = async () =>
        (await sql`select rule from lifeboat.alert_events where state = 'firing' and rule like 'stream_%'`).map((r) => r.rule as string);
      let sawWarning = false, sawCritical = false, maxRetainedSeen = 0, dropped = null as null | Record<string, unknown>;
      const STEP = 1200; // rows of ~200 bytes: about 256 KiB of WAL per step
      for (let i = 0; i < 60 && !dropped; i++) {
        await sql`insert into sc_guard.w (v) select repeat(md5(g::text), 6) from generate_series(1, ${STEP}) g`;
        const [w] = await sql`select retained_bytes::bigint as r, wal_status from lifeboat.stream_slot_wal()`;
        maxRetainedSeen = Math.max(maxRetainedSeen, Number(w.r));
        await sql`select count(*) from lifeboat.evaluate_alerts()`;
        const f = await firing();
        const [health] = await sql`select level from lifeboat.check_stream_slot()`;
        if (Number(w.r) > warn) {
          assert.ok(f.includes("stream_wal_warning"), `warning fires at ${w.r} bytes`);
          assert.notEqual(health.level, "ok");
          sawWarning = true;
        }
        if (Number(w.r) > crit) {
          assert.ok(f.includes("stream_wal_critical"), `critical fires at ${w.r} bytes`);
          assert.equal(health.level, "error");
          sawCritical = true;
        }
        const [g] = await sql`select lifeboat.stream_guard() as g`;
        if (g.g.action === "dropped") dropped = g.g;
      }
      assert.ok(sawWarning && sawCritical, "both thresholds were crossed before the limit");
      assert.ok(dropped, "the guard dropped the slot");
      assert.ok(maxRetainedSeen < limit + 1024 * KB, `retained WAL stayed within one step of the limit (${maxRetainedSeen} vs ${limit})`);
      const slots = await sql`select 1 from pg_replication_slots where slot_name = 'lifeboat_stream'`;
      assert.equal(slots.length, 0, "the slot is gone: it retains nothing any more");

      const [alert] = await sql`select severity, incident_id from lifeboat.alert_events where state = 'firing' and rule = 'stream_slot_dropped'`;
      assert.equal(alert?.severity, "critical");
      const [inc] = await sql`select severity, status from lifeboat.incidents where id = ${alert.incident_id}`;
      assert.deepEqual([inc.severity, inc.status], ["critical", "open"]);
      const [log] = await sql`select outcome from lifeboat.maintenance_log where type = 'stream_guard' order by id desc limit 1`;
      assert.equal(log.outcome, "success");
      const [st] = await sql`select lifeboat.status_stream() as s`;
      assert.equal(st.s.running, false);
      assert.ok(st.s.dropped_at);
      await assert.rejects(sql`select * from lifeboat.stream_claim('after-drop')`, (e: { code?: string; message?: string }) =>
        e.code === "55000" && /dropped/.test(e.message ?? ""));

      // Enabling again starts a new stream; the drop alert resolves and its incident closes.
      await sql`select lifeboat.stream_enable()`;
      await sql`select count(*) from lifeboat.evaluate_alerts()`;
      assert.equal((await firing()).includes("stream_slot_dropped"), false);
      const [closed] = await sql`select status from lifeboat.incidents where id = ${alert.incident_id}`;
      assert.equal(closed.status, "resolved");
    } finally {
      await resetStream(sql).catch(() => {});
      await sql`select count(*) from lifeboat.evaluate_alerts()`.catch(() => {});
      await sql.unsafe(`drop schema if exists sc_guard cascade`).catch(() => {});
      await sql.end();
    }
  },
});

Deno.test({
  name: "stream rpo alert: fires per data class when the achieved RPO exceeds its objective (0 = stream.rpo_floor)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = db();
    try {
      await resetStream(sql);
      await sql`select lifeboat.stream_enable()`;
      await sql`update lifeboat.stream_state set durable_through = now() - interval '3 minutes', last_commit_at = now() - interval '3 minutes'`;
      const at = (await sql`select now() as n`)[0].n as Date;
      const keys = (await sql`select dedup_key from lifeboat.alert_rpo(${at}, (select r from lifeboat.alert_rules r where rule = 'rpo'))`)
        .map((r) => r.dedup_key);
      assert.ok(keys.includes("rpo:transaction_data"), "0-minute objective, measured against the 60 s floor");
      assert.equal(keys.includes("rpo:analytics_data"), false, "a 1-hour objective is met");
      await sql`update lifeboat.stream_state set durable_through = now()`;
      const none = await sql`select 1 from lifeboat.alert_rpo(now(), (select r from lifeboat.alert_rules r where rule = 'rpo'))`;
      assert.equal(none.length, 0);
    } finally {
      await resetStream(sql).catch(() => {});
      await sql.end();
    }
  },
});

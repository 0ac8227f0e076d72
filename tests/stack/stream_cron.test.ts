// The scheduled path of continuous capture as it runs on hosted Supabase (issue 20): the
// stream-ship pg_cron job (every 5 s) calls lifeboat.stream_ship() → lifeboat.invoke() → the
// real pg_net with the URL and secret key from the real Vault → the gateway → backup-stream,
// which stores segments and advances the slot. The test makes no HTTP call itself: it writes,
// then watches the slot advance and compares what the store holds with a reference decode.
// Then Vault gets a wrong key: the calls are refused (401), and that shows where a user looks:
// the health check check_stream_shipper fails naming the 401 and the Vault secret, the status
// says the shipper is stale, and the rpo alert's summary says why. With the key back, it resumes.
import assert from "node:assert/strict";
import { db, stackEnv, waitForValue } from "../../harness/stack.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { enableWithReference, linesOn, referenceLines, resetStream, SLOT, storedLines } from "../support/stream.ts";

const SCHEMA = `sc_cron_${crypto.randomUUID().slice(0, 6)}`;
const T = [`${SCHEMA}.t`];
/** Generous: a cron tick every 5 s on a loaded 2-core host. */
const DEADLINE = 90_000;

Deno.test({
  name:
    "stream via pg_cron → pg_net → backup-stream: segments stored and the slot advances; a refused call shows in health, status and the rpo alert",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const sql = db();
    const prefix = `stream-cron-${crypto.randomUUID().slice(0, 8)}`;
    const target = `s3://${Deno.env.get("LIFEBOAT_S3_BUCKET") ?? "lifeboat"}/${prefix}`;
    const [{ key }] = await sql<{ key: string }[]>`
      select decrypted_secret as key from vault.decrypted_secrets where name = 'lifeboat_service_key'`;
    /** The slot has confirmed everything written before `lsn`. */
    const slotPast = async (lsn: string) => {
      const [r] =
        await sql`select confirmed_flush_lsn >= ${lsn}::pg_lsn as ok from pg_replication_slots where slot_name = ${SLOT}`;
      return r?.ok === true;
    };
    const currentLsn = async () => String((await sql`select pg_current_wal_lsn()::text as l`)[0].l);
    // The deployed function signs with the stack's key (in Vault), not the tests' one.
    const pem = await Deno.readTextFile(`${stackEnv("LIFEBOAT_STACK_DIR")}/signing.key.signing.pub`);
    const stackTrust = { trustedKeys: [pem.replace(/-----[A-Z ]+-----|\s/g, "")], allowUnsigned: false };
    const shipper = async () =>
      (await sql`select lifeboat.stream_shipper() as s`)[0].s as Record<string, unknown> | null;
    try {
      await resetStream(sql);
      await sql`update lifeboat.settings set value = ${sql.json(target)} where key = 'export.target'`;
      await sql`update lifeboat.settings set value = 'true' where key = 'export.unencrypted'`;
      await sql`update lifeboat.settings set value = '[]' where key = 'export.recipients'`;
      await sql.unsafe(`create schema ${SCHEMA}; create table ${SCHEMA}.t (id bigserial primary key, v text);`);
      await enableWithReference(sql);
      // enableWithReference turns the schedule off for tests that ship themselves; this one is about the schedule.
      await sql`update lifeboat.schedules set enabled = true where name = 'stream-ship'`;
      await sql`select count(*) from lifeboat.apply_schedules()`;
      const [job] = await sql`select command from cron.job where jobname = 'lifeboat-stream-ship'`;
      assert.equal(job?.command, "select lifeboat.stream_ship()", "the stream-ship cron job is installed");

      for (let i = 0; i < 3; i++) {
        await sql.unsafe(`insert into ${SCHEMA}.t (v) select md5(g::text) from generate_series(1, 2000) g`);
      }
      const written = await currentLsn();
      await waitForValue(
        "the slot to advance past the writes (pg_cron → pg_net → backup-stream)",
        () => slotPast(written),
        DEADLINE,
        500,
      );
      const [calls] = await sql`select count(*)::int as n from lifeboat.stream_segments`;
      assert.ok(calls.n > 0, "segments are recorded");
      // pg_net stores a call's answer after the function has done its work (the slot advanced
      // first): wait for the last call to have one, then check what it was.
      const call = await waitForValue(
        "pg_net to record the last call's answer",
        async () => {
          const c = await sql`select * from lifeboat.stream_last_call()`;
          return c[0]?.status_code != null ? c : false;
        },
        DEADLINE,
        200,
      );
      assert.equal(call[0]?.status_code, 200, `the last pg_net call answered 200: ${JSON.stringify(call)}`);
      const store = openStore(target);
      const { lines } = await storedLines(store, null, stackTrust);
      assert.deepEqual(
        linesOn(lines, T),
        await referenceLines(sql, T),
        "the store holds exactly what the slot decoded",
      );
      const [runs] = await sql`
        select count(*)::int as n from cron.job_run_details d join cron.job j on j.jobid = d.jobid
        where j.jobname = 'lifeboat-stream-ship' and d.status = 'succeeded'`;
      assert.ok(runs.n >= 1, "pg_cron ran the job");
      const [healthy] = await sql`select * from lifeboat.check_stream_shipper()`;
      assert.equal(healthy.level, "ok", healthy.detail);

      // A key the project does not have in Vault: every call is refused before it ships.
      await sql`update lifeboat.settings set value = '"3 seconds"' where key = 'stream.shipper_stale_after'`;
      await sql`update lifeboat.settings set value = '"3 seconds"' where key = 'stream.rpo_floor'`;
      await sql`select vault.update_secret(s.id, 'sb_secret_not_the_project_key') from vault.secrets s where s.name = 'lifeboat_service_key'`;
      await sql.unsafe(`insert into ${SCHEMA}.t (v) values ('while refused')`);
      const refusedAt = await currentLsn();
      await waitForValue(
        "a refused call and a stale shipper",
        async () => {
          const s = await shipper();
          return s?.last_call_status === 401 && s?.stale === true;
        },
        DEADLINE,
        500,
      );
      assert.equal(await slotPast(refusedAt), false, "nothing was shipped with the wrong key");
      const [check] = await sql`select * from lifeboat.check_stream_shipper()`;
      assert.equal(check.level, "error");
      assert.match(check.detail, /answered 401/);
      assert.match(check.remediation, /invoke\.key_secret/);
      const health = await sql`select * from lifeboat.health() where "check" = 'stream_shipper'`;
      assert.equal(health[0]?.level, "error", "health() runs the check");
      const [status] = await sql`select lifeboat.status_stream() as s`;
      assert.deepEqual(status.s.shipper, { stale: true, last_call_status: 401 });
      const alerts =
        await sql`select dedup_key, summary from lifeboat.alert_rpo(now(), (select r from lifeboat.alert_rules r where rule = 'rpo'))`;
      const tx = alerts.find((a) => a.dedup_key === "rpo:transaction_data");
      assert.ok(tx, `the rpo alert fires: ${JSON.stringify(alerts)}`);
      assert.match(tx.summary, /no shipper pass since .*answered 401/);

      // The right key again: the schedule resumes and ships what waited.
      await sql`select vault.update_secret(s.id, ${key}) from vault.secrets s where s.name = 'lifeboat_service_key'`;
      await waitForValue("the stream to resume once the key is right", () => slotPast(refusedAt), DEADLINE, 500);
      const { lines: after } = await storedLines(store, null, stackTrust);
      assert.deepEqual(
        linesOn(after, T),
        await referenceLines(sql, T),
        "after the outage the store still holds exactly the decode",
      );
      await waitForValue(
        "the check to pass again",
        async () => (await sql`select level from lifeboat.check_stream_shipper()`)[0]?.level === "ok",
        DEADLINE,
        500,
      );
    } finally {
      await sql`select vault.update_secret(s.id, ${key}) from vault.secrets s where s.name = 'lifeboat_service_key'`;
      await resetStream(sql).catch((e) => console.error(e));
      // No call of this test's schedule may reach the next test's stream: the cron job is gone,
      // and pg_net's queue is drained (a call still in flight finds no stream and answers 409).
      await waitForValue("pg_net's queue to drain", async () =>
        (await sql`select count(*)::int as n from net.http_request_queue`)[0].n === 0, 30_000, 250).catch(() => {});
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`).catch(() => {});
      await sql.end();
    }
  },
});

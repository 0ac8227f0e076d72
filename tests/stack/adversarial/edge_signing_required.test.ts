// Issue 17 item 1, every backup signed by its writer: backup-export refuses to start a job when
// it has no signing key (409 signing_key_missing, no job created) unless export.allow_unsigned
// opts out, and the local stack stores a key in Vault at start (scripts/stack.sh), so the
// scheduled export (the 'export-daily' schedule's command) writes a backup that verifies with
// the stack's public key given as --trust-key.
import assert from "node:assert/strict";
import { callExport, configureExport, removeTestTargets, testTarget, waitForJob } from "../../../harness/edge_export.ts";
import { db, functionUrl, stackEnv, waitFor } from "../../../harness/stack.ts";
import { lifeboat } from "../../../harness/export_env.ts";

const SCHEMA = "adv_edge_sign_req";
const RECIPIENT = "age1nv6zuv8ghnulynzffssdynkg0clf50d63rpzwqnda7pp5t874uds0jwfkd";

Deno.test({
  name: "adversarial: backup-export refuses to start a job without a signing key; the stack's scheduled export is signed",
  ignore: Deno.env.get("LIFEBOAT_SKIP_S3") === "1",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = db();
    const setSetting = (key: string, value: unknown) =>
      sql`update lifeboat.settings set value = ${JSON.stringify(value)}::text::jsonb where key = ${key}`;
    const runsOf = (target: string) =>
      sql`select state, error, metadata ->> 'backup_id' as backup_id from lifeboat.backup_runs
          where rtrim(target, '/') = rtrim(${target}, '/') order by id desc`;
    try {
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA};
        create table ${SCHEMA}.t (id int primary key); insert into ${SCHEMA}.t select generate_series(1, 100);`);
      const body = { mode: "tables", tables: [`${SCHEMA}.t`] };

      await t.step("no key: 409 signing_key_missing, saying how to store one in Vault; no job", async () => {
        const { target } = testTarget("edge-sign-required");
        await configureExport(sql, { target, recipients: [RECIPIENT] });
        await setSetting("export.signing_key_secret", `lifeboat_no_such_secret_${crypto.randomUUID().slice(0, 8)}`);
        const r = await callExport(functionUrl("backup-export"), body);
        assert.equal(r.status, 409, r.text);
        assert.equal(r.json.error, "signing_key_missing", r.text);
        assert.match(String(r.json.message), /vault\.create_secret\(.*'lifeboat_signing_key'\)/, r.text);
        assert.match(String(r.json.message), /lifeboat keygen/, r.text);
        assert.match(String(r.json.message), /export\.allow_unsigned/, r.text);
        assert.equal((await runsOf(target)).length, 0, "a refused request created a job");
      });

      await t.step("export.allow_unsigned = true: the job runs and writes an unsigned backup", async () => {
        const { target, store } = testTarget("edge-sign-optout");
        await configureExport(sql, { target, recipients: [RECIPIENT] });
        await setSetting("export.allow_unsigned", true);
        try {
          const r = await callExport(functionUrl("backup-export"), body);
          assert.ok([200, 202].includes(r.status), r.text);
          const run = await waitForJob(sql, String(r.json.job), ["completed", "failed"], 120_000);
          assert.equal(run.state, "completed", run.error);
          const id = String(r.json.backupId);
          const keys: string[] = [];
          for await (const o of store.list(`${id}/`)) keys.push(o.key);
          assert.ok(keys.includes(`${id}/manifest.json`), keys.join(", "));
          assert.ok(!keys.includes(`${id}/manifest.json.sig`), "an opted-out backup is unsigned");
        } finally {
          await sql`update lifeboat.settings set value = default_value where key = 'export.allow_unsigned'`;
        }
      });

      await t.step("the stack's key in Vault: the scheduled export is signed and verifies with --trust-key", async () => {
        await sql`update lifeboat.settings set value = default_value where key = 'export.signing_key_secret'`;
        const { target } = testTarget("edge-sign-scheduled");
        await configureExport(sql, { target, recipients: [RECIPIENT] });
        // What pg_cron runs for the 'export-daily' schedule (lifeboat.invoke through pg_net).
        const [schedule] = await sql`select command from lifeboat.schedules where name = 'export-daily'`;
        assert.match(schedule.command, /lifeboat\.invoke\('backup-export'/);
        await sql.unsafe(schedule.command);
        let last: { state: string; error: string | null; backup_id: string } | undefined;
        await waitFor(async () => {
          [last] = (await runsOf(target)) as unknown as (typeof last)[];
          return last?.state === "completed" || last?.state === "failed";
        }, 240_000, "the scheduled export to finish");
        assert.equal(last!.state, "completed", last!.error ?? "");
        const pub = `${stackEnv("LIFEBOAT_STACK_DIR")}/signing.key.signing.pub`;
        const v = await lifeboat(["verify", "--store", target, last!.backup_id, "--no-db", "--json", "--trust-key", pub], {
          LIFEBOAT_TRUSTED_KEYS: "",
        });
        assert.equal(v.code, 0, v.stdout + v.stderr);
        const signature = JSON.parse(v.stdout).checks.find((c: { check: string }) => c.check === "signature");
        assert.equal(signature.level, "ok", JSON.stringify(signature));
        // Signed by the stack's key, not by anything else: trusting only another key fails.
        const other = await lifeboat(["verify", "--store", target, last!.backup_id, "--no-db", "--json"]);
        assert.notEqual(other.code, 0, "a backup signed by the stack's key verified with another key trusted");
      });
    } finally {
      await sql`update lifeboat.settings set value = default_value
                where key in ('export.signing_key_secret', 'export.allow_unsigned')`.catch(() => {});
      await sql`update lifeboat.settings set value = 'null' where key = 'export.target'`.catch(() => {});
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
      await removeTestTargets();
      await sql.end();
    }
  },
});

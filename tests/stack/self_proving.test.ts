/**
 * Issue 19's "Done when": a fresh install that uses only the migrations and the edge functions
 * reaches `recoverable: true` by itself. The project is the second, empty one the harness starts
 * (`tests/support/target_project.ts`: `scripts/stack.sh start --no-seed`, Lifeboat installed by
 * `supabase db push`, the project URL, a secret key and the signing key in Vault as the owner
 * stores them in the dashboard). The test then does only what a user does in the SQL editor
 * (README, "Every backup proven by the project itself"): an app table, the export target and
 * recipients, the drill identity in Vault, schedules every few seconds, `apply_schedules()`; and
 * waits. pg_cron drives every step: backup-export (pg_net) → the completion trigger /
 * verify-backups sweep → backup-verify → backup-drill → backup-status says recoverable.
 */
import assert from "node:assert/strict";
import { db, waitFor } from "../../harness/stack.ts";
import { ageKey, removeTestTargets, testTarget } from "../../harness/edge_export.ts";
import { targetProject } from "../support/target_project.ts";

const DRILL_SECRET = "lifeboat_drill_identity";
/** Schedules the test shortens (pg_cron 1.6 second schedules), restored afterwards. */
const FAST: Record<string, string> = {
  "export-daily": "30 seconds",
  "verify-backups": "3 seconds",
  "drill-weekly": "4 seconds",
};
const SETTINGS = ["export.target", "export.recipients", "drill.identity_secret"];

interface Reason {
  check: string;
  ok: boolean;
  detail: string;
}

/** GET backup-status as a service caller; null while the function or database is not ready. */
async function status(url: string, key: string): Promise<{ recoverable: boolean; reasons: Reason[] } | null> {
  const res = await fetch(`${url}/functions/v1/backup-status`, { headers: { apikey: key } });
  const body = await res.text();
  if (res.status !== 200) return null;
  return JSON.parse(body);
}

Deno.test({
  name: "a fresh install reaches recoverable: true by itself: pg_cron exports, backup-verify verifies, backup-drill drills",
  // The project's backups go to the stack's RGW.
  ignore: Deno.env.get("LIFEBOAT_SKIP_S3") === "1",
}, async () => {
  const project = await targetProject();
  const sql = db(project.dbUrl);
  const { target } = testTarget("selfproof");
  const schedules = await sql`select name, schedule from lifeboat.schedules where name in ${sql(Object.keys(FAST))}`;
  try {
    // What the dashboard did (scripts/stack/sql/project.sql): pg_net, and Vault holds the URL,
    // a secret key and the signing key. Nothing of Lifeboat's has run yet.
    const [pre] = await sql`
      select (select count(*)::int from vault.secrets where name in ('lifeboat_project_url', 'lifeboat_service_key', 'lifeboat_signing_key')) as secrets,
             clock_timestamp() as t0`;
    assert.equal(pre.secrets, 3, "the project's URL, secret key and signing key are in Vault");
    // A previous run of this test that died before its cleanup.
    await sql`delete from vault.secrets where name = ${DRILL_SECRET}`;

    const offline = await ageKey();
    const drill = await ageKey();
    const drillIdentity = await Deno.readTextFile(drill.keyFile);
    // The user's SQL, as documented (README, "Every backup proven by the project itself").
    await sql.begin(async (tx) => {
      await tx.unsafe(`
        create schema if not exists selfproof_app;
        create table if not exists selfproof_app.orders (id bigint primary key, customer text not null, total numeric(10, 2));
        insert into selfproof_app.orders select i, 'customer ' || i, i * 1.25 from generate_series(1, 500) i on conflict do nothing;`);
      await tx`update lifeboat.settings set value = ${JSON.stringify(target)}::text::jsonb where key = 'export.target'`;
      await tx`update lifeboat.settings set value = ${JSON.stringify([offline.recipient, drill.recipient])}::text::jsonb
               where key = 'export.recipients'`;
      await tx`select vault.create_secret(${drillIdentity}, ${DRILL_SECRET}, 'age identity used only for restore drills')`;
      await tx`update lifeboat.settings set value = ${JSON.stringify(DRILL_SECRET)}::text::jsonb where key = 'drill.identity_secret'`;
      for (const [name, schedule] of Object.entries(FAST)) {
        await tx`update lifeboat.schedules set schedule = ${schedule} where name = ${name}`;
      }
      await tx`select * from lifeboat.apply_schedules()`;
    });

    // Then nothing but waiting: pg_cron drives every step.
    let last: { recoverable: boolean; reasons: Reason[] } | null = null;
    // Proved by this run (a project re-used by an earlier run may be recoverable already): a
    // verification and a passing in-project drill that started since the setup, then the status.
    const provedNow = async () => (await sql`
      select exists (select from lifeboat.verification_runs v where v.source = 'backup-verify' and v.success and v.started_at >= ${pre.t0})
         and exists (select from lifeboat.drills d where d.ran_in = 'project' and d.success and d.started_at >= ${pre.t0}) as ok`)[0].ok;
    let proved = false;
    const recoverable = await waitFor(async () => {
      proved ||= await provedNow();
      last = proved ? await status(project.url, project.secretKey).catch(() => null) : null;
      return proved && last?.recoverable === true;
    }, 85_000, "backup-status to say recoverable").then(() => true, () => false);
    if (!recoverable) {
      const runs = await sql`select id, state, error from lifeboat.backup_runs where created_at >= ${pre.t0} order by id`;
      const v = await sql`select id, backup_run_id, success, findings from lifeboat.verification_runs where started_at >= ${pre.t0}`;
      const d = await sql`select id, success, details -> 'findings' as findings from lifeboat.drills where started_at >= ${pre.t0}`;
      const cron = await sql`
        select j.jobname, r.status, r.return_message from cron.job_run_details r join cron.job j using (jobid)
        where r.status <> 'succeeded' and r.start_time >= ${pre.t0} order by r.runid desc limit 5`;
      assert.fail(`backup-status did not say recoverable within 85 s\nstatus: ${JSON.stringify(last)}\nruns: ${JSON.stringify(runs)}\n` +
        `verifications: ${JSON.stringify(v)}\ndrills: ${JSON.stringify(d)}\nfailed cron runs: ${JSON.stringify(cron)}`);
    }
    const s = last! as { recoverable: boolean; reasons: Reason[] };
    assert.deepEqual(s.reasons.map((r) => [r.check, r.ok]), [
      ["backup_exists", true], ["backup_within_rpo", true], ["backup_verified", true], ["drill_passed", true],
    ], JSON.stringify(s.reasons));

    // The proof is the project's own: backup-export's backup, backup-verify's verification of
    // it, and backup-drill's drill in the project.
    const verified = await sql`
      select v.id, v.success, r.target from lifeboat.verification_runs v join lifeboat.backup_runs r on r.id = v.backup_run_id
      where v.source = 'backup-verify' and v.finished_at is not null and v.started_at >= ${pre.t0}`;
    assert.ok(verified.length >= 1, "backup-verify recorded a verification run");
    assert.ok(verified.every((v) => v.success && v.target === target), JSON.stringify(verified));
    const drills = await sql`
      select id, success, ran_in, restored_into, backup_id, details from lifeboat.drills
      where finished_at is not null and started_at >= ${pre.t0} order by id`;
    const passed = drills.filter((d) => d.success && d.ran_in === "project");
    assert.ok(passed.length >= 1, `a drill ran in the project and passed: ${JSON.stringify(drills)}`);
    assert.equal(passed[0].restored_into, "scratch_schema");
    assert.ok(Number(passed[0].details.tables) >= 1, "the drill restored the app's table");
    // The drill schedule fired before the first backup existed: refused, not recorded as failures.
    assert.deepEqual(drills.filter((d) => !d.success).map((d) => d.details.findings), []);
    const [left] = await sql`select count(*)::int as n from pg_namespace where nspname ~ '^lifeboat_drill_j[0-9]'`;
    assert.equal(left.n, 0, "the drill left no scratch schema behind");
  } finally {
    // Back to a fresh install: schedules and settings to their defaults, the drill key and the
    // app table gone.
    await sql.begin(async (tx) => {
      for (const s of schedules) await tx`update lifeboat.schedules set schedule = ${s.schedule} where name = ${s.name}`;
      await tx`update lifeboat.settings set value = default_value where key in ${tx(SETTINGS)}`;
      await tx`delete from vault.secrets where name = ${DRILL_SECRET}`;
      await tx`select * from lifeboat.apply_schedules()`;
      await tx`drop schema if exists selfproof_app cascade`;
    }).catch((err) => console.warn(`self_proving cleanup: ${err.message}`));
    // A drill the schedule started before it was put back finishes before its store goes.
    await waitFor(async () => (await sql`select count(*)::int as n from lifeboat.drill_jobs where state = 'running'`)[0].n === 0,
      60_000, "the last drill to finish").catch((err) => console.warn(`self_proving cleanup: ${err.message}`));
    await sql.end();
    await removeTestTargets();
    await project.release();
  }
});


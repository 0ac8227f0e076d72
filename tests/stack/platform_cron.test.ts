/**
 * The scheduled path as it runs on hosted Supabase: a pg_cron 1.6 job with a seconds schedule
 * calls lifeboat.invoke(), which posts through the real pg_net with the project URL and the
 * secret key read from the real Vault; the function authenticates that key. A different key in
 * Vault is refused by the function, so the 200 proves the function saw the Vault secret.
 */
import assert from "node:assert/strict";
import { db, waitForValue } from "../../harness/stack.ts";

const JOB = "lifeboat-test-pg-net";

Deno.test({
  name: "platform: a pg_cron job reaches a function through pg_net with the secret key from Vault",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const sql = db();
    const [{ key }] = await sql<{ key: string }[]>`
      select decrypted_secret as key from vault.decrypted_secrets where name = 'lifeboat_service_key'`;
    try {
      await sql`create table if not exists public.lifeboat_test_pg_net (request_id bigint, at timestamptz default now())`;
      await sql`truncate public.lifeboat_test_pg_net`;
      // Every 2 seconds: pg_cron 1.6 schedules (Debian's 1.4 had minutes only).
      await sql`select cron.schedule(${JOB}, '2 seconds',
        $$insert into public.lifeboat_test_pg_net (request_id)
          select lifeboat.invoke('backup-status', '{"action": "notify"}')$$)`;

      const answered = async (status: number) => {
        const rows = await sql<{ status_code: number | null; content: string | null }[]>`
          select r.status_code, r.content from public.lifeboat_test_pg_net t
          join net._http_response r on r.id = t.request_id
          where r.status_code = ${status}`;
        return rows[0];
      };
      const ok = await waitForValue("a 200 from backup-status through pg_net", () => answered(200), 30_000, 250);
      assert.match(ok.content ?? "", /"action":\s*"notify"/, "the function ran the service-only notify action");

      // The same job with another key in Vault: the function refuses it.
      await sql`select vault.update_secret(s.id, 'sb_secret_not_the_project_key') from vault.secrets s
        where s.name = 'lifeboat_service_key'`;
      await sql`truncate public.lifeboat_test_pg_net`;
      const refused = await waitForValue("a 401 for a key the project does not have", () => answered(401), 30_000, 250);
      assert.match(refused.content ?? "", /unauthorized/);
      const [{ runs }] = await sql<{ runs: number }[]>`
        select count(*)::int as runs from cron.job_run_details d join cron.job j on j.jobid = d.jobid
        where j.jobname = ${JOB} and d.status = 'succeeded'`;
      assert.ok(runs >= 2, `the job ran through pg_cron (${runs} runs)`);
    } finally {
      await sql`select vault.update_secret(s.id, ${key}) from vault.secrets s where s.name = 'lifeboat_service_key'`;
      await sql`select cron.unschedule(jobid) from cron.job where jobname = ${JOB}`;
      await sql`drop table if exists public.lifeboat_test_pg_net`;
      await sql.end();
    }
  },
});

// Issue 17 item 5: "$lifeboat$" inside a role name, a publication name or a cron command must
// not end the generated dollar quotes early (the publication broke post-data, the role was
// silently not created), and a failure in the roles phase is reported, never swallowed.
import assert from "node:assert/strict";
import { connect } from "../../../supabase/functions/_shared/db/mod.ts";
import type { Check } from "../../../supabase/functions/_shared/checks.ts";
import { restoreRoles } from "../../../supabase/functions/_shared/restore/mod.ts";
import { splitSql } from "../../../supabase/functions/_shared/restore/mod.ts";
import { backup, client, createDb, dropDb, lifeboat, makeKey, urlOf } from "../../support/restore.ts";

const SCHEMA = "adv_dollar";
const ROLE = "adv$lifeboat$role";
const PUB = "adv$lifeboat$pub";
const JOB = "adv_dollar_job";

Deno.test({
  name: "adversarial: $lifeboat$ in a role, publication or cron command round-trips; roles-phase failures are reported",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = client();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-adv-dollar-" });
    const target = await createDb("lifeboat_adv_dollar");
    try {
      await sql.unsafe(`
        drop schema if exists ${SCHEMA} cascade;
        drop publication if exists "${PUB}";
        drop role if exists "${ROLE}";
        create role "${ROLE}" nologin;
        create schema ${SCHEMA};
        create table ${SCHEMA}.t (id int primary key);
        insert into ${SCHEMA}.t values (1), (2);
        create publication "${PUB}" for table ${SCHEMA}.t;`);
      await sql`select cron.schedule(${JOB}, '0 3 * * *', ${"select 1 /* $lifeboat$ end; */"})`;

      await t.step("the generated cron block is one valid statement", async () => {
        const rows = await sql`select ddl from lifeboat.ddl_cron_jobs(true) where object_name = ${JOB}`;
        assert.equal(rows.length, 1);
        const ddl = rows[0].ddl as string;
        assert.equal(splitSql(ddl + ";").length, 1, ddl);
        // It runs (and schedules the same job again), inside a transaction rolled back.
        await sql.begin(async (tx) => {
          await tx.unsafe(ddl);
          throw new Error("rollback");
        }).catch((e) => assert.match(String(e), /rollback/));
      });

      const key = await makeKey(dir);
      const store = `${dir}/store`;
      const id = await backup(store, key.recipient);
      // The role must be created by the restore: the cluster's copy is dropped first.
      await sql.unsafe(`drop role "${ROLE}"`);

      await t.step("restore creates the role and the publication", async () => {
        const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(target),
          "--schema", SCHEMA, "--json"]);
        const rep = JSON.parse(r.stdout);
        const errors = rep.checks.filter((c: Check) => c.level === "error");
        // The demo app's auth references are another issue's; this schema must restore cleanly.
        assert.ok(!errors.some((c: Check) => c.check === "post-data" || c.check === "roles"), JSON.stringify(errors));
        assert.equal((await sql`select 1 from pg_roles where rolname = ${ROLE}`).length, 1, r.stdout);
        // A partial restore leaves publications out: the generated statements run on the restored table.
        const pubDdl = await sql`select ddl from lifeboat.ddl_publications(array[${SCHEMA}::regnamespace::oid], true)`;
        assert.ok(pubDdl.length >= 2, JSON.stringify(pubDdl));
        const dst = client(urlOf(target));
        try {
          for (const p of pubDdl) await dst.unsafe(p.ddl as string);
          assert.equal((await dst`select 1 from pg_publication where pubname = ${PUB}`).length, 1, r.stdout);
          assert.equal((await dst`select 1 from pg_publication_tables where pubname = ${PUB} and tablename = 't'`).length, 1);
        } finally {
          await dst.end();
        }
      });

      await t.step("a failing roles statement is a warning in the report, not swallowed", async () => {
        const tsql = connect(urlOf(target), { max: 1 });
        try {
          const checks: Check[] = [];
          await restoreRoles(tsql, `alter role adv_no_such_role_${crypto.randomUUID().slice(0, 6)} set work_mem = '1MB';\n`, checks);
          assert.equal(checks.length, 1, JSON.stringify(checks));
          assert.equal(checks[0].check, "roles");
          assert.equal(checks[0].level, "warn");
          assert.match(checks[0].detail, /not applied: .*does not exist/);
        } finally {
          await tsql.end();
        }
      });
    } finally {
      await dropDb(target);
      await sql`select cron.unschedule(jobid) from cron.job where jobname = ${JOB}`.catch(() => {});
      await sql.unsafe(`drop publication if exists "${PUB}"; drop schema if exists ${SCHEMA} cascade; drop role if exists "${ROLE}"`)
        .catch(() => {});
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

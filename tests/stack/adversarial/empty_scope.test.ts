// Issue 17 item 3: a mistyped --include-schema made a "full" backup of 0 tables that verify,
// drill and status_report() all called recoverable. A schema that does not exist is now an
// error, and a backup of 0 tables from a database that has tables never counts.
import assert from "node:assert/strict";
import { backup, client, lifeboat, makeKey } from "../../support/restore.ts";

const EMPTY = "adv_empty_scope";

Deno.test({
  name: "adversarial: a mistyped schema is an error; a 0-table backup never counts toward recoverability",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = client();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-adv-empty-" });
    const store = `${dir}/store`;
    try {
      const key = await makeKey(dir);
      await sql.unsafe(`drop schema if exists ${EMPTY} cascade; create schema ${EMPTY};`);

      await t.step("--include-schema pubic (a typo) is refused, and so is a missing table", async () => {
        const r = await lifeboat(["backup", "--store", store, "--recipient", key.recipient, "--include-schema", "pubic"]);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stderr, /schema "pubic" does not exist/);
        const t2 = await lifeboat(["backup", "--store", store, "--recipient", key.recipient, "--table", "public.no_such_table_xyz"]);
        assert.equal(t2.code, 2, t2.stdout + t2.stderr);
        assert.match(t2.stderr, /no such table/);
      });

      // A schema that exists but holds no table: a backup of 0 tables from a database with tables.
      const id = await backup(store, key.recipient, ["--include-schema", EMPTY]);
      const [run] = await sql`select id, metadata->>'table_count' as n from lifeboat.backup_runs where metadata->>'backup_id' = ${id}`;
      assert.equal(run.n, "0");

      await t.step("verify fails it", async () => {
        const r = await lifeboat(["verify", "--store", store, id, "--json"]);
        assert.equal(r.code, 1, r.stdout);
        const c = JSON.parse(r.stdout).checks.find((x: { check: string; level: string }) => x.check === "completeness");
        assert.equal(c.level, "error");
        assert.match(c.detail, /holds no table/);
      });

      await t.step("drill fails it", async () => {
        const r = await lifeboat(["drill", "--store", store, id, "--identity", key.path, "--json"]);
        assert.equal(r.code, 1, r.stdout);
        assert.ok(JSON.parse(r.stdout).checks.some((x: { check: string; level: string }) => x.check === "empty_backup" && x.level === "error"));
      });

      await t.step("status_report() does not take it as the last full backup", async () => {
        const [s] = await sql`select lifeboat.status_backup('full') as b, lifeboat.status_report() as r`;
        assert.notEqual(s.b?.id, Number(run.id));
        const [l] = await sql`select count(*)::int as n from lifeboat.last_backup('full') where id = ${run.id}`;
        assert.equal(l.n, 0);
      });
    } finally {
      await sql.unsafe(`drop schema if exists ${EMPTY} cascade`);
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

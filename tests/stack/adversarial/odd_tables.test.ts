// Issue 17 item 4: a table without columns (`create table t()` with rows) and a table whose
// name holds a newline back up, verify, restore and drill with Lifeboat, rows and all.
import assert from "node:assert/strict";
import { backup, client, createDb, dropDb, lifeboat, makeKey, urlOf } from "../../support/restore.ts";

const SCHEMA = "adv_odd";

Deno.test({
  name: "adversarial: zero-column and newline-named tables round-trip through backup, verify, restore and drill",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = client();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-adv-odd-" });
    const target = await createDb("lifeboat_adv_odd");
    try {
      await sql.unsafe(`
        drop schema if exists ${SCHEMA} cascade;
        create schema ${SCHEMA};
        create table ${SCHEMA}.nocols ();
        insert into ${SCHEMA}.nocols select from generate_series(1, 7);
        create table ${SCHEMA}."line
break" (id int primary key, "col
umn" text);
        insert into ${SCHEMA}."line
break" select g, 'v' || g from generate_series(1, 5) g;`);
      const key = await makeKey(dir);
      const store = `${dir}/store`;
      const id = await backup(store, key.recipient, ["--include-schema", SCHEMA]);

      await t.step("verify decrypts and parses both tables' parts", async () => {
        const r = await lifeboat(["verify", "--store", store, id, "--identity", key.path, "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
      });

      await t.step("restore brings back both, with their rows", async () => {
        const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(target), "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const dst = client(urlOf(target));
        try {
          const [a] = await dst.unsafe(`select count(*)::int as n from ${SCHEMA}.nocols`);
          assert.equal(a.n, 7);
          const [b] = await dst.unsafe(`select count(*)::int as n, max("col\numn") as m from ${SCHEMA}."line\nbreak"`);
          assert.equal(b.n, 5);
          assert.equal(b.m, "v5");
        } finally {
          await dst.end();
        }
      });

      await t.step("drill passes", async () => {
        const r = await lifeboat(["drill", "--store", store, id, "--identity", key.path, "--json"]);
        const rep = JSON.parse(r.stdout);
        const errors = rep.checks.filter((c: { level: string }) => c.level === "error");
        assert.deepEqual(errors, [], r.stdout);
      });
    } finally {
      await dropDb(target);
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// Issue 17 item 6: large objects referenced by oid columns were lost without a word. Lifeboat
// does not back them up; backup, verify and restore now say how many are missing.
import assert from "node:assert/strict";
import { backup, client, createDb, dropDb, lifeboat, makeKey, urlOf } from "../../support/restore.ts";

const SCHEMA = "adv_lo";

Deno.test({
  name: "adversarial: large objects are counted and warned about at backup, verify and restore",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = client();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-adv-lo-" });
    const target = await createDb("lifeboat_adv_lo");
    const los: number[] = [];
    try {
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA};
        create table ${SCHEMA}.docs (id int primary key, body oid);`);
      for (let i = 1; i <= 3; i++) {
        const [r] = await sql`select lo_from_bytea(0, ${"document " + i}::bytea) as o`;
        los.push(Number(r.o));
        await sql.unsafe(`insert into ${SCHEMA}.docs values (${i}, ${r.o})`);
      }
      const [{ n }] = await sql`select count(*)::int as n from pg_largeobject_metadata`;
      const key = await makeKey(dir);
      const store = `${dir}/store`;
      const b = await lifeboat(["backup", "--store", store, "--recipient", key.recipient, "--include-schema", SCHEMA]);
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stdout, new RegExp(`warning: ${n} large object\\(s\\) \\(pg_largeobject\\) are NOT in the backup`));
      const id = await backup(store, key.recipient, ["--include-schema", SCHEMA]);
      const m = JSON.parse(await Deno.readTextFile(`${store}/${id}/manifest.json`));
      assert.equal(m.largeObjectsNotExported, n);

      const v = await lifeboat(["verify", "--store", store, id, "--json"]);
      assert.equal(v.code, 0, v.stdout);
      const vc = JSON.parse(v.stdout).checks.find((c: { check: string }) => c.check === "large_objects");
      assert.equal(vc.level, "warn");

      const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(target), "--json"]);
      assert.equal(r.code, 0, r.stdout);
      const rc = JSON.parse(r.stdout).checks.find((c: { check: string }) => c.check === "large_objects");
      assert.equal(rc.level, "warn");
      assert.match(rc.detail, new RegExp(`^${n} large object`));
    } finally {
      for (const o of los) await sql`select lo_unlink(${o})`.catch(() => {});
      await dropDb(target);
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

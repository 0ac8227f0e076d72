// The manifest's `scope` and `lifeboat verify`'s completeness, against real Postgres through
// the real CLI (local directory store): a backup taken with --include-schema/--exclude-table
// records its scope and verifies as complete although the source has other schemas; the same
// manifest without `scope` (an older one) falls back to "every schema", and so reports the
// other schema's tables missing; a manifest that lost a table in scope fails.
import assert from "node:assert/strict";
import { backup, client, lifeboat, makeKey } from "../support/restore.ts";

interface CheckRow {
  check: string;
  level: string;
  object: string;
}

Deno.test("verify: completeness follows the backup's recorded scope", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-vscope-" });
  const store = `${dir}/store`;
  const key = await makeKey(dir);
  const sql = client();
  const suffix = crypto.randomUUID().slice(0, 8);
  const app = `vscope_app_${suffix}`;
  const other = `vscope_other_${suffix}`;
  try {
    await sql.unsafe(`
      create schema ${app};
      create table ${app}.a (id serial primary key, v text);
      create table ${app}.b (id int primary key);
      create table ${app}.skipped (id int);
      insert into ${app}.a (v) select 'x' || i from generate_series(1, 50) i;
      insert into ${app}.b select generate_series(1, 10);
      create schema ${other};
      create table ${other}.c (id int);`);

    const id = await backup(store, key.recipient, ["--include-schema", app, "--exclude-table", `${app}.skipped`]);
    const manifestPath = `${store}/${id}/manifest.json`;
    const original = JSON.parse(await Deno.readTextFile(manifestPath));
    // The later steps edit the manifest as an older, unsigned one: they verify with --allow-unsigned.
    let unsigned: string[] = [];
    const verify = async () => {
      const r = await lifeboat(["verify", "--store", store, id, "--json", ...unsigned]);
      const rep = JSON.parse(r.stdout) as { passed: boolean; checks: CheckRow[] };
      return { code: r.code, rep, out: r.stdout + r.stderr };
    };

    await t.step("the manifest records the selection", () => {
      assert.deepEqual(original.scope, {
        includeSchemas: [app],
        excludeSchemas: [],
        tables: null,
        excludeTables: [{ schema: app, name: "skipped" }],
      });
      assert.deepEqual(original.tables.map((x: { name: string }) => x.name).sort(), ["a", "b"]);
    });

    await t.step("an --include-schema backup verifies as complete", async () => {
      const { code, rep, out } = await verify();
      assert.equal(code, 0, out);
      const c = rep.checks.find((x) => x.check === "completeness")!;
      assert.equal(c.level, "ok");
      assert.ok(!rep.checks.some((x) => x.check === "table_in_backup"), out);
    });

    await t.step("without scope (an older manifest) every schema is expected, as before", async () => {
      const { scope: _s, ...older } = original;
      await Deno.remove(`${store}/${id}/manifest.json.sig`);
      unsigned = ["--allow-unsigned"];
      await Deno.writeTextFile(manifestPath, JSON.stringify(older, null, 2) + "\n");
      const { code, rep, out } = await verify();
      assert.notEqual(code, 0, out);
      const missing = rep.checks.filter((x) => x.check === "table_in_backup" && x.level === "error").map((x) => x.object);
      assert.ok(missing.includes(`${other}.c`), out);
      assert.ok(missing.includes(`${app}.skipped`), out);
    });

    await t.step("a table in scope missing from the manifest fails", async () => {
      const damaged = {
        ...original,
        tables: original.tables.filter((x: { name: string }) => x.name !== "b"),
        objects: original.objects.filter((o: { table?: { name: string } }) => o.table?.name !== "b"),
      };
      await Deno.writeTextFile(manifestPath, JSON.stringify(damaged, null, 2) + "\n");
      const { code, rep, out } = await verify();
      assert.notEqual(code, 0, out);
      const miss = rep.checks.filter((x) => x.check === "table_in_backup" && x.level === "error").map((x) => x.object);
      assert.deepEqual(miss, [`${app}.b`], out);
    });
  } finally {
    await sql.unsafe(`drop schema if exists ${app} cascade; drop schema if exists ${other} cascade`).catch(() => {});
    await sql.end();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

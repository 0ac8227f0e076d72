// A backup's round trip through Azure Blob Storage (the stack's Azurite) with the real CLI:
// `lifeboat backup --store az://…` → `lifeboat verify` → `lifeboat restore` into a new database,
// rows and fingerprints as in the source. A part moved to the Archive tier makes verify and
// restore explain rehydration (and write nothing) instead of failing with a raw error; once
// rehydrated, the same backup verifies and restores.
import assert from "node:assert/strict";
import { azureStore, azureUrl, hasAzure, setBlobTier } from "../../harness/azure.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { readManifest } from "../../harness/export_env.ts";
import { backup, client, createDb, dropDb, lifeboat, makeKey, urlOf, userTableCount } from "../support/restore.ts";

const SCHEMA = "az_roundtrip";

Deno.test({
  name: "azure: backup → verify → restore through az://, and an archived part is explained, not a raw error",
  ignore: !hasAzure(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = client();
    await sql.unsafe(`
      drop schema if exists ${SCHEMA} cascade;
      create schema ${SCHEMA};
      create table ${SCHEMA}.items (id int primary key, v text);
      insert into ${SCHEMA}.items select g, md5(g::text) from generate_series(1, 20000) g;
      create table ${SCHEMA}.tags (id int primary key, item int references ${SCHEMA}.items, tag text);
      insert into ${SCHEMA}.tags select g, g, 't' || g from generate_series(1, 500) g;`);
    await sql.end();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-az-" });
    const prefix = `roundtrip-${crypto.randomUUID().slice(0, 8)}/`;
    const store = azureUrl(prefix);
    const targets: string[] = [];
    try {
      const key = await makeKey(dir);
      const id = await backup(store, key.recipient, ["--include-schema", SCHEMA]);
      const m = await readManifest(azureStore(prefix), id);
      assert.equal(m.tables.find((x) => x.name === "items")?.rows, 20000);

      await t.step("verify reads every object back from Azure and decrypts it", async () => {
        const r = await lifeboat(["verify", "--store", store, id, "--identity", key.path, "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const rep = JSON.parse(r.stdout);
        assert.equal(rep.passed, true);
        assert.equal(rep.checks.find((c: { check: string }) => c.check === "decrypt").level, "ok");
      });

      await t.step("restore from Azure into a new database gives the same rows", async () => {
        const target = await createDb("lifeboat_az_rt");
        targets.push(target);
        const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(target), "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const tsql = client(urlOf(target));
        try {
          const [row] = await tsql.unsafe(`select count(*)::int n, md5(string_agg(v, ',' order by id)) h from ${SCHEMA}.items`);
          const src = client();
          const [want] = await src.unsafe(`select count(*)::int n, md5(string_agg(v, ',' order by id)) h from ${SCHEMA}.items`);
          await src.end();
          assert.deepEqual(row, want);
        } finally {
          await tsql.end();
        }
      });

      const part = m.objects.find((o) => o.kind === "data")!;
      await setBlobTier(`${prefix}${id}/${part.key}`, "Archive");

      await t.step("an archived part: verify fails with the rehydration advice, naming the object", async () => {
        const r = await lifeboat(["verify", "--store", store, id, "--identity", key.path, "--json"]);
        assert.notEqual(r.code, 0);
        const rep = JSON.parse(r.stdout);
        const c = rep.checks.find((x: { check: string }) => x.check === "object_archived");
        assert.ok(c, r.stdout);
        assert.equal(c.object, part.key);
        assert.match(c.detail, /Archive tier \(offline\): rehydrate first/);
        assert.match(c.remediation, /Rehydrate/);
        assert.doesNotMatch(r.stdout + r.stderr, /RestError|at .*\.(ts|js):\d+/, "no raw SDK error or stack trace");
      });

      await t.step("an archived part: restore stops before writing and says to rehydrate", async () => {
        const target = await createDb("lifeboat_az_arch");
        targets.push(target);
        const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(target), "--json"]);
        assert.notEqual(r.code, 0);
        assert.match(r.stdout + r.stderr, /rehydrate first/);
        assert.equal(await userTableCount(target), 0, "nothing was written");
      });

      await t.step("rehydrated (tier Hot again), the same backup verifies", async () => {
        await setBlobTier(`${prefix}${id}/${part.key}`, "Hot");
        const r = await lifeboat(["verify", "--store", store, id, "--identity", key.path, "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
      });
    } finally {
      for (const t of targets) await dropDb(t);
      await emptyStore(azureStore(prefix));
      await Deno.remove(dir, { recursive: true });
      const s = client();
      await s.unsafe(`drop schema if exists ${SCHEMA} cascade`);
      await s.end();
    }
  },
});

// Issue 17 item 7: a drill killed mid-way (kill -9) leaves its scratch database behind; the
// next drill recognises it (its name, and the drill row written before it was created) and
// drops it, while the scratch database of a drill still running is left alone.
import assert from "node:assert/strict";
import { backup, client, databasesLike, lifeboat, makeKey, sourceUrl } from "../../support/restore.ts";
import { signingEnv } from "../../support/signing.ts";
import { denoBin, repoRoot } from "../../../harness/stack.ts";

const SCHEMA = "adv_drill";

Deno.test({
  name: "adversarial: the scratch database of a killed drill is dropped by the next drill",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = client();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-adv-drill-" });
    try {
      await sql.unsafe(`
        drop schema if exists ${SCHEMA} cascade;
        create schema ${SCHEMA};
        create table ${SCHEMA}.t (id int primary key, v text);
        insert into ${SCHEMA}.t select g, repeat('x', 200) from generate_series(1, 200000) g;`);
      const key = await makeKey(dir);
      const store = `${dir}/store`;
      const id = await backup(store, key.recipient, ["--include-schema", SCHEMA]);
      assert.deepEqual(await databasesLike("lifeboat_drill_"), []);

      // A drill killed as soon as its scratch database exists.
      const child = new Deno.Command(denoBin, {
        args: ["run", "--quiet", "-A", `${repoRoot}/scripts/lifeboat.ts`, "drill", "--store", store, id, "--identity", key.path, "--json"],
        env: { SUPABASE_DB_URL: sourceUrl(), PGSSLMODE: "disable", ...signingEnv },
        stdout: "null",
        stderr: "null",
      }).spawn();
      let leftover: string[] = [];
      for (let i = 0; i < 600 && leftover.length === 0; i++) {
        leftover = await databasesLike("lifeboat_drill_");
        if (!leftover.length) await new Promise((r) => setTimeout(r, 25));
      }
      child.kill("SIGKILL");
      await child.status;
      assert.equal(leftover.length, 1, "the drill created its scratch database");
      const [row] = await sql`select id, finished_at from lifeboat.drills where details->>'scratchDatabase' = ${leftover[0]}`;
      assert.ok(row, "the drill row was written before the database was created");
      assert.equal(row.finished_at, null);
      // Its server connections go away with the process; the database stays.
      for (let i = 0; i < 100; i++) {
        const [a] = await sql`select count(*)::int as n from pg_stat_activity where datname = ${leftover[0]}`;
        if (a.n === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(await databasesLike("lifeboat_drill_"), leftover);
      // Older than the minute a drill may take between recording and connecting.
      await sql`update lifeboat.drills set started_at = started_at - interval '5 minutes' where id = ${row.id}`;

      const r = await lifeboat(["drill", "--store", store, id, "--identity", key.path, "--json"]);
      const rep = JSON.parse(r.stdout);
      const cleaned = rep.checks.find((c: { check: string }) => c.check === "scratch_leftover");
      assert.ok(cleaned, r.stdout);
      assert.equal(cleaned.object, leftover[0]);
      assert.deepEqual(await databasesLike("lifeboat_drill_"), []);
      const [after] = await sql`select details->>'state' as state from lifeboat.drills where id = ${row.id}`;
      assert.equal(after.state, "interrupted");
    } finally {
      for (const db of await databasesLike("lifeboat_drill_")) await sql.unsafe(`drop database if exists "${db}" with (force)`);
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

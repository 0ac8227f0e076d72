// Restore round trips against real Postgres, through the real CLI: the hardest schema restored
// whole into an empty database (every table's fingerprint and every sequence equal to the
// source), a partial restore into another schema next to the live tables (with the FK warning),
// refusal on a non-empty target (nothing written), --clean (only the restored objects
// replaced), and a pg_dump -Fc archive restored through pg_restore with fingerprints compared.
import assert from "node:assert/strict";
import {
  backup, client, createDb, dropDb, lifeboat, loadHardSchema, makeKey, sourceFingerprints, sourceUrl,
  targetFingerprints, urlOf,
} from "../support/restore.ts";

const SCHEMAS = ["hard", "Other Schema", "public"];

Deno.test("restore: round trips, partial, refusal, --clean, pg_dump archives", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-restore-" });
  const store = `${dir}/store`;
  const key = await makeKey(dir);
  await loadHardSchema();
  const id = await backup(store, key.recipient);
  const expected = await sourceFingerprints(SCHEMAS);
  assert.ok(expected.size >= 20, `the fixture has tables (${expected.size})`);
  const target = await createDb("lifeboat_rt");
  try {
    await t.step("whole backup into an empty database: every fingerprint and sequence matches", async () => {
      const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(target), "--json", "--jobs", "3"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.passed, true);
      assert.ok(report.tables.length >= 20);
      assert.ok(report.tables.every((x: { fingerprint: string }) => x.fingerprint === "match"));
      // Progress is JSON lines on stderr when not on a terminal.
      const phases = r.stderr.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "phase").map((e) => e.phase);
      assert.deepEqual(phases, ["manifest", "verify", "preflight", "roles", "pre-data", "data", "post-data", "finalize", "check"]);
      // Independently of the CLI's own report.
      const got = await targetFingerprints(target, [...expected.keys()]);
      for (const [table, fp] of expected) assert.equal(got.get(table), fp, `fingerprint of ${table}`);
      const src = client(), dst = client(urlOf(target));
      try {
        const q = `select last_value::text, is_called from hard.ticket_seq`;
        assert.deepEqual([...await dst.unsafe(q)], [...await src.unsafe(q)]);
        const [inv] = await dst`select count(*)::int as n from pg_index where not indisvalid`;
        assert.equal(inv.n, 0);
        const [mv] = await dst`select count(*)::int as n from public.order_daily_stats`;
        assert.ok(mv.n > 0, "materialized views are refreshed");
      } finally {
        await src.end();
        await dst.end();
      }
    });

    await t.step("a non-empty target is refused and nothing is written", async () => {
      const dst = client(urlOf(target));
      try {
        await dst`update hard.authors set name = 'changed after restore' where id = 1`;
        const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(target)]);
        assert.equal(r.code, 1);
        assert.match(r.stdout, /target_empty.*already exist/);
        assert.match(r.stdout, /FAILED \(nothing was written\)/);
        const [a] = await dst`select name from hard.authors where id = 1`;
        assert.equal(a.name, "changed after restore");
      } finally {
        await dst.end();
      }
    });

    await t.step("--clean replaces exactly the restored objects", async () => {
      const dst = client(urlOf(target));
      try {
        await dst`create table public.not_in_backup (x int)`;
        await dst`insert into public.not_in_backup values (42)`;
        const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(target), "--clean"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /will be dropped and replaced \(--clean\)/);
        const [a] = await dst`select name from hard.authors where id = 1`;
        assert.notEqual(a.name, "changed after restore");
        const [k] = await dst`select x from public.not_in_backup`;
        assert.equal(k.x, 42, "an object outside the backup is untouched");
      } finally {
        await dst.end();
      }
    });

    await t.step("partial restore into another schema, next to the live tables, warns about FK parents", async () => {
      const src = client();
      try {
        await src`drop schema if exists recovered cascade`;
        const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", sourceUrl(),
          "--table", "hard.books", "--table", "hard.events", "--into-schema", "recovered"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /fk_parent +recovered\.books: foreign key to hard\.authors not created/);
        for (const tbl of ["books", "events", "events_2025_click"]) {
          const [row] = await src.unsafe(`select lifeboat.fingerprint('recovered.${tbl}') = lifeboat.fingerprint('hard.${tbl}') as same`);
          assert.equal(row.same, true, `recovered.${tbl} equals hard.${tbl}`);
        }
        const [o] = await src`select count(*)::int as n from pg_class where relnamespace = 'recovered'::regnamespace and relname = 'authors'`;
        assert.equal(o.n, 0, "tables not chosen are not restored");
        const [inv] = await src`select count(*)::int as n from pg_index i join pg_class c on c.oid = i.indexrelid
          where c.relnamespace = 'recovered'::regnamespace and not i.indisvalid`;
        assert.equal(inv.n, 0, "partitioned indexes are attached");
        // Partial restore of a schema in place into an empty database.
        const db2 = await createDb("lifeboat_rt_part");
        try {
          const r2 = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(db2), "--schema", "hard"]);
          assert.equal(r2.code, 0, r2.stdout + r2.stderr);
          const d2 = client(urlOf(db2));
          const [n] = await d2`select count(*)::int as n from pg_class c join pg_namespace s on s.oid = c.relnamespace
            where c.relkind = 'r' and s.nspname = 'public'`;
          await d2.end();
          assert.equal(n.n, 0, "only the chosen schema's tables");
        } finally {
          await dropDb(db2);
        }
      } finally {
        await src`drop schema if exists recovered cascade`;
        await src.end();
      }
    });

    await t.step("a pg_dump -Fc archive restores through pg_restore, compared with the source", async () => {
      const dump = `${dir}/src.dump`;
      const pd = await new Deno.Command("pg_dump", { args: ["-Fc", "-n", "hard", "-n", '"Other Schema"', "-f", dump, sourceUrl()], env: { PGSSLMODE: "disable" }, stderr: "piped" }).output();
      assert.ok(pd.success, new TextDecoder().decode(pd.stderr));
      const db3 = await createDb("lifeboat_rt_dump");
      try {
        // The archive holds two schemas only; what it uses from 'extensions' must exist first.
        const d3 = client(urlOf(db3));
        await d3`create schema extensions`;
        await d3`create extension pgcrypto with schema extensions`;
        await d3.end();
        const r = await lifeboat(["restore", dump, "--target", urlOf(db3), "--compare-with", sourceUrl(), "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const rep = JSON.parse(r.stdout);
        assert.ok(rep.checks.some((c: { check: string; level: string; detail: string }) => c.check === "fingerprints" && c.level === "ok"));
        const again = await lifeboat(["restore", dump, "--target", urlOf(db3)]);
        assert.equal(again.code, 1, "a non-empty target is refused for archives too");
        assert.match(again.stdout, /already exist/);
      } finally {
        await dropDb(db3);
      }
    });
  } finally {
    await dropDb(target);
    await Deno.remove(dir, { recursive: true });
  }
});

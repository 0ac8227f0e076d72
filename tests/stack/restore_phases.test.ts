// Restore phases one at a time, against the real database: planning a partial restore (what
// the target already holds decides which foreign keys are kept), pre-flight refusing a target
// that already has the table (nothing written), pre-data alone creating exactly the chosen
// table, and the final check finding an index a failed build left invalid.
import assert from "node:assert/strict";
import postgres from "postgres";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import type { Check } from "../../supabase/functions/_shared/checks.ts";
import { readManifest } from "../../supabase/functions/_shared/verify/mod.ts";
import { RestoreAbort } from "../../supabase/functions/_shared/restore/mod.ts";
import { checkInvalidIndexes } from "../../supabase/functions/_shared/restore/mod.ts";
import { runPreflight } from "../../supabase/functions/_shared/restore/mod.ts";
import { restorePreData } from "../../supabase/functions/_shared/restore/mod.ts";
import { readScripts } from "../../supabase/functions/_shared/restore/mod.ts";
import { chooseTables, planRestore } from "../../supabase/functions/_shared/restore/mod.ts";
import { client, createDb, dropDb, lifeboat, urlOf } from "../support/restore.ts";

const SCHEMA = "lifeboat_phases";
const CHILD = { schema: SCHEMA, name: "child" };

/** A backup of a parent and a child table (FK, index) in a schema of their own. */
async function phaseBackup(dir: string) {
  const src = client();
  try {
    await src.unsafe(`
      drop schema if exists ${SCHEMA} cascade;
      create schema ${SCHEMA};
      create table ${SCHEMA}.parent (id int primary key);
      create table ${SCHEMA}.child (id int primary key, parent_id int references ${SCHEMA}.parent (id), note text);
      create index child_note on ${SCHEMA}.child (note);
      insert into ${SCHEMA}.parent select g from generate_series(1, 5) g;
      insert into ${SCHEMA}.child select g, 1 + g % 5, 'n' || g from generate_series(1, 50) g;`);
  } finally {
    await src.end();
  }
  const r = await lifeboat(["backup", "--store", dir, "--unencrypted", "--include-schema", SCHEMA, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const id = /"id":"([^"]+)"/.exec(r.stdout)![1];
  const store = openStore(dir);
  const manifest = await readManifest(store, id);
  const scripts = await readScripts(store, manifest, null);
  return { manifest, scripts };
}

/** A scratch database with a client on it. */
async function scratch(prefix: string, fn: (sql: postgres.Sql) => Promise<void>) {
  const db = await createDb(prefix);
  const sql = postgres(urlOf(db), { max: 3, onnotice: () => {}, prepare: false });
  try {
    await fn(sql);
  } finally {
    await sql.end();
    await dropDb(db);
  }
}

Deno.test("restore phases alone: plan, pre-flight and pre-data of a --table restore", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-phases-" });
  try {
    const { manifest, scripts } = await phaseBackup(dir);
    const choice = { tables: [CHILD] };

    await t.step("plan: the FK to a parent missing in the target is left out, kept (optional) when it exists", async () => {
      await scratch("lifeboat_phase_plan", async (sql) => {
        const checks: Check[] = [];
        const chosen = chooseTables(manifest, choice, checks);
        assert.equal(chosen.partial, true);
        const plan = await planRestore(sql as never, manifest, scripts, choice, chosen, checks);
        assert.deepEqual(plan.tables.map((x) => x.name), ["child"]);
        assert.ok(plan.tasks.length > 0 && plan.tasks.every((x) => x.target.name === "child"));
        assert.deepEqual(plan.partialPlan.skippedFks.map((f) => f.parent.name), ["parent"]);
        assert.deepEqual(checks, [], "planning records no check when the choice can be met");

        // The same backup planned against a target that holds the parent keeps the FK, softly.
        await sql.unsafe(`create schema ${SCHEMA}; create table ${SCHEMA}.parent (id int primary key)`);
        const again = await planRestore(sql as never, manifest, scripts, choice, chosen, checks);
        assert.deepEqual(again.partialPlan.skippedFks, []);
        const fk = [...again.planPost].find((p) => p.kind === "fk");
        assert.ok(fk?.optional, "the FK is planned as optional");
      });
    });

    await t.step("plan: a table the backup does not have stops the restore with a selection check", async () => {
      await scratch("lifeboat_phase_nosuch", async (sql) => {
        const checks: Check[] = [];
        const missing = { tables: [{ schema: SCHEMA, name: "nope" }] };
        await assert.rejects(
          planRestore(sql as never, manifest, scripts, missing, chooseTables(manifest, missing, checks), checks),
          RestoreAbort,
        );
        assert.equal(checks.length, 1);
        assert.equal(checks[0].check, "selection");
        assert.equal(checks[0].level, "error");
        assert.match(checks[0].detail, /no table lifeboat_phases\.nope/);
      });
    });

    await t.step("pre-flight: a target that already has the table is refused; pre-data alone then creates only the child", async () => {
      await scratch("lifeboat_phase_pf", async (sql) => {
        const checks: Check[] = [];
        const plan = await planRestore(sql as never, manifest, scripts, choice, chooseTables(manifest, choice, checks), checks);
        await sql.unsafe(`create schema ${SCHEMA}; create table ${SCHEMA}.child (x int)`);
        await assert.rejects(
          runPreflight(sql as never, manifest, scripts.roles, plan, { jobs: 1, clean: false }, checks),
          RestoreAbort,
        );
        const refused = checks.find((c) => c.check === "target_empty");
        assert.equal(refused?.level, "error");
        assert.match(refused!.detail, /already exist in the target \(e\.g\. lifeboat_phases\.child\)/);
        assert.ok(checks.some((c) => c.check === "fk_parent" && c.level === "warn"), "the left-out FK is reported");
        const [{ n }] = await sql`select count(*)::int as n from information_schema.columns
          where table_schema = ${SCHEMA} and table_name = 'child'`;
        assert.equal(n, 1, "pre-flight wrote nothing");

        // With --clean, pre-flight passes and pre-data replaces exactly the child table.
        const cleanChecks: Check[] = [];
        const pf = await runPreflight(sql as never, manifest, scripts.roles, plan, { jobs: 1, clean: true }, cleanChecks);
        assert.deepEqual(pf.targetSchemas, [SCHEMA]);
        assert.deepEqual(pf.result.existing.map((e) => e.name), ["child"]);
        await restorePreData(sql as never, plan.planPre, { clean: true, existing: pf.result.existing }, cleanChecks);
        const cols = await sql`select column_name from information_schema.columns
          where table_schema = ${SCHEMA} and table_name = 'child' order by ordinal_position`;
        assert.deepEqual(cols.map((c) => c.column_name), ["id", "parent_id", "note"]);
        const rels = await sql`select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = ${SCHEMA} and c.relkind = 'r' order by 1`;
        assert.deepEqual(rels.map((r) => r.relname), ["child"], "the parent is not created");
        assert.equal(cleanChecks.filter((c) => c.level === "error").length, 0);
      });
    });
  } finally {
    const src = client();
    await src.unsafe(`drop schema if exists ${SCHEMA} cascade`).finally(() => src.end());
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restore phase check alone: an index a failed build left invalid is an error naming it", async () => {
  await scratch("lifeboat_phase_check", async (sql) => {
    await sql.unsafe(`create schema s; create table s.t (a int); insert into s.t values (1), (1)`);
    const before: Check[] = [];
    await checkInvalidIndexes(sql as never, ["s"], before);
    assert.deepEqual(before.map((c) => [c.check, c.level]), [["invalid_indexes", "ok"]]);
    // A unique index built concurrently over duplicates fails and stays behind, invalid.
    await assert.rejects(sql.unsafe(`create unique index concurrently t_a on s.t (a)`), /could not create unique index/);
    const after: Check[] = [];
    await checkInvalidIndexes(sql as never, ["s"], after);
    assert.equal(after.length, 1);
    assert.equal(after[0].level, "error");
    assert.equal(after[0].object, "s.t_a");
    const other: Check[] = [];
    await checkInvalidIndexes(sql as never, ["public"], other);
    assert.equal(other[0].level, "ok", "only the restored schemas are looked at");
  });
});

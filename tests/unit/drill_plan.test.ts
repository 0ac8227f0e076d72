/** The in-project drill's pure parts: units and sampling, and reading runtests()'s TAP. */
import assert from "node:assert/strict";
import { parseTap, planDrill, scratchSchema } from "../../supabase/functions/_shared/drill/mod.ts";
import type { Manifest } from "../../supabase/functions/_shared/format/mod.ts";

const table = (schema: string, name: string, bytes: number) => ({ schema, name, rows: 1, bytes, fingerprint: {}, parts: [] });
const manifest = (tables: ReturnType<typeof table>[]) => ({ tables }) as unknown as Manifest;

Deno.test("units hold tables of one schema up to unit_bytes; a bigger table is a unit of its own", () => {
  const m = manifest([table("public", "a", 10), table("public", "b", 10), table("public", "big", 100), table("shop", "c", 5)]);
  const p = planDrill(m, 1000, 25);
  assert.equal(p.sampled, false);
  assert.deepEqual(p.units.map((u) => [u.sourceSchema, u.tables.map((t) => t.name)]), [
    ["public", ["a", "b"]], ["public", ["big"]], ["shop", ["c"]],
  ]);
  assert.deepEqual(p.units.map((u) => u.position), [0, 1, 2]);
  assert.equal(p.bytes, 125);
  assert.equal(scratchSchema(7, 2), "lifeboat_drill_j7_u2");
});

Deno.test("over max_bytes a random sample of tables that fits is drilled, and the plan says so", () => {
  const m = manifest([table("public", "a", 40), table("public", "b", 40), table("public", "c", 40), table("auth", "users", 10)]);
  let i = 0;
  const order = [0.1, 0.9, 0.5, 0.2];
  const p = planDrill(m, 60, 1000, () => order[i++]);
  assert.equal(p.sampled, true);
  assert.deepEqual([p.tables, p.totalTables, p.bytes, p.totalBytes], [2, 4, 50, 130]);
  assert.ok(p.units.flatMap((u) => u.tables).every((t) => ["a", "users"].includes(t.name)));
});

Deno.test("runtests() TAP: assertions are the indented lines; a test function that died fails", () => {
  const ok = parseTap(["    # Subtest: s.test_a()", "    ok 1 - one", "    ok 2 - two", "    1..2", "ok 1 - s.test_a", "1..1"]);
  assert.deepEqual(ok, { passed: 2, failed: 0, tests: 1, ok: true, failures: [] });
  const bad = parseTap(["    ok 1 - one", "    not ok 2 - two", "not ok 1 - s.test_a", "1..1"]);
  assert.deepEqual([bad.passed, bad.failed, bad.ok, bad.failures], [1, 1, false, ["not ok 2 - two"]]);
  const died = parseTap(["    # Subtest: s.test_b()", "not ok 1 - s.test_b", "# Test died: boom", "1..1"]);
  assert.deepEqual([died.passed, died.failed, died.ok], [0, 1, false]);
  assert.equal(parseTap([]).ok, false);
});

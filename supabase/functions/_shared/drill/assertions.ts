/**
 * The user's assertions in an in-project drill: pgTAP test functions (`test_*`, returning
 * `setof text`) in the schema drill.assertions_schema names, run with pgTAP's `runtests()`
 * against the restored copy: the search path puts the drill's scratch schemas first (the
 * copies of `public`'s tables before the others), so unqualified table names in the tests
 * resolve to the restored tables, not to production's. Everything runs in one transaction
 * that is rolled back. pgTAP is used where the project has it, else installed into a scratch
 * schema of the drill that is dropped with the others.
 * @module
 */
import { describeDbError, type Sql } from "../db/mod.ts";
import { type Check, check } from "../checks.ts";
import { tapSchema } from "./plan.ts";

/** The assertions' outcome. */
export interface AssertionOutcome {
  passed: number;
  failed: number;
  tests: number;
  ok: boolean;
  failures: string[];
}

/** Parses pgTAP's TAP lines. */
export function parseTap(lines: string[]): AssertionOutcome {
  const passed = lines.filter((l) => /^\s*ok \d+/.test(l)).length;
  const failures = lines.filter((l) => /^\s*not ok \d+/.test(l)).map((l) => l.trim());
  const tests = lines.filter((l) => /^\s*# Subtest: /.test(l)).length;
  const bail = lines.some((l) => /^\s*(Bail out!|# Looks like .* failed|# Looks like you planned)/.test(l));
  const failed = failures.length || (bail ? 1 : 0);
  return { passed, failed, tests, ok: failed === 0 && passed > 0, failures };
}

/** Whether the assertions schema has test functions. */
async function testFunctions(sql: Sql, schema: string): Promise<number> {
  const [r] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = ${schema} and p.proname ~ '^test'`;
  return r.n;
}

/** The schema pgTAP is installed in, installing it into the job's scratch schema when the project has none. */
async function pgtapSchema(sql: Sql, jobId: number): Promise<string> {
  const [r] = await sql<{ schema: string | null }[]>`
    select n.nspname::text as schema from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pgtap'`;
  if (r?.schema) return r.schema;
  const s = tapSchema(jobId);
  await sql.unsafe(`create schema if not exists "${s}"`);
  await sql.unsafe(`create extension if not exists pgtap with schema "${s}"`);
  return s;
}

/**
 * Runs the assertions of `schema` against the scratch schemas (in search-path order). Returns
 * null when the schema has no test function (no assertions: nothing to report).
 */
export async function runAssertions(sql: Sql, jobId: number, schema: string, scratch: string[]): Promise<{ outcome: AssertionOutcome; check: Check } | null> {
  try {
    if ((await testFunctions(sql, schema)) === 0) return null;
    const tap = await pgtapSchema(sql, jobId);
    const path = [...scratch, tap, "extensions", "public"].map((s) => `"${s.replaceAll('"', '""')}"`).join(", ");
    const lines = await sql.begin(async (tx) => {
      await tx.unsafe(`set local search_path = ${path}`);
      const rows = await tx.unsafe(`select * from "${tap}".runtests($1::name, '^test')`, [schema]);
      const out = rows.map((r) => String(Object.values(r)[0] ?? ""));
      // The tests' writes, if any, go with the transaction.
      throw new Rollback(out);
    }).catch((e) => {
      if (e instanceof Rollback) return e.lines;
      throw e;
    }) as string[];
    const outcome = parseTap(lines);
    return {
      outcome,
      check: outcome.ok
        ? check("assertions", "ok", schema, `${outcome.passed} assertions passed on the restored copy`)
        : check("assertions", "error", schema,
          `${outcome.failed} of ${outcome.passed + outcome.failed} assertions failed on the restored copy${
            outcome.failures.length ? `: ${outcome.failures.slice(0, 3).join("; ")}` : ""}`,
          "The backup restores but does not satisfy your assertions: check what changed (or fix the assertion).",
          { failures: outcome.failures.slice(0, 20) }),
    };
  } catch (err) {
    return {
      outcome: { passed: 0, failed: 1, tests: 0, ok: false, failures: [] },
      check: check("assertions", "error", schema, `the assertions could not run (${describeDbError(err)})`,
        "Enable the pgtap extension (Database → Extensions) and check the test functions run with runtests()."),
    };
  }
}

/** Carries the TAP lines out of a transaction that must roll back. */
class Rollback extends Error {
  constructor(readonly lines: string[]) {
    super("rollback");
  }
}

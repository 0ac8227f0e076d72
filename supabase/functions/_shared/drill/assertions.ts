/**
 * The user's assertions in an in-project drill: pgTAP test functions (`test_*`, returning
 * `setof text`) in the schema drill.assertions_schema names, run with pgTAP's `runtests()`
 * against the restored copy: the search path puts the drill's scratch schemas first (the
 * copies of `public`'s tables before the others), so unqualified table names in the tests
 * resolve to the restored tables, not to production's. Everything runs in one transaction
 * that is rolled back. pgTAP must be enabled in the project (Database → Extensions): the drill
 * installs nothing outside its scratch schemas (Supabase pins pgTAP's schema to `extensions`,
 * so an install by the drill would stay in production).
 * @module
 */
import { describeDbError, type Sql } from "../db/mod.ts";
import { type Check, check } from "../checks.ts";

/** The assertions' outcome. */
export interface AssertionOutcome {
  passed: number;
  failed: number;
  tests: number;
  ok: boolean;
  failures: string[];
}

/**
 * Parses runtests()'s TAP: each test function is a subtest whose assertions are indented, then
 * one unindented line per test function (`not ok` also when it raised an error mid-way).
 */
export function parseTap(lines: string[]): AssertionOutcome {
  const inner = lines.filter((l) => /^\s+(ok|not ok) \d+/.test(l));
  const outer = lines.filter((l) => /^(ok|not ok) \d+/.test(l));
  const passed = inner.filter((l) => /^\s+ok /.test(l)).length;
  const failures = inner.filter((l) => /^\s+not ok /.test(l)).map((l) => l.trim());
  // A test function that died (raised an error) fails without a failed assertion of its own.
  for (const l of outer) if (l.startsWith("not ok") && failures.length === 0) failures.push(l.trim());
  const failed = failures.length;
  return { passed, failed, tests: outer.length, ok: failed === 0 && passed > 0, failures };
}

/** Whether the assertions schema has test functions. */
async function testFunctions(sql: Sql, schema: string): Promise<number> {
  const [r] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = ${schema} and p.proname ~ '^test'`;
  return r.n;
}

/** The schema pgTAP is installed in, or null. */
async function pgtapSchema(sql: Sql): Promise<string | null> {
  const [r] = await sql<{ schema: string | null }[]>`
    select n.nspname::text as schema from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pgtap'`;
  return r?.schema ?? null;
}

/**
 * Runs the assertions of `schema` against the scratch schemas (in search-path order). Returns
 * null when the schema has no test function (no assertions: nothing to report).
 */
export async function runAssertions(sql: Sql, schema: string, scratch: string[]): Promise<{ outcome: AssertionOutcome; check: Check } | null> {
  const failed = (detail: string, remediation: string) => ({
    outcome: { passed: 0, failed: 1, tests: 0, ok: false, failures: [] },
    check: check("assertions", "error", schema, detail, remediation),
  });
  try {
    if ((await testFunctions(sql, schema)) === 0) return null;
    const tap = await pgtapSchema(sql);
    if (!tap) {
      return failed(`${schema} holds test functions, but pgTAP is not enabled in this project`,
        "Enable the pgtap extension (Database → Extensions, or: create extension pgtap with schema extensions;).");
    }
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
    const message = (err as { message?: string }).message;
    const code = (err as { code?: string }).code;
    // A test function's own error (a typo, a missing column) is the user's to fix, and names no secret.
    return failed(`the assertions could not run (${code && /^[0-9A-Z]{5}$/.test(code) && message ? message : describeDbError(err)})`,
      "Run select * from runtests('" + schema + "'::name, '^test') with the scratch search path by hand, or check the test functions.");
  }
}

/** Carries the TAP lines out of a transaction that must roll back. */
class Rollback extends Error {
  constructor(readonly lines: string[]) {
    super("rollback");
  }
}

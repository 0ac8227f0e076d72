/**
 * Restore phases "roles", "pre-data", "post-data" and "finalize": the schema scripts'
 * planned statements, written to the target. Roles are created only when missing; pre-data
 * (after the --clean drops) and post-data each run in one transaction.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Check } from "../checks.ts";
import { classifyAll, type PlannedStatement } from "./ddl.ts";
import { type QName, quoteIdent } from "./names.ts";
import { splitSql } from "./sql_split.ts";
import { dropExisting, runStatements } from "./statements.ts";

/** Creates the roles of roles.sql that the target lacks (an existing role is left as it is). */
export async function restoreRoles(target: Sql, roles: string, checks: Check[]): Promise<void> {
  if (!roles.trim()) return;
  await runStatements(
    target,
    classifyAll(splitSql(roles)).map((s) => ({
      sql: s.text,
      kind: s.kind,
      tolerateExisting: true,
      label: `role: ${s.text.slice(0, 60)}`,
    })),
    "roles",
    checks,
    false,
  );
}

/**
 * In one transaction: drops the existing relations about to be restored (`clean`), creates
 * `intoSchema`, and runs the planned pre-data.
 */
export async function restorePreData(
  target: Sql,
  plan: PlannedStatement[],
  opts: { clean: boolean; existing: (QName & { relkind: string })[]; intoSchema?: string },
  checks: Check[],
): Promise<void> {
  await target.begin(async (tx) => {
    if (opts.clean && opts.existing.length > 0) await dropExisting(tx as unknown as Sql, opts.existing);
    if (opts.intoSchema) await tx.unsafe(`create schema if not exists ${quoteIdent(opts.intoSchema)}`);
    await runStatements(tx as unknown as Sql, plan, "pre-data", checks, true);
  });
}

/** Runs the post-data that spans tables, in the script's order, in one transaction. */
export async function restorePostData(target: Sql, plan: PlannedStatement[], checks: Check[]): Promise<void> {
  await target.begin(async (tx) => {
    await runStatements(tx as unknown as Sql, plan, "post-data", checks, true);
  });
}

/** Runs what is left of finalize.sql (sequence values, materialized view refreshes). */
export async function restoreFinalize(target: Sql, plan: PlannedStatement[], checks: Check[]): Promise<void> {
  await runStatements(target, plan, "finalize", checks, false);
}

/**
 * Running a restore's planned statements: one by one, create-if-missing and optional ones
 * failing softly (a warning check) and anything else stopping the restore (an error check).
 * @module
 */
import { isConnectionError, reserveWatched, type Sql } from "../db/mod.ts";
import { type Check, check } from "../checks.ts";
import { RestoreAbort } from "./abort.ts";
import type { PlannedStatement } from "./ddl.ts";
import { type QName, qualified } from "./names.ts";

/** Runs planned statements one by one; savepoints let create-if-missing and optional ones fail softly. */
export async function runStatements(sql: Sql, plan: PlannedStatement[], section: string, checks: Check[], inTx: boolean): Promise<void> {
  for (const p of plan) {
    const soft = p.tolerateExisting || p.optional;
    try {
      // postgres.js fails a whole transaction on any error it saw, even a caught one, unless the
      // statement ran inside its own savepoint() helper.
      if (soft && inTx) {
        await (sql as unknown as { savepoint: (f: (sp: Sql) => Promise<unknown>) => Promise<unknown> }).savepoint((sp) =>
          sp.unsafe(p.sql)
        );
      } else await sql.unsafe(p.sql);
    } catch (err) {
      // The connection is gone: the next statement on it would never settle (driver_guard.ts).
      if (isConnectionError(err)) throw err;
      const e = err as { code?: string; message?: string };
      const exists = ["42710", "42P07", "42723", "42P06", "42P04", "42P16", "42704"].includes(e.code ?? "") &&
        /already exists/i.test(e.message ?? "");
      if (p.tolerateExisting && exists) continue;
      if (p.tolerateExisting && !inTx) {
        // Outside a transaction (the roles phase) the restore goes on, but never silently.
        checks.push(check(section, "warn", p.label.slice(0, 120), `not applied: ${e.message ?? String(err)}${e.code ? ` (SQLSTATE ${e.code})` : ""}`,
          "Apply it by hand on the target (as a role allowed to), or check that the role exists as the backup expects."));
        continue;
      }
      if (p.optional) {
        checks.push(
          check(
            "skipped_statement",
            "warn",
            p.optional,
            `not created: ${e.message ?? "failed"}`,
            p.kind === "fk"
              ? "Rows reference parents that are missing in the target: compare them by hand."
              : "Create it by hand once what it needs exists on the target.",
          ),
        );
        continue;
      }
      checks.push(
        check(
          section,
          "error",
          p.label.slice(0, 120),
          `failed: ${e.message ?? String(err)}${e.code ? ` (SQLSTATE ${e.code})` : ""}`,
          "Fix the cause (a missing role, extension or schema is the usual one), then restore again with --clean.",
        ),
      );
      throw new RestoreAbort(`${section} failed`);
    }
  }
}

/** Drops exactly the existing objects that are about to be restored (--clean). */
export async function dropExisting(tx: Sql, existing: (QName & { relkind: string })[]): Promise<void> {
  const list = (kinds: string[]) => existing.filter((e) => kinds.includes(e.relkind)).map((e) => qualified(e)).join(", ");
  // Pre-flight made sure CASCADE reaches nothing outside the restore but functions and types,
  // which the schema scripts recreate. Views first, then tables (one statement, so FKs among
  // them are no obstacle), then sequences.
  const mv = list(["m"]), v = list(["v"]), t = list(["r", "p", "f"]), s = list(["S"]);
  if (mv) await tx.unsafe(`drop materialized view if exists ${mv} cascade`);
  if (v) await tx.unsafe(`drop view if exists ${v} cascade`);
  if (t) await tx.unsafe(`drop table if exists ${t} cascade`);
  if (s) await tx.unsafe(`drop sequence if exists ${s} cascade`);
}

/** Runs statements of one table (index builds, or its ANALYZE) on a connection of its own. */
export async function runBuilds(sql: Sql, plan: PlannedStatement[], checks: Check[]): Promise<void> {
  const w = await reserveWatched(sql, "set maintenance_work_mem = '256MB'");
  try {
    // Guarded: a statement sent after the target went away would never settle (db/reserve.ts).
    await w.guard(runStatements(w.sql, plan, "post-data", checks, false));
  } finally {
    w.release();
  }
}


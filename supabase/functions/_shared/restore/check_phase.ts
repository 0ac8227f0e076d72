/**
 * Restore phase "check": no invalid index in the restored schemas, and every restored
 * table's fingerprint equal to the manifest's.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { TableEntry } from "../format/mod.ts";
import { type Check, check } from "../checks.ts";
import type { FingerprintState } from "./data_phase.ts";
import { display, type QName } from "./names.ts";
import { sameFingerprint } from "./fingerprint.ts";

/** One restored table's outcome. */
export interface TableResult {
  source: string;
  target: string;
  rows: number;
  fingerprint: "match" | "mismatch" | "unavailable";
}

/** Invalid indexes in the restored schemas are an error (a failed build leaves one behind). */
export async function checkInvalidIndexes(sql: Sql, schemas: string[], checks: Check[]): Promise<void> {
  const bad = await sql<{ name: string }[]>`
    select n.nspname || '.' || c.relname as name from pg_catalog.pg_index i
    join pg_catalog.pg_class c on c.oid = i.indexrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where not i.indisvalid and n.nspname = any(${schemas}::text[])`;
  checks.push(
    bad.length
      ? check(
        "invalid_indexes",
        "error",
        bad[0].name,
        `${bad.length} invalid indexes after the restore: ${bad.map((b) => b.name).join(", ")}`,
        "reindex index <name>; then check the data for duplicates the unique index rejected.",
      )
      : check("invalid_indexes", "ok", "target", "no invalid index in the restored schemas"),
  );
}

/** Compares each restored table's fingerprint with the manifest's. */
export function reportFingerprints(
  restored: TableEntry[],
  mapTarget: (q: QName) => QName,
  got: Map<TableEntry, unknown>,
  state: FingerprintState,
  out: TableResult[],
  checks: Check[],
): void {
  if (state.error !== null) {
    checks.push(
      check(
        "fingerprints",
        "error",
        "target",
        `fingerprints cannot be computed: ${state.error}`,
        "Install Lifeboat's migrations next to the CLI, or in the target.",
      ),
    );
    return;
  }
  let mismatches = 0, unavailable = 0;
  for (const t of restored) {
    const target = mapTarget(t);
    if (t.fingerprint === null || t.fingerprint === undefined) {
      unavailable++;
      out.push({ source: display(t), target: display(target), rows: t.rows, fingerprint: "unavailable" });
      continue;
    }
    const actual = got.get(t);
    const same = sameFingerprint(t.fingerprint, actual);
    if (!same) {
      mismatches++;
      checks.push(
        check(
          "fingerprint",
          "error",
          display(target),
          "the restored rows differ from the backup's fingerprint",
          "Compare the table with the source; restore again, and report the backup if it repeats.",
          { expected: t.fingerprint as never, actual: actual as never },
        ),
      );
    }
    out.push({ source: display(t), target: display(target), rows: t.rows, fingerprint: same ? "match" : "mismatch" });
  }
  if (mismatches === 0) {
    checks.push(
      check(
        "fingerprints",
        unavailable > 0 ? "warn" : "ok",
        "target",
        `${
          restored.length - unavailable
        } of ${restored.length} restored tables match the backup's fingerprints (${state.mode || "installed"} fingerprint function)`,
        unavailable > 0 ? `${unavailable} tables have no fingerprint in the manifest: take backups with fingerprints on.` : "",
        { tables: restored.length, unavailable },
      ),
    );
  }
}

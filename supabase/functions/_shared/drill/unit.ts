/**
 * One unit of a drill: its tables restored by the restore engine into the unit's scratch
 * schema (`intoSchema`, writing nothing outside it), their fingerprints compared with the
 * manifest. A unit tried before (an invocation killed mid-way) starts from an empty schema.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Store } from "../store/mod.ts";
import type { ManifestTrust } from "../verify/mod.ts";
import { findings } from "../checks.ts";
import { restoreBackup } from "../restore/mod.ts";
import type { DrillUnit, UnitResult } from "./repo.ts";
import { dropScratch } from "./scratch.ts";

/** What a unit's restore needs. */
export interface UnitContext {
  store: Store;
  backupId: string;
  identities: string[];
  trust: ManifestTrust;
  /** The bounded connection (scratch.ts). */
  target: Sql;
  signal?: AbortSignal;
}

/** Restores one unit and reports its tables' fingerprints. */
export async function restoreUnit(c: UnitContext, u: DrillUnit): Promise<UnitResult> {
  const t0 = performance.now();
  await dropScratch(c.target, u.scratch_schema);
  const r = await restoreBackup({
    store: c.store, id: c.backupId, identities: c.identities, trust: c.trust, target: c.target,
    tables: u.tables, intoSchema: u.scratch_schema, scratchOnly: true, platformLikeTarget: true, jobs: 1, signal: c.signal,
  });
  return {
    passed: r.passed && r.tables.every((t) => t.fingerprint === "match"),
    tables: r.tables.map((t) => ({ source: t.source, rows: t.rows, fingerprint: t.fingerprint })),
    rows: r.rows,
    bytes: r.bytes,
    ms: Math.round(performance.now() - t0),
    // Restoring into the source database is what an in-project drill does: not a finding.
    findings: findings(r.checks).filter((c) => c.check !== "own_source"),
  };
}

/**
 * Provenance against the project's own records: the backup should be one the project
 * recorded in `lifeboat.backup_runs`, and its manifest the one the run stored (same sha256).
 * A backup the project never recorded is flagged (it may come from another project, or be
 * planted); a manifest that differs from the recorded one fails.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Manifest } from "../format/mod.ts";
import { type Check, check } from "../checks.ts";

/** Compares the manifest with the source's record of the run that wrote it. */
export async function checkRecorded(sql: Sql, m: Manifest, manifestSha256: string): Promise<Check[]> {
  const rows = await sql<{ id: number; state: string; manifest_sha256: string | null }[]>`
    select b.id, b.state, b.manifest_sha256 from lifeboat.backup_runs b
    where b.metadata ->> 'backup_id' = ${m.id}
       or b.manifest_key = ${`${m.id}/manifest.json`} or b.manifest_key like ${`%/${m.id}/manifest.json`}
    order by b.id desc limit 1`;
  const run = rows[0];
  if (!run) {
    return [check("backup_recorded", "warn", m.id,
      "the source never recorded this backup in lifeboat.backup_runs: it was written by another project, or planted in the store",
      "Make sure you know where this backup comes from before restoring it.")];
  }
  if (run.manifest_sha256 && run.manifest_sha256 !== manifestSha256) {
    return [check("backup_recorded", "error", m.id,
      `the manifest in the store (sha256 ${manifestSha256.slice(0, 12)}…) is not the one backup run ${run.id} stored (${run.manifest_sha256.slice(0, 12)}…)`,
      "The manifest was replaced after the backup: do not restore it; use another backup.")];
  }
  return [check("backup_recorded", "ok", m.id, run.manifest_sha256
    ? `recorded as backup run ${run.id} (${run.state}), with this manifest's sha256`
    : `recorded as backup run ${run.id} (${run.state}); the run predates manifest checksums`)];
}

/**
 * Restore in phases (open, plan, verify objects, pre-flight, schema, data, checks), the platform
 * stand-in for scratch databases, pg_dump archives, and drills.
 * Code outside this folder imports only this module.
 * @module
 */
export { RestoreAbort } from "./abort.ts";
export { checkInvalidIndexes } from "./check_phase.ts";
export { parseCopyHeader, splitPart, verifyingStream } from "./copy_part.ts";
export { classify } from "./ddl.ts";
export type { PlannedStatement } from "./ddl.ts";
export { runDrill } from "./drill.ts";
export { restoreBackup } from "./engine.ts";
export type { RestoreEvent, RestoreReport } from "./engine.ts";
export { fingerprintAlgorithm, Fingerprinter, temporaryFingerprintSql } from "./fingerprint.ts";
export { planLoadUnits } from "./load.ts";
export type { LoadUnit, PartTask } from "./load.ts";
export { parseUserTable, rewriteSchema } from "./names.ts";
export type { QName } from "./names.ts";
export { isPgDumpArchive, restorePgDump } from "./pgdump.ts";
export { planWork } from "./pipeline.ts";
export type { PlannedWrites } from "./planned_writes.ts";
export { applyPlatformStandIn } from "./platform_standin.ts";
export { isBackupSource } from "./preflight.ts";
export { runPreflight } from "./preflight_phase.ts";
export { runScheduled } from "./schedule.ts";
export type { WorkItem } from "./schedule.ts";
export { restorePreData, restoreRoles } from "./schema_phases.ts";
export { readScripts } from "./scripts.ts";
export { chooseTables, planRestore } from "./selection_plan.ts";
export { splitSql } from "./sql_split.ts";

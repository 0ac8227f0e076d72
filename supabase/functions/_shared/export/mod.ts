/**
 * The Lifeboat export engine: consistent, streaming, encrypted logical backups into a store.
 * One core (catalog, DDL, snapshot and locks, fingerprints, table copy, part writer, schema
 * objects, manifest builder, encryption and codec policy) with two drivers: the one-shot
 * export ({@link exportBackup}, recorded as a run by {@link recordedBackup}; `lifeboat
 * backup`) and the chunked jobs of the `backup-export` edge function (../jobs/).
 * @module
 */
export { DEFAULT_CONCURRENCY, DEFAULT_PART_BYTES, ExportConfigError, exportBackup, poolSizeFor } from "./engine.ts";
export type { ExportedObject, ExportOptions, ExportResult } from "./engine.ts";
export { recordedBackup, RunNotRecordedError, runTarget } from "./recorded_run.ts";
export type { RecordedBackupOptions, RecordedBackupResult } from "./recorded_run.ts";
export { SelectionError } from "./catalog.ts";
export type { SequenceInfo, TableInfo } from "./catalog.ts";
export { copyHeader, copyOutStatement, copyTableToParts } from "./table_copy.ts";
export type { DataPart, KeyRange, PartTarget } from "./table_copy.ts";
export { PartWriter, writeWholeObject } from "./part_writer.ts";
export type { SealConfig, WrittenObject } from "./part_writer.ts";
export type { ExportProgress } from "./progress.ts";
export { parseTableName, tableLabel } from "./selection.ts";
export type { Selection, TableRef } from "./selection.ts";
export { insertRun, RunRecorder, sweepStaleRuns } from "./audit.ts";
export type { NewRun } from "./audit.ts";
export { activeRunFor, TargetBusyError } from "./active_run.ts";
export { buildManifest, type ManifestInput, manifestFromParts, scopeOf } from "./manifest_builder.ts";
export type { ManifestFacts, ManifestHeader, StoredPart } from "./manifest_builder.ts";
export { decideCodec, decideEncryption, decidePolicy, sealOf } from "./policy.ts";
export type { ExportPolicy, PolicyFailure, PolicyProblem } from "./policy.ts";
export { type StoredManifest, storeManifest } from "./store_manifest.ts";
export { countLargeObjects, largeObjectsWarning, noteLargeObjects } from "./large_objects.ts";
export { listSequences, listTables, readServerInfo } from "./catalog.ts";
export { copiedPlatformTables, readSchemaScripts } from "./ddl.ts";
export type { SchemaScripts } from "./ddl.ts";
export type { FilesPhase } from "./engine.ts";
export { readFingerprints } from "./fingerprints.ts";
export { IncompleteTableError } from "./manifest_builder.ts";
export { schemaObjectText, storeSchemaObject } from "./schema_objects.ts";
export { adoptSnapshot, exportSnapshot, type SnapshotVisibility, type StreamPosition } from "./snapshot.ts";
export { assertNotRewritten, lockTables, SnapshotConflictError, type SnapshotConflictKind } from "./locks.ts";
export type { Snapshot } from "./snapshot.ts";

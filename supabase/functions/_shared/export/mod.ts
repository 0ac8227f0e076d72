/**
 * The Lifeboat export engine: consistent, streaming, encrypted logical backups into a store.
 * Used by `lifeboat backup` and the `backup-export` edge function.
 * @module
 */
export { DEFAULT_CONCURRENCY, DEFAULT_PART_BYTES, ExportConfigError, exportBackup, poolSizeFor } from "./engine.ts";
export type { ExportedObject, ExportOptions, ExportResult } from "./engine.ts";
export { SelectionError } from "./catalog.ts";
export type { SequenceInfo, TableInfo } from "./catalog.ts";
export { copyHeader, copyOutStatement, copyTableToParts } from "./table_copy.ts";
export type { DataPart, KeyRange, PartTarget } from "./table_copy.ts";
export { PartWriter, writeWholeObject } from "./part_writer.ts";
export type { SealConfig, WrittenObject } from "./part_writer.ts";
export type { ExportProgress } from "./progress.ts";
export { parseTableName, tableLabel } from "./selection.ts";
export type { Selection, TableRef } from "./selection.ts";
export { RunRecorder } from "./audit.ts";
export { buildManifest, type ManifestInput, scopeOf } from "./manifest_builder.ts";

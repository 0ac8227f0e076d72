/**
 * The schema objects of a backup (roles, pre-data, post-data, finalize): which text each
 * holds and how it is stored. Both drivers store them here, so their keys and contents agree.
 * @module
 */
import { type ObjectKind, schemaKey } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";
import type { SequenceInfo } from "./catalog.ts";
import type { SchemaScripts } from "./ddl.ts";
import { finalizeScript } from "./finalize.ts";
import { type SealConfig, type WrittenObject, writeWholeObject } from "./part_writer.ts";
import type { TableRef } from "./selection.ts";

/** A schema object's kind. */
export type SchemaKind = Exclude<ObjectKind, "data">;

/** What finalize.sql is made of: sequence values, materialized views, the tables to analyze. */
export interface FinalizeFacts {
  sequences: SequenceInfo[];
  matviews: TableRef[];
  tables: TableRef[];
}

/** The text of a schema object; `scripts` is read only for the kinds that need it. */
export async function schemaObjectText(
  kind: SchemaKind,
  scripts: () => SchemaScripts | Promise<SchemaScripts>,
  finalize: FinalizeFacts,
): Promise<string> {
  if (kind === "finalize") return finalizeScript(finalize.sequences, finalize.matviews, finalize.tables);
  const s = await scripts();
  return kind === "roles" ? s.roles : kind === "pre-data" ? s.preData : s.postData;
}

/** A stored schema object: its key relative to the backup prefix, and what was written. */
export interface StoredSchemaObject extends WrittenObject {
  key: string;
}

/** Seals and stores one schema object under `prefix`. */
export async function storeSchemaObject(
  store: Store,
  prefix: string,
  kind: SchemaKind,
  text: string,
  seal: SealConfig,
  signal?: AbortSignal,
): Promise<StoredSchemaObject> {
  const key = schemaKey(kind, seal.recipients.length > 0, seal.compression);
  const w = await writeWholeObject(store, prefix + key, text, seal, signal);
  return { ...w, key };
}

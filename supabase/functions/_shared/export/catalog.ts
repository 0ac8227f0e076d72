/**
 * What the export reads from the catalogs inside its snapshot: server and extensions, the
 * tables and their columns, sequences and their values, and materialized views.
 * @module
 */
import type { Tx } from "../db/mod.ts";
import { qualified } from "./ident.ts";
import { type Selection, type TableRef, tableLabel } from "./selection.ts";

/** A table to export. */
export interface TableInfo extends TableRef {
  oid: number;
  /** Columns COPY reads and writes: not dropped, not generated, in attnum order. */
  columns: string[];
  /** pg_table_size (heap + TOAST), for ordering and the progress estimate. */
  sizeBytes: number;
  /** The planner's row estimate. */
  estimatedRows: number;
}

/** A sequence and its value at the snapshot. */
export interface SequenceInfo extends TableRef {
  lastValue: string | null;
  isCalled: boolean;
}

/** Server facts recorded in the manifest. */
export interface ServerInfo {
  version: string;
  versionNum: number;
  database: string;
  extensions: { name: string; version: string; schema: string }[];
}

/** Thrown when a requested table does not exist or cannot be exported. */
export class SelectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SelectionError";
  }
}

/** Server version, database name and installed extensions. */
export async function readServerInfo(tx: Tx): Promise<ServerInfo> {
  const [s] = await tx`
    select pg_catalog.current_setting('server_version') as version,
           pg_catalog.current_setting('server_version_num')::int as num,
           pg_catalog.current_database() as db`;
  const ext = await tx`
    select e.extname as name, e.extversion as version, n.nspname as schema
    from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
    order by e.extname`;
  return {
    version: String(s.version),
    versionNum: Number(s.num),
    database: String(s.db),
    extensions: ext.map((e) => ({ name: String(e.name), version: String(e.version), schema: String(e.schema) })),
  };
}

function refsJson(refs: TableRef[] | undefined): string {
  return JSON.stringify((refs ?? []).map((r) => ({ schema: r.schema, name: r.name })));
}

/**
 * The tables to export under `selection` (and the platform tables named in `platform`, whose
 * schemas are outside the DDL scope), largest first (so parallel workers finish
 * together). Throws {@link SelectionError} naming any requested table that is missing.
 */
export async function listTables(tx: Tx, selection: Selection, scope: number[], platform: TableRef[] = []): Promise<TableInfo[]> {
  // A mistyped --include-schema would otherwise make a backup of nothing that looks complete.
  for (const schema of selection.includeSchemas ?? []) {
    const [n] = await tx`select 1 as found from pg_catalog.pg_namespace where nspname = ${schema}`;
    if (!n) throw new SelectionError(`schema ${JSON.stringify(schema)} does not exist: check the spelling (names are case-sensitive)`);
  }
  const rows = await tx`
    with wanted as (
      select w.schema, w.name from pg_catalog.jsonb_to_recordset(${refsJson(selection.tables)}::text::jsonb) as w(schema text, name text)
    ), platform as (
      select p.schema, p.name from pg_catalog.jsonb_to_recordset(${refsJson(platform)}::text::jsonb) as p(schema text, name text)
    ), unwanted as (
      select u.schema, u.name from pg_catalog.jsonb_to_recordset(${refsJson(selection.excludeTables)}::text::jsonb) as u(schema text, name text)
    )
    select n.nspname as schema, c.relname as name, c.oid::int8 as oid,
           pg_catalog.pg_table_size(c.oid) as size, greatest(c.reltuples, 0)::int8 as est_rows,
           coalesce((select pg_catalog.array_agg(a.attname::text order by a.attnum)
                     from pg_catalog.pg_attribute a
                     where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''),
                    '{}'::text[]) as columns
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relkind = 'r' and c.relpersistence <> 't'
      and (c.relnamespace = any(${scope}::oid[])
           or exists (select from platform p where p.schema = n.nspname and p.name = c.relname))
      and (not exists (select from wanted) or exists (select from wanted w where w.schema = n.nspname and w.name = c.relname))
      and not exists (select from unwanted u where u.schema = n.nspname and u.name = c.relname)
      -- Tables an extension owns are recreated by CREATE EXTENSION, not restored as data.
      and not exists (select from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
    order by pg_catalog.pg_table_size(c.oid) desc, n.nspname, c.relname`;
  const tables: TableInfo[] = rows.map((r) => ({
    schema: String(r.schema),
    name: String(r.name),
    oid: Number(r.oid),
    columns: (r.columns as string[]) ?? [],
    sizeBytes: Number(r.size),
    estimatedRows: Number(r.est_rows),
  }));
  for (const want of selection.tables ?? []) {
    if (!tables.some((t) => t.schema === want.schema && t.name === want.name)) {
      const [k] = await tx`
        select c.relkind from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${want.schema} and c.relname = ${want.name}`;
      const why = !k
        ? "no such table: check the schema and the spelling (names are case-sensitive)"
        : k.relkind === "p"
        ? "it is a partitioned table: name its partitions, which hold the rows"
        : k.relkind === "r"
        ? "its schema is excluded (a Supabase-managed or --exclude-schema schema) or the table belongs to an extension"
        : "it is not an ordinary table (a view, sequence or foreign table holds no data to back up)";
      throw new SelectionError(`table ${tableLabel(want)} cannot be backed up: ${why}`);
    }
  }
  return tables;
}

/**
 * Sequences to record: every sequence in the exported schemas for a full backup, or those
 * owned by the exported tables for a `tables` backup. Values are read inside the snapshot.
 */
export async function listSequences(
  tx: Tx,
  selection: Selection,
  scope: number[],
  tables: TableInfo[],
): Promise<SequenceInfo[]> {
  const ownedOnly = (selection.tables?.length ?? 0) > 0;
  const rows = await tx`
    select n.nspname as schema, c.relname as name
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    cross join lateral (select exists (
      select from pg_catalog.pg_depend d
      where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i')
        and d.refobjid = any(${tables.map((t) => t.oid)}::oid[])) as yes) owned
    where c.relkind = 'S' and c.relpersistence <> 't'
      and not exists (select from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
      and (
        (c.relnamespace = any(${scope}::oid[]) and (not ${ownedOnly} or owned.yes))
        -- Outside the scope: the sequences of copied platform tables (auth.refresh_tokens_id_seq
        -- with --include-auth-sessions), whose values the restored rows need.
        or (c.relnamespace <> all(${scope}::oid[]) and owned.yes)
      )
    order by n.nspname, c.relname`;
  const out: SequenceInfo[] = [];
  // One statement for all values: sequences can be many, round trips add up.
  for (let i = 0; i < rows.length; i += 200) {
    const slice = rows.slice(i, i + 200);
    const q = slice.map((r, j) =>
      `select ${j} as i, last_value::text as last_value, is_called from ${qualified(String(r.schema), String(r.name))}`
    ).join(" union all ");
    const vals = await tx.unsafe(q);
    for (const v of vals) {
      const r = slice[Number(v.i)];
      out.push({ schema: String(r.schema), name: String(r.name), lastValue: v.last_value as string | null, isCalled: Boolean(v.is_called) });
    }
  }
  return out;
}

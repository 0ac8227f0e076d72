/**
 * The SQL of a row batch, against the target table's own column types: the run's values travel
 * as one text[] parameter per column when each has an exact text, else the records as one jsonb
 * array parameter with each value read as text (`->>`, exact for numerics); either way each
 * value is cast to the column's type, so one statement applies the whole run.
 * @module
 */
import type { RowBatch } from "./batch.ts";

/** A target table's columns as the catalog gives them. */
export interface TableShape {
  schema: string;
  table: string;
  /** Column name → its type (format_type) for every column replay may write or match. */
  types: Map<string, string>;
  /** Generated columns: never written (the target computes them). */
  generated: Set<string>;
}

/** The target and the stream disagree (a column or table replay needs is missing). */
export class ReplayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplayError";
  }
}

/** A double-quoted identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `schema.table`, quoted. */
export function qualifiedName(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}

/** Types without an equality operator: rows of a table without a primary key are matched on the other columns. */
const NO_EQUALITY = new Set(["json", "xml", "point", "box", "line", "lseg", "path", "polygon", "circle"]);

function typeOf(shape: TableShape, column: string, b: RowBatch): string {
  const t = shape.types.get(column);
  if (t === undefined) {
    throw new ReplayError(
      `the stream writes column ${column} of ${b.schema}.${b.table} (committed ${b.commitTime}) but the restored table has no such column; a DDL change was not replayed`,
    );
  }
  return t;
}

/** Where a statement reads its rows from, and how it reads one value (cast to the column's type). */
interface RowSource {
  from: string;
  value: (arr: "columns" | "identity", i: number, type: string) => string;
}

/** The run's records as one jsonb array (`$1`): every value read as its JSON text. */
const JSONB_SOURCE: RowSource = {
  from: `from pg_catalog.jsonb_array_elements($1::text::jsonb) r`,
  value: (arr, i, type) => `(r->'${arr}'->${i}->>'value')::${type}`,
};

/** The run's values as one text[] per column, new image's columns first, then the old key's ({@link batchParams}). */
function arraySource(b: RowBatch): RowSource {
  const n = b.columns.length + b.identity.length;
  const params = Array.from({ length: n }, (_, j) => `pg_catalog.unnest($${j + 1}::text::text[])`).join(", ");
  const names = Array.from({ length: n }, (_, j) => `v${j}`).join(", ");
  return {
    from: `from rows from (${params}) as r(${names})`,
    value: (arr, i, type) => `r.v${arr === "columns" ? i : b.columns.length + i}::${type}`,
  };
}

/** The key columns a batch matches rows on, with their positions in the identity image. */
function keyColumns(b: RowBatch, shape: TableShape): { name: string; index: number; type: string }[] {
  const all = b.identity.map((name, index) => ({ name, index, type: typeOf(shape, name, b) }));
  if (b.pk.length > 0 && b.pk.every((n) => b.identity.includes(n))) return all.filter((c) => b.pk.includes(c.name));
  return all.filter((c) => !NO_EQUALITY.has(c.type));
}

/**
 * The statement applying a row batch and its parameters: when every value of the run has an
 * exact text (`b.values`), one text[] per column (`unnest`: Postgres parses no JSON); otherwise
 * `$1` is the jsonb array of its records.
 */
export function batchStatement(b: RowBatch, shape: TableShape): { text: string; params: string[] } {
  return b.values === null
    ? { text: rowStatement(b, shape, JSONB_SOURCE), params: [`[${b.lines.join(",")}]`] }
    : { text: rowStatement(b, shape, arraySource(b)), params: batchParams(b.values, b.columns.length + b.identity.length) };
}

/** A Postgres array literal of texts (null: NULL). */
function textArray(items: (string | null)[]): string {
  return `{${items.map((v) => (v === null ? "NULL" : `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`)).join(",")}}`;
}

/** One text[] literal per column of rows of `n` values each. */
function batchParams(rows: (string | null)[][], n: number): string[] {
  return Array.from({ length: n }, (_, j) => textArray(rows.map((r) => r[j])));
}

function rowStatement(b: RowBatch, shape: TableShape, source: RowSource): string {
  const target = qualifiedName(b.schema, b.table);
  const { from, value } = source;
  if (b.action === "I") {
    const cols = b.columns.map((name, i) => ({ name, i })).filter((c) => !shape.generated.has(c.name));
    const list = cols.map((c) => ident(c.name)).join(", ");
    const values = cols.map((c) => value("columns", c.i, typeOf(shape, c.name, b))).join(", ");
    return `insert into ${target} (${list}) overriding system value select ${values} ${from}`;
  }
  const keys = keyColumns(b, shape);
  if (keys.length === 0) {
    throw new ReplayError(`${b.schema}.${b.table} has no column to match rows on (no primary key, no comparable replica identity column)`);
  }
  const eq = b.pk.length > 0 ? "=" : "is not distinct from";
  const match = keys.map((k, j) => `t.${ident(k.name)} ${eq} v.k${j}`).join(" and ");
  const keySelect = keys.map((k, j) => `${value("identity", k.index, k.type)} as k${j}`).join(", ");
  if (b.action === "D") {
    return `delete from ${target} as t using (select ${keySelect} ${from}) v where ${match}`;
  }
  // Key columns are set again only when an update of the run changes them.
  const cols = b.columns.map((name, i) => ({ name, i }))
    .filter((c) => !shape.generated.has(c.name) && (b.keyChanged || !keys.some((k) => k.name === c.name)));
  // Nothing else to set: touch the key itself, so the statement still counts its rows.
  const sets = cols.length === 0
    ? `${ident(keys[0].name)} = t.${ident(keys[0].name)}`
    : cols.map((c, j) => `${ident(c.name)} = v.c${j}`).join(", ");
  const colSelect = cols.map((c, j) => `${value("columns", c.i, typeOf(shape, c.name, b))} as c${j}`).join(", ");
  return `update ${target} as t set ${sets} from (select ${[colSelect, keySelect].filter(Boolean).join(", ")} ${from}) v where ${match}`;
}

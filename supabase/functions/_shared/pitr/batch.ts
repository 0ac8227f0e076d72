/**
 * Groups a window of replayed changes into set-based statements: a table's consecutive changes
 * of the same kind with the same columns become one statement over a jsonb array of their
 * records (a multi-row INSERT, an UPDATE … FROM, a DELETE … USING), so replay costs a statement
 * per run of changes, not a round trip per row. Changes to different tables are grouped per
 * table between DDL and TRUNCATE (replay runs with triggers and foreign-key checks off, so the
 * order across tables does not change the result; within a table it is kept). An update or
 * delete run is cut where a row would be touched twice (a set-based statement applies each
 * row once).
 * @module
 */
import type { RawRecord } from "./records.ts";

/** A run of same-shaped row changes to one table. */
export interface RowBatch {
  kind: "rows";
  action: "I" | "U" | "D";
  schema: string;
  table: string;
  /** Columns of the new image (I, U), in record order. */
  columns: string[];
  /** Columns of the old key (U, D), in record order. */
  identity: string[];
  /** The primary key's columns (empty: the table has none, rows are matched on every identity column). */
  pk: string[];
  /** Commit time of the run's first change (for messages). */
  commitTime: string;
  lines: string[];
  /** Old and new keys in the run (U, D), to cut it before a row is touched twice. */
  keys: Set<string>;
  /** An update of the run changes a key column (else key columns are not set again). */
  keyChanged: boolean;
}

/** A truncate of one or more tables (one wal2json T record each, merged within a transaction). */
export interface TruncateOp {
  kind: "truncate";
  xid: bigint;
  tables: { schema: string; table: string }[];
}

/** A captured DDL command to execute (an insert into `lifeboat.stream_ddl`). */
export interface DdlOp {
  kind: "ddl";
  xid: bigint;
  commitTime: string;
  statement: string;
  searchPath: string | null;
}

/** One step of a window, applied in order. */
export type ReplayOp = RowBatch | TruncateOp | DdlOp;

/** The table DDL commands are captured into (its inserts are executed, not copied). */
export const DDL_TABLE = { schema: "lifeboat", table: "stream_ddl" };

const names = (cols: { name: string }[] | undefined) => (cols ?? []).map((c) => c.name);

/** The values of the named columns of a record's image, as JSON text (for the run's key set). */
function keyOf(cols: unknown[] | undefined): string {
  return JSON.stringify((cols ?? []).map((c) => (c as { value?: unknown }).value ?? null));
}

/** Appends changes to a list of ops, merging into the last one where the rules allow. */
export class OpBuilder {
  readonly ops: ReplayOp[] = [];
  changes = 0;
  /** Each table's latest run since the last DDL or TRUNCATE (the run its next change may join). */
  private latest = new Map<string, RowBatch>();
  constructor(private readonly maxRows: number) {}

  /** Adds one row change (I, U, D) of a table that replay applies. */
  addRow(raw: RawRecord, commitTime: string): void {
    const r = raw.rec;
    const action = r.action as "I" | "U" | "D";
    const columns = action === "D" ? [] : names(r.columns);
    const identity = action === "I" ? [] : names(r.identity);
    const keys = action === "I" ? [] : [keyOf(r.identity), ...(action === "U" ? [newKeyOf(r.columns, identity)] : [])];
    const keyChanged = action === "U" && keys[0] !== keys[1];
    const pk = names(r.pk);
    const tableKey = `${r.schema}\u0000${r.table}`;
    const last = this.latest.get(tableKey);
    this.changes++;
    if (
      last && last.action === action && last.schema === r.schema && last.table === r.table &&
      last.lines.length < this.maxRows && sameNames(last.columns, columns) && sameNames(last.identity, identity) &&
      !keys.some((k) => last.keys.has(k))
    ) {
      last.lines.push(raw.line);
      for (const k of keys) last.keys.add(k);
      last.keyChanged ||= keyChanged;
      return;
    }
    const run: RowBatch = {
      kind: "rows", action, schema: r.schema!, table: r.table!, columns, identity, pk, commitTime, lines: [raw.line],
      keys: new Set(keys), keyChanged,
    };
    this.ops.push(run);
    this.latest.set(tableKey, run);
  }

  /** Adds a truncate, merged with the transaction's previous one (a TRUNCATE of several tables). */
  addTruncate(xid: bigint, schema: string, table: string): void {
    const last = this.ops[this.ops.length - 1];
    this.changes++;
    this.latest.clear();
    if (last?.kind === "truncate" && last.xid === xid) last.tables.push({ schema, table });
    else this.ops.push({ kind: "truncate", xid, tables: [{ schema, table }] });
  }

  /** Adds a DDL command; a statement captured twice in a row (one command per object) runs once. */
  addDdl(op: DdlOp): void {
    this.changes++;
    this.latest.clear();
    const last = this.ops[this.ops.length - 1];
    if (last?.kind === "ddl" && last.xid === op.xid && last.statement === op.statement && last.searchPath === op.searchPath) return;
    this.ops.push(op);
  }
}

/** The key a U record's new image gives the row (its identity columns' new values). */
function newKeyOf(columns: unknown[] | undefined, identity: string[]): string {
  const byName = new Map((columns ?? []).map((c) => [(c as { name: string }).name, (c as { value?: unknown }).value ?? null]));
  return JSON.stringify(identity.map((n) => byName.get(n) ?? null));
}

function sameNames(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Groups a window of replayed changes into set-based statements: a table's consecutive changes
 * of the same kind with the same columns become one statement over their values (one text[]
 * per column) or their records (a jsonb array) (a multi-row INSERT, an UPDATE … FROM, a DELETE … USING), so replay costs a statement
 * per run of changes, not a round trip per row. Changes to different tables are grouped per
 * table between DDL and TRUNCATE (replay runs with triggers and foreign-key checks off, so the
 * order across tables does not change the result). Within a table with a primary key, a change
 * joins the latest run of its kind and shape unless a later run touched the same key: the
 * order of changes to each row is kept, and an insert-update-insert-update workload becomes
 * two statements instead of one per change; an update of a row the run already updates (same
 * columns, key kept) replaces that row's image instead of cutting the run. Tables without a primary key keep their order
 * (a change joins only the table's latest run). A run is cut where a row would be touched
 * twice (a set-based statement applies each row once). `strict()` rebuilds the window without
 * reordering within a table, for the careful retry when a unique constraint other than the
 * key objected to the new order.
 * @module
 */
import { type ColumnRef, exactTexts, type RawRecord } from "./records.ts";

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
  /** The column names of the new image and of the old key, as one string (runs of one shape only). */
  signature: string;
  /** Commit time of the run's first change (for messages). */
  commitTime: string;
  lines: string[];
  /**
   * Per line, the exact texts of its new image's values then its old key's (see
   * `exactTexts`); null once a line has a value without one (the statement then reads the lines).
   */
  values: (string | null)[][] | null;
  /** Old and new keys in the run (U, D), to cut it before a row is touched twice. */
  keys: Set<string>;
  /** An update of the run changes a key column (else key columns are not set again). */
  keyChanged: boolean;
  /** Its index in the builder's ops. */
  pos: number;
  /** Primary key (JSON text) → index in `lines` of an update of that row that kept its key. */
  updated: Map<string, number>;
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
const NONE: ColumnRef[] = [];

/** An image's column names as one string. */
function signature(cols: ColumnRef[]): string {
  let s = "";
  for (let i = 0; i < cols.length; i++) s += i === 0 ? cols[i].name : `\u0001${cols[i].name}`;
  return s;
}

/** The values of `cols` of the named columns `of` (in their order) as JSON text; null when one is absent. */
function pickKey(cols: ColumnRef[], of: ColumnRef[]): string | null {
  const out: unknown[] = new Array(of.length);
  for (let j = 0; j < of.length; j++) {
    const c = cols.find((x) => x.name === of[j].name) as { value?: unknown } | undefined;
    if (c === undefined) return null;
    out[j] = c.value ?? null;
  }
  return JSON.stringify(out);
}

/** The values of the named columns of a record's image, as JSON text (for the run's key set). */
function keyOf(cols: unknown[] | undefined): string {
  return JSON.stringify((cols ?? []).map((c) => (c as { value?: unknown }).value ?? null));
}

/** A record's values as texts, new image first, then old key (null: one has no exact text). */
function rowTexts(r: RawRecord["rec"], action: "I" | "U" | "D"): (string | null)[] | null {
  const cols = action === "D" ? [] : exactTexts(r.columns);
  const ids = action === "I" ? [] : exactTexts(r.identity);
  return cols === null || ids === null ? null : ids.length === 0 ? cols : cols.length === 0 ? ids : [...cols, ...ids];
}

/** A change as it was added, so that the window can be built again in strict order. */
type Entry =
  | { kind: "row"; raw: RawRecord; commitTime: string }
  | { kind: "truncate"; xid: bigint; schema: string; table: string }
  | { kind: "ddl"; op: DdlOp };

/** Appends changes to a list of ops, merging into an earlier one where the rules allow. */
export class OpBuilder {
  readonly ops: ReplayOp[] = [];
  changes = 0;
  /** The changes in the order they were added (for {@link OpBuilder.strict}). */
  private entries: Entry[] = [];
  /** Since the last DDL or TRUNCATE: the latest run per table (strict) or per table, kind and shape. */
  private latest = new Map<string, RowBatch>();
  /** Since the last DDL or TRUNCATE: per table and primary key value, the index in `ops` of the last run touching it. */
  private touched = new Map<string, number>();
  /**
   * @param maxRows rows per set-based statement
   * @param reorder whether a change of a table with a primary key may join an earlier run of
   *   that table (false: only the table's latest run, the order of the source)
   */
  constructor(private readonly maxRows: number, private readonly reorder = true) {}

  /** The same changes built again without reordering within a table. */
  strict(): OpBuilder {
    const b = new OpBuilder(this.maxRows, false);
    for (const e of this.entries) {
      if (e.kind === "row") b.addRow(e.raw, e.commitTime);
      else if (e.kind === "truncate") b.addTruncate(e.xid, e.schema, e.table);
      else b.addDdl(e.op);
    }
    return b;
  }

  /** Adds one row change (I, U, D) of a table that replay applies. */
  addRow(raw: RawRecord, commitTime: string): void {
    const r = raw.rec;
    const action = r.action as "I" | "U" | "D";
    const cols = action === "D" ? NONE : r.columns ?? NONE;
    const ids = action === "I" ? NONE : r.identity ?? NONE;
    const colSig = signature(cols);
    const idSig = signature(ids);
    const pkCols = r.pk ?? NONE;
    // The key values the change touches (old and new key), and, when replay may reorder it,
    // the primary key values (the same when the replica identity is the primary key).
    const oldKey = action === "I" ? null : keyOf(ids);
    let newKey: string | null = null;
    let pkKeys: string[] | null = null;
    if (this.reorder && pkCols.length > 0 && (action === "I" || signature(pkCols) === idSig)) {
      const newPk = action === "D" ? null : pickKey(cols, pkCols);
      if (action === "U") newKey = newPk ?? newKeyOf(r.columns, names(ids));
      pkKeys = action === "D" ? [oldKey!] : newPk === null ? null : action === "I" ? [newPk] : [oldKey!, newPk];
    } else {
      if (action === "U") newKey = newKeyOf(r.columns, names(ids));
      pkKeys = this.reorder ? primaryKeys(r, action, names(pkCols)) : null;
    }
    const keys = oldKey === null ? [] : newKey === null ? [oldKey] : [oldKey, newKey];
    const keyChanged = action === "U" && oldKey !== newKey;
    const tableKey = `${r.schema}\u0000${r.table}`;
    this.entries.push({ kind: "row", raw, commitTime });
    this.changes++;
    const latestKey = pkKeys ? `${tableKey}\u0000${action}\u0000${colSig}\u0000${idSig}` : tableKey;
    const last = this.latest.get(latestKey);
    const pos = last ? last.pos : -1;
    // An update of a row whose last change is an update in this very run, with the same
    // columns and the key kept by both: its image replaces the earlier one (applying both
    // leaves the row as the later alone does), so a hot row costs one line per window.
    if (pkKeys && action === "U" && !keyChanged && last && this.touched.get(`${tableKey}\u0000${pkKeys[0]}`) === pos) {
      const i = last.updated.get(pkKeys[0]);
      if (i !== undefined) {
        last.lines[i] = raw.line;
        if (last.values) {
          const texts = rowTexts(r, action);
          if (texts) last.values[i] = texts;
          else last.values = null;
        }
        return;
      }
    }
    if (
      last && last.action === action && last.lines.length < this.maxRows && last.signature === `${colSig}\u0000${idSig}` &&
      !keys.some((k) => last.keys.has(k)) &&
      (pkKeys === null || pkKeys.every((k) => (this.touched.get(`${tableKey}\u0000${k}`) ?? -1) < pos))
    ) {
      last.lines.push(raw.line);
      if (last.values) {
        const texts = rowTexts(r, action);
        if (texts) last.values.push(texts);
        else last.values = null;
      }
      for (const k of keys) last.keys.add(k);
      last.keyChanged ||= keyChanged;
      for (const k of pkKeys ?? []) this.touched.set(`${tableKey}\u0000${k}`, pos);
      if (pkKeys && action === "U" && !keyChanged) last.updated.set(pkKeys[0], last.lines.length - 1);
      return;
    }
    const run: RowBatch = {
      kind: "rows", action, schema: r.schema!, table: r.table!, columns: names(cols), identity: names(ids), pk: names(pkCols),
      signature: `${colSig}\u0000${idSig}`, commitTime, lines: [raw.line],
      values: ((t) => (t ? [t] : null))(rowTexts(r, action)), keys: new Set(keys), keyChanged, pos: this.ops.length, updated: new Map(),
    };
    if (pkKeys && action === "U" && !keyChanged) run.updated.set(pkKeys[0], 0);
    this.ops.push(run);
    this.latest.set(latestKey, run);
    if (pkKeys === null) {
      // A change replay keeps in order: no earlier run of the table may take later changes.
      for (const k of [...this.latest.keys()]) if (k.startsWith(`${tableKey}\u0000`)) this.latest.delete(k);
      this.latest.set(latestKey, run);
    }
    for (const k of pkKeys ?? []) this.touched.set(`${tableKey}\u0000${k}`, run.pos);
  }

  /** Adds a truncate, merged with the transaction's previous one (a TRUNCATE of several tables). */
  addTruncate(xid: bigint, schema: string, table: string): void {
    const last = this.ops[this.ops.length - 1];
    this.entries.push({ kind: "truncate", xid, schema, table });
    this.changes++;
    this.latest.clear();
    this.touched.clear();
    if (last?.kind === "truncate" && last.xid === xid) last.tables.push({ schema, table });
    else this.ops.push({ kind: "truncate", xid, tables: [{ schema, table }] });
  }

  /** Adds a DDL command; a statement captured twice in a row (one command per object) runs once. */
  addDdl(op: DdlOp): void {
    this.entries.push({ kind: "ddl", op });
    this.changes++;
    this.latest.clear();
    this.touched.clear();
    const last = this.ops[this.ops.length - 1];
    if (last?.kind === "ddl" && last.xid === op.xid && last.statement === op.statement && last.searchPath === op.searchPath) return;
    this.ops.push(op);
  }
}

/**
 * The primary key values (JSON text) a change touches: the new row's (I), the old and the new
 * row's (U), the old row's (D); null when the table has no primary key or an image lacks a key
 * column (such changes are not reordered).
 */
function primaryKeys(r: RawRecord["rec"], action: "I" | "U" | "D", pk: string[]): string[] | null {
  if (pk.length === 0) return null;
  const pick = (cols: unknown[] | undefined) => {
    const byName = new Map((cols ?? []).map((c) => [(c as { name: string }).name, (c as { value?: unknown }).value]));
    if (!pk.every((n) => byName.has(n))) return null;
    return JSON.stringify(pk.map((n) => byName.get(n) ?? null));
  };
  const out = [action === "I" ? pick(r.columns) : pick(r.identity)];
  if (action === "U") out.push(pick(r.columns));
  return out.every((k) => k !== null) ? out as string[] : null;
}

/** The key a U record's new image gives the row (its identity columns' new values). */
function newKeyOf(columns: unknown[] | undefined, identity: string[]): string {
  const byName = new Map((columns ?? []).map((c) => [(c as { name: string }).name, (c as { value?: unknown }).value ?? null]));
  return JSON.stringify(identity.map((n) => byName.get(n) ?? null));
}

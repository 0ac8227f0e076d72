/**
 * Applies a window of replay ops to the target in one transaction, pipelined: every statement
 * is sent without waiting for the one before (postgres.js queues them on the connection), and
 * the window commits once. Triggers and foreign-key checks stay off (`session_replication_role
 * = replica`): the stream already holds everything a trigger did at the source. A window that
 * fails is rolled back and applied again carefully: each op in a savepoint, and a run that hit
 * a unique constraint (rows that swapped values one statement at a time at the source) one row
 * at a time; a DDL command that cannot run stops the restore with its statement.
 * @module
 */
import type { Sql, Tx } from "../db/mod.ts";
import type { DdlOp, ReplayOp, RowBatch, TruncateOp } from "./batch.ts";
import { batchStatement, qualifiedName, ReplayError, type TableShape } from "./statements.ts";

/** The target's table shapes, read on first use and forgotten after DDL. */
export class ShapeCache {
  private shapes = new Map<string, TableShape | null>();

  /** The shape of a table, or null if the target has no such table. */
  async get(tx: Tx, schema: string, table: string): Promise<TableShape | null> {
    const k = `${schema}\u0000${table}`;
    if (this.shapes.has(k)) return this.shapes.get(k)!;
    const rows = await tx`
      select a.attname::text as name, pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
             a.attgenerated <> '' as generated
      from pg_catalog.pg_attribute a
      where a.attrelid = pg_catalog.to_regclass(pg_catalog.format('%I.%I', ${schema}::text, ${table}::text))
        and a.attnum > 0 and not a.attisdropped`;
    const shape = rows.length === 0 ? null : {
      schema,
      table,
      types: new Map(rows.map((r) => [String(r.name), String(r.type)])),
      generated: new Set(rows.filter((r) => r.generated).map((r) => String(r.name))),
    };
    this.shapes.set(k, shape);
    return shape;
  }

  /** The shape of a table already read (undefined: not read yet). */
  cached(schema: string, table: string): TableShape | null | undefined {
    return this.shapes.get(`${schema}\u0000${table}`);
  }

  /** After DDL: every shape is read again. */
  clear(): void {
    this.shapes.clear();
  }
}

/** Counters of what was applied. */
export interface ApplyCounters {
  statements: number;
  rows: number;
  ddl: number;
  truncates: number;
  /** Windows applied again carefully after a failure. */
  carefulWindows: number;
}

const pgCode = (err: unknown) => (err as { code?: string })?.code;

function diverged(b: RowBatch, matched: number, expected: number): ReplayError {
  const what = b.action === "U" ? "update" : "delete";
  return new ReplayError(
    `replay diverged from the source: an ${what} of ${b.schema}.${b.table} (committed ${b.commitTime}) matched ${matched} of ${expected} rows; the backup and the stream do not fit together (a change outside the stream, or a table without a primary key holding duplicate rows)`,
  );
}

/** Checks an update or delete matched exactly its rows (tables without a primary key may match more). */
function checkCount(b: RowBatch, count: number): void {
  if (b.action === "I") return;
  const expected = b.lines.length;
  if (b.pk.length > 0 ? count !== expected : count < expected) throw diverged(b, count, expected);
}

function truncateSql(op: TruncateOp): string {
  return `truncate only ${op.tables.map((t) => qualifiedName(t.schema, t.table)).join(", ")}`;
}

function ddlError(op: DdlOp, err: unknown): ReplayError {
  const reason = (err as Error)?.message ?? String(err);
  return new ReplayError(
    `cannot replay a DDL command committed ${op.commitTime} (xid ${op.xid}): ${reason}\n  statement: ${op.statement}\nRestore to a moment before it, or apply the statement by hand in a restore up to just before it and continue from there`,
  );
}

/**
 * Reads the shape of the table a row op changes if it is not known yet (the only wait before
 * sending it); null when there is nothing to wait for.
 */
function ready(tx: Tx, op: ReplayOp, shapes: ShapeCache): Promise<unknown> | null {
  return op.kind === "rows" && shapes.cached(op.schema, op.table) === undefined ? shapes.get(tx, op.schema, op.table) : null;
}

/**
 * Sends one op on `tx` without waiting (after {@link ready}); returns the promises to settle
 * (in op order). Synchronous, so that a window's statements are queued on the connection in one
 * go, not one per turn of the event loop while the next window is being read.
 */
function sendOp(tx: Tx, op: ReplayOp, shapes: ShapeCache, c: ApplyCounters): Promise<unknown>[] {
  if (op.kind === "ddl") {
    shapes.clear();
    c.ddl++;
    c.statements += 3;
    return [
      tx`select pg_catalog.set_config('search_path', ${op.searchPath ?? ""}, true)`,
      tx.unsafe(op.statement).catch((err) => Promise.reject(ddlError(op, err))),
      tx`select pg_catalog.set_config('search_path', '', true)`,
    ];
  }
  if (op.kind === "truncate") {
    c.truncates++;
    c.statements++;
    return [tx.unsafe(truncateSql(op))];
  }
  const shape = shapes.cached(op.schema, op.table);
  if (!shape) {
    throw new ReplayError(
      `the stream changes ${op.schema}.${op.table} (committed ${op.commitTime}) but the restored database has no such table; a DDL change was not replayed`,
    );
  }
  c.statements++;
  c.rows += op.lines.length;
  const { text, params } = batchStatement(op, shape);
  return [tx.unsafe(text, params).then((r) => checkCount(op, r.count))];
}

/** Applies ops pipelined; rejects with the first failure in op order. */
async function applyFast(tx: Tx, ops: readonly ReplayOp[], shapes: ShapeCache, c: ApplyCounters): Promise<void> {
  const pending: Promise<unknown>[] = [];
  let sendError: unknown = null;
  for (const op of ops) {
    try {
      const wait = ready(tx, op, shapes);
      if (wait) await wait;
      for (const p of sendOp(tx, op, shapes, c)) {
        // Handled below (allSettled); until then a failure must not count as unhandled.
        p.catch(() => {});
        pending.push(p);
      }
    } catch (err) {
      sendError = err;
      break;
    }
  }
  const settled = await Promise.allSettled(pending);
  const failed = settled.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
  if (sendError) throw sendError;
}

/** Applies ops one at a time, each in a savepoint; a run that hit a unique constraint goes row by row. */
async function applyCareful(tx: Tx, ops: readonly ReplayOp[], shapes: ShapeCache, c: ApplyCounters): Promise<void> {
  for (const op of ops) {
    try {
      await tx.savepoint(async (sp) => {
        await ready(sp as unknown as Tx, op, shapes);
        await Promise.all(sendOp(sp as unknown as Tx, op, shapes, c));
      });
    } catch (err) {
      if (op.kind !== "rows" || op.lines.length === 1 || pgCode(err) !== "23505") throw err;
      for (let i = 0; i < op.lines.length; i++) {
        const single: RowBatch = { ...op, lines: [op.lines[i]], values: op.values && [op.values[i]] };
        await ready(tx, single, shapes);
        await Promise.all(sendOp(tx, single, shapes, c));
      }
    }
  }
}

/** Settings of every replay transaction: no triggers, no timeouts. */
async function prepare(tx: Tx): Promise<void> {
  // A SET statement, not set_config(): supautils lets `postgres` set this one only that way.
  await tx.unsafe("set local session_replication_role = replica");
  await tx`select pg_catalog.set_config('statement_timeout', '0', true),
                  pg_catalog.set_config('search_path', '', true)`;
}

/**
 * Applies one window in one target transaction (fast, then carefully if that failed). The
 * careful retry applies `strictOps()` when given: the window in the source's order within each
 * table, in case the grouped order is what a unique constraint objected to.
 */
export async function applyWindow(
  sql: Sql,
  ops: readonly ReplayOp[],
  shapes: ShapeCache,
  c: ApplyCounters,
  strictOps?: () => readonly ReplayOp[],
): Promise<void> {
  if (ops.length === 0) return;
  try {
    await sql.begin(async (tx) => {
      await prepare(tx);
      await applyFast(tx, ops, shapes, c);
    });
    return;
  } catch (err) {
    if (pgCode(err) !== "23505") throw err instanceof ReplayError ? err : new ReplayError(describeApplyError(err));
  }
  shapes.clear();
  c.carefulWindows++;
  try {
    await sql.begin(async (tx) => {
      await prepare(tx);
      await applyCareful(tx, strictOps ? strictOps() : ops, shapes, c);
    });
  } catch (err) {
    throw err instanceof ReplayError ? err : new ReplayError(describeApplyError(err));
  }
}

/** A database error while applying, with its SQLSTATE and message (the target is the user's own database). */
function describeApplyError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return `replay failed${e?.code ? ` (SQLSTATE ${e.code})` : ""}: ${e?.message ?? String(err)}`;
}

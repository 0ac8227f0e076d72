/**
 * Replays the selected transactions of the change stream into a restored database: changes
 * are gathered into windows (whole transactions, up to `windowChanges` changes; a bigger
 * transaction spans several windows), each applied as set-based statements in one target
 * transaction (apply.ts). Inserts into `lifeboat.stream_ddl` are executed as the DDL they
 * captured, in commit order; changes to tables the backup does not restore are left out.
 * Windows are applied one after another; the next is read while the previous one applies.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { applyWindow, type ApplyCounters, ShapeCache } from "./apply.ts";
import { DDL_TABLE, OpBuilder } from "./batch.ts";
import type { RawRecord } from "./records.ts";
import { type SelectedEvent, type TxnHeader } from "./select.ts";
import { ReplayError } from "./statements.ts";

/** How replay runs. */
export interface ReplayOptions {
  /** The restored database. */
  sql: Sql;
  /** Whether changes to a table are replayed (false: the backup does not restore that table). */
  applies: (schema: string, table: string) => boolean;
  /** Whether a captured DDL command is replayed, from the schemas of the objects it touched (null: none named). */
  ddlApplies?: (schemas: string[] | null) => boolean;
  /** Changes per target transaction (default 20 000). */
  windowChanges?: number;
  /** Rows per set-based statement (default 2 000). */
  batchRows?: number;
  /** Called after each window commits. */
  onWindow?: (p: { transactions: number; changes: number; last: TxnHeader }) => void;
}

/** What a replay applied. */
export interface ReplayResult extends ApplyCounters {
  transactions: number;
  changes: number;
}

/** The text value of a named column of a record's new image (DDL rows). */
function columnText(raw: RawRecord, name: string): string | null {
  const c = (raw.rec.columns as { name: string; value?: unknown }[] | undefined)?.find((x) => x.name === name);
  if (!c || c.value === null || c.value === undefined) return null;
  return String(c.value);
}

/**
 * The schemas of a DDL row's `object_identity` (object identities as Postgres prints them,
 * `schema.name` with quotes where needed, joined by ", "); null when it names none.
 */
export function schemasOf(identity: string | null): string[] | null {
  if (!identity) return null;
  const out: string[] = [];
  for (const m of identity.matchAll(/(?:^|, )("(?:[^"]|"")+"|[^.", ]+)\./g)) {
    out.push(m[1].startsWith('"') ? m[1].slice(1, -1).replaceAll('""', '"') : m[1]);
  }
  return out.length ? out : null;
}

/** Replays the event batches of {@link selectTransactions} into `opts.sql`. */
export async function replayInto(batches: AsyncIterable<SelectedEvent[]>, opts: ReplayOptions): Promise<ReplayResult> {
  const windowChanges = opts.windowChanges ?? 20_000;
  const batchRows = opts.batchRows ?? 2_000;
  const shapes = new ShapeCache();
  const c: ReplayResult = { statements: 0, rows: 0, ddl: 0, truncates: 0, carefulWindows: 0, transactions: 0, changes: 0 };
  let builder = new OpBuilder(batchRows);
  let current: TxnHeader | null = null;
  let lastCommitted: TxnHeader | null = null;

  // The window being applied while the next one is read and grouped (at most two in memory):
  // reading and decrypting segments in JavaScript overlaps the target's work.
  let applying = null as Promise<void> | null;
  const flush = async () => {
    const b = builder;
    const done = { transactions: c.transactions, changes: c.changes, last: lastCommitted };
    builder = new OpBuilder(batchRows);
    if (applying) await applying;
    applying = (async () => {
      if (b.ops.length > 0) await applyWindow(opts.sql, b.ops, shapes, c, () => b.strict().ops);
      if (done.last) opts.onWindow?.({ transactions: done.transactions, changes: done.changes, last: done.last });
    })();
    // Settled below or at the next flush; until then a failure must not count as unhandled.
    applying.catch(() => {});
  };

  try {
    for await (const events of batches) for (const ev of events) {
      if (ev.type === "begin") {
        current = ev.txn;
        continue;
      }
      if (ev.type === "commit") {
        c.transactions++;
        lastCommitted = ev.txn;
        if (builder.changes >= windowChanges) await flush();
        continue;
      }
      const raw = ev.raw;
      const r = raw.rec;
      if (!current) throw new ReplayError("a change outside a transaction in the stream (the slot must use include-transaction)");
      if (r.schema === DDL_TABLE.schema && r.table === DDL_TABLE.table) {
        if (r.action !== "I") continue;
        const statement = columnText(raw, "statement");
        if (statement === null) continue;
        if (opts.ddlApplies && !opts.ddlApplies(schemasOf(columnText(raw, "object_identity")))) continue;
        builder.addDdl({
          kind: "ddl", xid: current.xid, commitTime: current.commitTime, statement, searchPath: columnText(raw, "search_path"),
        });
        c.changes++;
        continue;
      }
      if (!r.schema || !r.table || !opts.applies(r.schema, r.table)) continue;
      c.changes++;
      if (r.action === "T") builder.addTruncate(current.xid, r.schema, r.table);
      else builder.addRow(raw, current.commitTime);
      // A transaction bigger than a window is applied in several (memory stays bounded).
      if (builder.changes >= windowChanges * 2) await flush();
    }
    await flush();
  } catch (err) {
    // Reading failed while a window applied: let it finish before the caller closes the target.
    await applying?.catch(() => {});
    throw err;
  }
  await applying;
  return c;
}

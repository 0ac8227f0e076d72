/**
 * The shipper: one engine for the `backup-stream` function and `lifeboat stream run`.
 *
 * One pass ({@link shipOnce}): claim the stream (single-flight lease, `lifeboat.stream_claim`),
 * peek the slot from the stored position through a cursor (`pg_logical_slot_peek_changes …
 * with ordinality`, skipping the `pending_records` already stored), write the rows into
 * segments (cut at `segmentBytes` of plaintext, so a million-row transaction spans several and
 * memory stays bounded), and after each segment is durably stored record it
 * (`lifeboat.stream_record_segment`: the new position is the last commit stored plus the rows of
 * the open transaction already stored); once the cursor is closed, advance the slot to that
 * position (`lifeboat.stream_advance`). Transactions with no change the stream keeps (Lifeboat's
 * own bookkeeping, cron runs) are not written, only passed.
 *
 * Crash safety: nothing durable is claimed before a segment's manifest is stored; the slot is
 * advanced only to what `stream_state` records, and never past a stored commit. A crash before
 * the record rewrites the same seq from the same position on the next pass; one between the
 * record and the advance is repaired by the next claim. So no change is lost, and none is
 * stored twice under different seqs.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { SealConfig } from "../export/mod.ts";
import { isolateCpuMs as cpuNow } from "../jobs/mod.ts";
import type { Store } from "../store/mod.ts";
import type { Wal2JsonRecord } from "./records.ts";
import type { SegmentManifest, SegmentSequence } from "./segment.ts";
import { SegmentWriter } from "./writer.ts";

/** The wal2json options of every peek (the contract between capture and replay). */
export const WAL2JSON_OPTIONS: readonly string[] = [
  "format-version",
  "2",
  "include-xids",
  "1",
  "include-timestamp",
  "1",
  "include-lsn",
  "1",
  "include-transaction",
  "1",
  "include-types",
  "1",
  "include-pk",
  "1",
];

/**
 * Rows per cursor fetch. The peek's rows come in the order the function returns them (a
 * function scan keeps it; no sort of a big transaction's rows): the pass checks each row's
 * ordinal follows the previous one and stops without recording anything past it otherwise.
 */
const CURSOR_ROWS = 2000;

/**
 * A wal2json format-2 line's action, read from its start (`{"action":"X"`), so that a change
 * is stored without being parsed; any other shape is parsed.
 */
export function actionOf(line: string): Wal2JsonRecord["action"] {
  if (line.startsWith('{"action":"') && line.charCodeAt(12) === 34) return line[11] as Wal2JsonRecord["action"];
  return (JSON.parse(line) as Wal2JsonRecord).action;
}

/** What one pass may do. */
export interface ShipperLimits {
  /** Plaintext bytes at which a segment is cut. */
  segmentBytes: number;
  /** Peek rows one pass reads at most. */
  maxRecords: number;
  /**
   * Wall-clock milliseconds of reading after which the pass stops (null: no limit), counted from
   * the first row the peek returns: the peek decodes a whole transaction before its first row
   * arrives, and a pass that counted that wait could ship nothing of a transaction bigger than
   * the budget's worth of decoding (the hosted 150 s wall limit bounds the wait).
   */
  wallMs: number | null;
  /** Process CPU milliseconds after which the pass stops reading (null: no limit). */
  cpuMs: number | null;
}

/** Hooks the fault tests use to stop the shipper at chosen points. */
export interface ShipperHooks {
  /** After a segment is stored, before it is recorded. */
  afterStore?: (m: SegmentManifest) => Promise<void> | void;
  /** After a segment is recorded, before the slot is advanced. */
  afterRecord?: (m: SegmentManifest) => Promise<void> | void;
  /** After each row taken from the cursor. */
  afterRow?: (n: number) => Promise<void> | void;
}

/** Inputs of {@link shipOnce}. */
export interface ShipOptions {
  sql: Sql;
  store: Store;
  /** Who ships (lease owner): an invocation id or `cli-<host>-<pid>`. */
  owner: string;
  seal: SealConfig;
  signingKey: CryptoKey | null;
  limits: ShipperLimits;
  hooks?: ShipperHooks;
  signal?: AbortSignal;
}

/** What a pass did. */
export interface ShipResult {
  /** `busy`: another shipper holds the stream. */
  state: "shipped" | "idle" | "busy";
  slot: string | null;
  segments: SegmentManifest[];
  /** Peek rows read (past the skipped ones). */
  rows: number;
  /** The pass read to the end of the WAL and stored everything: the recovery point moved to its start. */
  caughtUp: boolean;
  /** Why it stopped before the end, if it did. */
  stoppedBy: "wall" | "cpu" | "records" | null;
  wallMs: number;
  cpuMs: number | null;
  peakRssBytes: number;
}

function rss(): number {
  try {
    return Deno.memoryUsage().rss;
  } catch {
    return 0;
  }
}

interface Claim {
  slot: string;
  next_seq: string | number;
  confirmed_lsn: string;
  pending_records: string | number;
  excluded_tables: string[];
  peek_started_at: Date;
  enabled_at: Date;
}

/** Reads the sequences' states (recorded in each segment, after its last commit). */
async function readSequences(sql: Sql): Promise<SegmentSequence[]> {
  const rows = await sql`select schema_name, sequence_name, last_value, is_called from lifeboat.stream_sequences()`;
  return rows.map((r) => ({
    schema: String(r.schema_name),
    name: String(r.sequence_name),
    lastValue: r.last_value === null ? "0" : String(r.last_value),
    isCalled: Boolean(r.is_called),
  }));
}

/** One pass of the shipper (see the module doc). */
export async function shipOnce(opts: ShipOptions): Promise<ShipResult> {
  const { sql, store, owner, limits, hooks } = opts;
  const t0 = performance.now();
  const cpu0 = cpuNow();
  let peak = rss();
  const result = (state: ShipResult["state"], extra: Partial<ShipResult> = {}): ShipResult => {
    const c = cpuNow();
    return {
      state,
      slot: null,
      segments: [],
      rows: 0,
      caughtUp: false,
      stoppedBy: null,
      wallMs: Math.round(performance.now() - t0),
      cpuMs: c === null || cpu0 === null ? null : Math.round(c - cpu0),
      peakRssBytes: Math.max(peak, rss()),
      ...extra,
    };
  };

  const [claim] = await sql<Claim[]>`select * from lifeboat.stream_claim(${owner})`;
  if (!claim) return result("busy");
  const slot = claim.slot;
  const base = Number(claim.pending_records);
  let seq = Number(claim.next_seq);
  const segments: SegmentManifest[] = [];
  let error: unknown = null;
  let rows = 0;
  let caughtUp = false;
  let stoppedBy: ShipResult["stoppedBy"] = null;

  try {
    const [{ filter }] = await sql`select lifeboat.stream_filter_tables(${claim.excluded_tables}::text[]) as filter`;
    const limit = base + limits.maxRecords;

    // Position bookkeeping, in peek ordinals (n counts rows from the slot's position).
    let lastCommitN = 0; // n of the last C row passed
    let lastCommitLsn: string | null = null;
    let consumedN = base; // every row up to here is stored or passed
    let held: { line: string; lsn: string; n: number } | null = null; // a B not written yet
    let inTxnWritten = base > 0; // the open transaction already has rows stored (continued from a previous pass)
    let writer: SegmentWriter | null = null;
    let exhausted = true;

    const finishSegment = async () => {
      if (!writer || writer.empty) return;
      const w = writer;
      writer = null;
      const sequences = await readSequences(sql);
      const m = await w.finish(sequences, opts.signingKey, opts.signal);
      await hooks?.afterStore?.(m);
      // The position after this segment: its last commit (or the previous one), plus the rows
      // of the open transaction it already holds.
      const confirmed = lastCommitLsn ?? claim.confirmed_lsn;
      const pending = consumedN - lastCommitN;
      const [r] = await sql`
        select lifeboat.stream_record_segment(${owner}, ${m.seq}, ${m.startLsn}::pg_lsn, ${m.endLsn}::pg_lsn,
          ${m.firstCommitAt}::timestamptz, ${m.lastCommitAt}::timestamptz, ${m.transactions}, ${m.changes},
          ${m.partial !== null}, ${m.bytes}, ${m.plainBytes}, ${m.sha256}, ${confirmed}::pg_lsn, ${pending},
          ${lastCommitLsn}::pg_lsn) as ok`;
      if (!r.ok) {
        throw new Error("the stream's lease was taken over by another shipper: this pass stops without recording more");
      }
      segments.push(m);
      seq++;
      await hooks?.afterRecord?.(m);
    };

    let firstRowAt: number | null = null;
    const overBudget = (): ShipResult["stoppedBy"] => {
      if (limits.wallMs !== null && performance.now() - (firstRowAt ?? t0) > limits.wallMs) return "wall";
      if (limits.cpuMs !== null && cpu0 !== null) {
        const c = cpuNow();
        if (c !== null && c - cpu0 > limits.cpuMs) return "cpu";
      }
      return null;
    };

    const cursor = sql`
      select c.lsn::text as lsn, c.data, c.n
      from pg_catalog.pg_logical_slot_peek_changes(${slot}, null, ${limit}, ${WAL2JSON_OPTIONS[0]}, ${
      WAL2JSON_OPTIONS[1]
    },
        ${WAL2JSON_OPTIONS[2]}, ${WAL2JSON_OPTIONS[3]}, ${WAL2JSON_OPTIONS[4]}, ${WAL2JSON_OPTIONS[5]},
        ${WAL2JSON_OPTIONS[6]}, ${WAL2JSON_OPTIONS[7]}, ${WAL2JSON_OPTIONS[8]}, ${WAL2JSON_OPTIONS[9]},
        ${WAL2JSON_OPTIONS[10]}, ${WAL2JSON_OPTIONS[11]}, ${WAL2JSON_OPTIONS[12]}, ${WAL2JSON_OPTIONS[13]},
        'filter-tables', ${String(filter ?? "")}) with ordinality as c(lsn, xid, data, n)
      where c.n > ${base}`.cursor(CURSOR_ROWS);

    let expectN = base + 1;
    outer: for await (const batch of cursor) {
      for (const row of batch) {
        const n = Number(row.n);
        if (n !== expectN) {
          throw new Error(`the slot's peek returned change ${n} where ${expectN} was next: the pass stops after the segments it stored; run the shipper again`);
        }
        expectN++;
        firstRowAt ??= performance.now();
        const lsn = String(row.lsn);
        const line = String(row.data);
        const action = actionOf(line);
        const parse = () => JSON.parse(line) as Wal2JsonRecord;
        rows++;
        if (action === "B") {
          held = { line, lsn, n };
          inTxnWritten = false;
        } else if (action === "C") {
          if (inTxnWritten) {
            writer ??= await SegmentWriter.open(store, slot, seq, opts.seal, opts.signal, claim.enabled_at.toISOString());
            await writer.addLine(line, action, lsn, parse);
          }
          held = null;
          inTxnWritten = false;
          lastCommitN = n;
          lastCommitLsn = lsn;
          consumedN = n;
        } else {
          writer ??= await SegmentWriter.open(store, slot, seq, opts.seal, opts.signal, claim.enabled_at.toISOString());
          if (held) {
            const b = held.line;
            await writer.addLine(b, "B", held.lsn, () => JSON.parse(b) as Wal2JsonRecord);
            held = null;
          }
          await writer.addLine(line, action, lsn, parse);
          inTxnWritten = true;
          consumedN = n;
        }
        await hooks?.afterRow?.(n);
        if (writer && writer.plainBytes >= limits.segmentBytes) {
          // Cut here (a transaction may continue in the next segment).
          await finishSegment();
        }
        const over = rows % 64 === 0 ? overBudget() : null;
        if (over) {
          stoppedBy = over;
          exhausted = false;
          break outer;
        }
        if (rows % 2000 === 0) peak = Math.max(peak, rss());
      }
    }
    // Breaking out of the loop closed the cursor: the slot is free again for the advance.
    if (exhausted && rows >= limits.maxRecords) {
      exhausted = false;
      stoppedBy = "records";
    }
    await finishSegment();
    if (lastCommitLsn !== null && consumedN === lastCommitN) {
      // Transactions passed after the last segment (nothing to store): the position moves without one.
      await sql`select lifeboat.stream_advance_idle(${owner}, ${lastCommitLsn}::pg_lsn)`;
    }
    await sql`select lifeboat.stream_advance()`;
    if (exhausted && held === null) {
      caughtUp = true;
      await sql`select lifeboat.stream_caught_up(${owner}, ${claim.peek_started_at})`;
    }
  } catch (err) {
    error = err;
    throw err;
  } finally {
    const msg = error === null ? null : String((error as Error)?.message ?? error).slice(0, 500);
    await sql`select lifeboat.stream_release(${owner}, ${msg})`.catch(() => {});
  }
  return result(segments.length > 0 ? "shipped" : "idle", { slot, segments, rows, caughtUp, stoppedBy });
}

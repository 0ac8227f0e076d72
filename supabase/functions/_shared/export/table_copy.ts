/**
 * Exports one table's rows as data parts: a COPY read inside the caller's snapshot, cut into
 * parts by size (whole rows only), each part a self-contained psql script
 * (`COPY … FROM stdin;`, rows, `\.`). A part can also be produced for a key range, which is
 * how the edge function splits big tables across invocations.
 * @module
 */
import { BatchQueue, canPauseReading, copyOut, type CopyOutSocket, type Tx } from "../db/mod.ts";
import { dataPartKey, tableSlug } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";
import type { TableInfo } from "./catalog.ts";
import { qualified, quoteIdent } from "./ident.ts";
import { PartWriter, type SealConfig, type WrittenObject } from "./part_writer.ts";

/** A finished data part. */
export interface DataPart extends WrittenObject {
  /** Key relative to the backup prefix. */
  relKey: string;
  part: number;
  rows: number;
}

/** Where and how a table's parts are written. */
export interface PartTarget {
  store: Store;
  /** Key prefix of the backup inside the store (`<backup id>/`). */
  prefix: string;
  seal: SealConfig;
  /** Cut a new part once this many plain bytes are in the current one. */
  partBytes: number;
  batchBytes?: number;
  /**
   * On-disk bytes read per COPY statement (see {@link DEFAULT_SLICE_BYTES}); default: the
   * whole table in one statement where reading can pause (the bulk reader on plain TCP),
   * slices of that size otherwise.
   */
  sliceBytes?: number;
  /** Plain bytes read but not yet written at which reading pauses (see {@link DEFAULT_QUEUE_BYTES}). */
  queueBytes?: number;
  /** The client's bulk COPY sockets (db.ts `copyOutRegistry`); omitted = per-row stream. */
  registry?: Set<CopyOutSocket>;
  /** Stored bytes a part may buffer (see part_writer.ts). */
  bufferBytes?: number;
  /** Parts that may upload while the next is written (see {@link DEFAULT_UPLOADS_IN_FLIGHT}). */
  uploadsInFlight?: number;
  signal?: AbortSignal;
  /** Plain bytes and rows as they are read (for progress). */
  onBatch?: (bytes: number, rows: number) => void;
  /** Each part once the store has confirmed it. */
  onPart?: (part: DataPart) => void | Promise<void>;
}

/** A key range `[lower, upper)` on the key columns; a missing bound is open. */
export interface KeyRange {
  keyColumns: string[];
  lower?: (string | null)[] | null;
  upper?: (string | null)[] | null;
}

/**
 * On-disk bytes (heap + TOAST) each COPY statement reads where the connection cannot be
 * paused (postgres.js's per-row stream, or TLS; see db/copy_out/reader.ts): big tables are then
 * read in slices of pages (`ctid` ranges, a TID range scan), one statement each, all in the
 * same snapshot, and this, with {@link DEFAULT_QUEUE_BYTES}, bounds what can queue up in
 * memory. On plain TCP the bulk reader pauses the connection instead and reads a table in one
 * statement: a TID range scan costs the server 15-20 % more per row than a plain `COPY
 * table` (bench/export/RESULTS.md §6).
 */
export const DEFAULT_SLICE_BYTES = 4 * 1024 * 1024;

/**
 * Read bytes waiting to be compressed, encrypted and stored at which reading pauses: on plain
 * TCP the bulk reader stops reading the connection until half of them are handled; where the
 * connection cannot pause (TLS, the per-row path) the next slice starts only below it.
 * Postgres keeps producing while a part is written.
 */
export const DEFAULT_QUEUE_BYTES = 4 * 1024 * 1024;

const enc = new TextEncoder();
const TRAILER = enc.encode("\\.\n");

function columnList(t: TableInfo): string {
  return t.columns.length ? ` (${t.columns.map(quoteIdent).join(", ")})` : "";
}

/** The line that opens every data part of `t`. */
export function copyHeader(t: TableInfo): string {
  return `COPY ${qualified(t.schema, t.name)}${columnList(t)} FROM stdin;\n`;
}

async function rangeCondition(tx: Tx, range: KeyRange): Promise<string> {
  const cols = `(${range.keyColumns.map(quoteIdent).join(", ")})`;
  // Literals are quoted by the server (quote_nullable), which knows its own quoting rules.
  const lit = async (vals: (string | null)[]) => {
    if (vals.length !== range.keyColumns.length) throw new Error("a key range bound needs one value per key column");
    const rows = await tx`select pg_catalog.quote_nullable(v) as q from unnest(${vals}::text[]) with ordinality as u(v, i) order by i`;
    return `(${rows.map((r) => r.q).join(", ")})`;
  };
  const conds: string[] = [];
  if (range.lower) conds.push(`${cols} >= ${await lit(range.lower)}`);
  if (range.upper) conds.push(`${cols} < ${await lit(range.upper)}`);
  return conds.length ? ` where ${conds.join(" and ")}` : "";
}

/**
 * The COPY … TO STDOUT statements that read a whole table: one for a small table, else one
 * per slice of pages, the last one open-ended (rows visible to the snapshot can only be in
 * pages that existed when it was taken, but a concurrent extension must not be missed).
 */
async function sliceStatements(tx: Tx, t: TableInfo, sliceBytes: number): Promise<string[]> {
  const whole = `copy ${qualified(t.schema, t.name)}${columnList(t)} to stdout`;
  const [r] = await tx`
    select (pg_catalog.pg_relation_size(${t.oid}::oid::regclass) / pg_catalog.current_setting('block_size')::int)::int8 as pages,
           pg_catalog.pg_table_size(${t.oid}::oid::regclass)::int8 as bytes`;
  const pages = Number(r.pages);
  const bytes = Number(r.bytes);
  if (bytes <= sliceBytes || pages < 2) return [whole];
  const step = Math.max(1, Math.floor(pages * sliceBytes / bytes));
  const select = `copy (select ${t.columns.map(quoteIdent).join(", ")} from only ${qualified(t.schema, t.name)}`;
  const out: string[] = [];
  for (let p = 0; p < pages; p += step) {
    const upper = p + step < pages ? ` and ctid < '(${p + step},0)'::pg_catalog.tid` : "";
    out.push(`${select} where ctid >= '(${p},0)'::pg_catalog.tid${upper}) to stdout`);
  }
  return out;
}

/** The COPY … TO STDOUT statement for a table or one key range of it. */
export async function copyOutStatement(tx: Tx, t: TableInfo, range?: KeyRange): Promise<string> {
  if (!range) return `copy ${qualified(t.schema, t.name)}${columnList(t)} to stdout`;
  const select = t.columns.length ? t.columns.map(quoteIdent).join(", ") : "";
  const order = range.keyColumns.map(quoteIdent).join(", ");
  return `copy (select ${select} from only ${qualified(t.schema, t.name)}${await rangeCondition(tx, range)} order by ${order}) to stdout`;
}

/**
 * The statements that read `t` (or `range` of it). A key range is one statement (its caller
 * sizes it). A whole table is one statement where the reader can pause the connection to
 * bound memory (the bulk reader on plain TCP), else it is read in slices.
 */
async function tableStatements(tx: Tx, t: TableInfo, target: PartTarget, range?: KeyRange): Promise<string[]> {
  if (range) return [await copyOutStatement(tx, t, range)];
  const sliceBytes = target.sliceBytes ?? (await canPauseReading(tx, target.registry) ? Infinity : DEFAULT_SLICE_BYTES);
  if (t.columns.length && Number.isFinite(sliceBytes)) return await sliceStatements(tx, t, sliceBytes);
  return [await copyOutStatement(tx, t)];
}

/**
 * Parts of one table that may still be uploading while the next one is written. Waiting for
 * each part's upload (PUT, then HEAD to confirm) before reading on left the table's COPY idle
 * for that round trip every part (bench/export/RESULTS.md); one stored part more in memory
 * per table (about 2 MB at the default part size) keeps it reading.
 */
export const DEFAULT_UPLOADS_IN_FLIGHT = 2;

/**
 * Copies `t` (or `range` of it) to parts numbered from `firstPart`, cutting a new part when
 * one holds `partBytes`. Always writes at least one part, so an empty table restores as an
 * empty COPY. Parts are reported (`onPart`, and in the result) in order, each once the store
 * has confirmed it. On failure, parts already stored are returned in the error's `parts`.
 */
export async function copyTableToParts(
  tx: Tx,
  t: TableInfo,
  target: PartTarget,
  opts: { range?: KeyRange; firstPart?: number } = {},
): Promise<DataPart[]> {
  const slug = await tableSlug(t.schema, t.name);
  const header = enc.encode(copyHeader(t));
  const encrypted = target.seal.recipients.length > 0;
  const inFlightLimit = Math.max(0, target.uploadsInFlight ?? DEFAULT_UPLOADS_IN_FLIGHT);
  const done: DataPart[] = [];
  /** Every closed part's upload, in part order. */
  const stored: Promise<DataPart>[] = [];
  /** Reports of closed parts, oldest first, while they are not yet awaited. */
  const uploading: Promise<void>[] = [];
  let reported: Promise<void> = Promise.resolve();
  let partNo = opts.firstPart ?? 0;
  let writer: PartWriter | null = null;
  let partRows = 0;
  let relKey = "";

  const open = async () => {
    relKey = dataPartKey(slug, partNo, encrypted, target.seal.compression);
    writer = await PartWriter.open(target.store, target.prefix + relKey, target.seal, target.signal, target.bufferBytes);
    partRows = 0;
    await writer.write(header);
  };
  // Ends the current part and lets its upload run on; waits only while too many are in flight.
  const finish = async () => {
    const w = writer!;
    writer = null;
    await w.write(TRAILER);
    const meta = { relKey, part: partNo, rows: partRows };
    partNo++;
    const part = w.close().then((obj): DataPart => ({ ...obj, ...meta }));
    part.catch(() => {}); // surfaces through `reported`
    stored.push(part);
    // Reported in part order: each waits for the one before it.
    reported = reported.then(async () => {
      const p = await part;
      done.push(p);
      await target.onPart?.(p);
    });
    uploading.push(reported);
    reported.catch(() => {});
    while (uploading.length > inFlightLimit) await uploading.shift();
  };

  const queueBytes = target.queueBytes ?? DEFAULT_QUEUE_BYTES;
  const statements = await tableStatements(tx, t, target, opts.range);
  const queue = new BatchQueue(async (batch, rows) => {
    const bytes = batch.length;
    if (writer!.plainBytes + bytes > target.partBytes && partRows > 0) {
      await finish();
      await open();
    }
    // Each batch is a buffer of its own (db/copy_out/reader.ts), freed once compressed.
    await writer!.write(batch, true);
    partRows += rows;
    target.onBatch?.(bytes, rows);
  });
  try {
    await open();
    for (const statement of statements) {
      target.signal?.throwIfAborted();
      await queue.below(queueBytes);
      await copyOut(tx, statement, queue, {
        registry: target.registry,
        batchBytes: target.batchBytes,
        pauseAtBytes: queueBytes,
        signal: target.signal,
      });
    }
    await queue.drain();
    await finish();
    await reported;
    return done;
  } catch (err) {
    await queue.drain().catch(() => {}); // no write may still be running when the part is aborted
    const w = writer as PartWriter | null;
    if (w) await w.abort(err);
    // Uploads still in flight end (the caller's signal cuts them short). Parts the store
    // confirmed but that were never reported (a part before them failed) are reported now,
    // so that the caller accounts for, and cleans up, everything that was stored.
    for (const r of await Promise.allSettled(stored)) {
      if (r.status !== "fulfilled" || done.includes(r.value)) continue;
      done.push(r.value);
      await Promise.resolve(target.onPart?.(r.value)).catch(() => {});
    }
    throw Object.assign(err instanceof Error ? err : new Error(String(err)), { parts: done });
  }
}

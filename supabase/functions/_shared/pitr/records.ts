/**
 * The change stream's records: wal2json format-2 objects, one per line, as the shipper stored
 * them (see `_shared/stream/`). Only the fields replay routes on are read here; the values stay
 * in the line's text, which Postgres parses as jsonb (exact numerics, unlike JSON.parse).
 * @module
 */

/** A column of a change record: its name (and wal2json's type name and value, left in the text). */
export interface ColumnRef {
  name: string;
}

/** One wal2json format-2 record, routed by `action`. */
export interface WalRecord {
  action: "B" | "C" | "I" | "U" | "D" | "T" | "M";
  /** 32-bit transaction id (null on non-transactional messages). */
  xid?: number | null;
  /** Commit time (B, C and changes). */
  timestamp?: string | null;
  /** B and C: the commit record's start; changes: the change's own position. */
  lsn?: string;
  /** B and C: the commit record's end. */
  nextlsn?: string;
  schema?: string;
  table?: string;
  /** New row image (I, U); unchanged TOASTed columns are absent. */
  columns?: ColumnRef[];
  /** Old key (U, D): the replica identity's columns. */
  identity?: ColumnRef[];
  /** The primary key's columns. */
  pk?: ColumnRef[];
}

/** A record and the text it came from. */
export interface RawRecord {
  rec: WalRecord;
  line: string;
}

/** A line that is not a wal2json format-2 record. */
export class RecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordError";
  }
}

const ACTIONS = new Set(["B", "C", "I", "U", "D", "T", "M"]);

/** Parses one stored line; throws a {@link RecordError} naming where it came from. */
export function parseRecord(line: string, at: string | (() => string)): RawRecord {
  const where = () => (typeof at === "string" ? at : at());
  let rec: WalRecord;
  try {
    rec = JSON.parse(line);
  } catch {
    throw new RecordError(`${where()}: not a JSON record; the segment is damaged (its checksum should have caught this)`);
  }
  if (!rec || typeof rec !== "object" || !ACTIONS.has(rec.action)) {
    throw new RecordError(`${where()}: not a wal2json format-2 record (action ${JSON.stringify((rec as WalRecord)?.action)})`);
  }
  if ((rec.action === "B" || rec.action === "C") && (typeof rec.xid !== "number" || !rec.timestamp || !rec.lsn)) {
    throw new RecordError(`${where()}: a ${rec.action} record without xid, timestamp or lsn; the slot must use include-xids, include-timestamp and include-lsn`);
  }
  return { rec, line };
}

/** Integer types whose JSON numbers (safe integers) have exactly one text. */
const INTEGER_TYPES = new Set(["smallint", "integer", "bigint"]);

/**
 * The text Postgres would read (`->>'value'`) of each value of an image, or null when one has
 * no exact text here: a number that is not a safe integer of an integer column (numerics keep
 * their scale, floats their digits, only in the line's text). Absent values are null, as
 * `->>` reads them.
 */
export function exactTexts(cols: ColumnRef[] | undefined): (string | null)[] | null {
  const list = (cols ?? []) as { name: string; type?: string; value?: unknown }[];
  const out: (string | null)[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i].value;
    if (v === null || v === undefined) out[i] = null;
    else if (typeof v === "string") out[i] = v;
    else if (typeof v === "boolean") out[i] = v ? "true" : "false";
    else if (typeof v === "number" && Number.isSafeInteger(v) && INTEGER_TYPES.has(list[i].type ?? "")) out[i] = String(v);
    else return null;
  }
  return out;
}

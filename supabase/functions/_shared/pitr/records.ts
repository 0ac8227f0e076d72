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
export function parseRecord(line: string, where: string): RawRecord {
  let rec: WalRecord;
  try {
    rec = JSON.parse(line);
  } catch {
    throw new RecordError(`${where}: not a JSON record; the segment is damaged (its checksum should have caught this)`);
  }
  if (!rec || typeof rec !== "object" || !ACTIONS.has(rec.action)) {
    throw new RecordError(`${where}: not a wal2json format-2 record (action ${JSON.stringify((rec as WalRecord)?.action)})`);
  }
  if ((rec.action === "B" || rec.action === "C") && (typeof rec.xid !== "number" || !rec.timestamp || !rec.lsn)) {
    throw new RecordError(`${where}: a ${rec.action} record without xid, timestamp or lsn; the slot must use include-xids, include-timestamp and include-lsn`);
  }
  return { rec, line };
}

/**
 * The wal2json format-2 records a segment holds (options: include-xids, include-timestamp,
 * include-lsn, include-transaction, include-types, include-pk). One record per line.
 *
 * - `B` begin: `{action:"B", xid, timestamp, lsn, nextlsn}`; `C` commit: the same fields
 *   (`timestamp` is the commit time, `lsn` is the commit record's).
 * - `I` insert: `columns` (name, type, value), `pk` (name, type).
 * - `U` update: `columns` (the new row) and `identity` (the old key, or the whole old row with
 *   replica identity full). Unchanged TOASTed columns are ABSENT from `columns` (wal2json leaves
 *   them out); replay must keep the previous value, never write null.
 * - `D` delete: `identity`. `T` truncate: `schema`, `table`. `M` logical message.
 * @module
 */

/** One column value in a wal2json record. */
export interface Wal2JsonColumn {
  name: string;
  type: string;
  value: unknown;
}

/** One wal2json format-2 record. */
export interface Wal2JsonRecord {
  action: "B" | "C" | "I" | "U" | "D" | "T" | "M";
  xid?: number;
  timestamp?: string;
  lsn?: string;
  nextlsn?: string;
  schema?: string;
  table?: string;
  columns?: Wal2JsonColumn[];
  identity?: Wal2JsonColumn[];
  pk?: { name: string; type: string }[];
  prefix?: string;
  content?: string;
  transactional?: boolean;
}

/** Whether a record is a change (not a begin or commit). */
export function isChange(r: Wal2JsonRecord): boolean {
  return r.action !== "B" && r.action !== "C";
}

/**
 * The snapshot an export reads, and the locks it holds. A coordinator transaction
 * (repeatable read) exports its snapshot; other transactions adopt it with
 * SET TRANSACTION SNAPSHOT, so every connection of an export sees the same data. Both
 * drivers (the one-shot export and the backup-export jobs) take and share snapshots here.
 * @module
 */
import type { Tx } from "../db/mod.ts";

/**
 * Which transactions an exported snapshot sees, the hand-off point of a point-in-time restore:
 * a transaction is in the backup unless its xid is >= `xmax` or listed in `xip` (64-bit xids,
 * as `pg_current_snapshot()` gives them, in decimal text). `takenAt` is the database clock
 * just after the snapshot was taken: everything the snapshot sees committed before it.
 */
export interface SnapshotVisibility {
  xmin: string;
  xmax: string;
  xip: string[];
  takenAt: string;
}

/** The change stream's slot as the export found it (null when no stream slot exists). */
export interface StreamPosition {
  slot: string;
  confirmedFlushLsn: string | null;
}

/** An exported snapshot: its id, the WAL position it was taken at and what it sees. */
export interface Snapshot {
  id: string;
  lsn: string;
  visibility: SnapshotVisibility;
  stream: StreamPosition | null;
}



/** Default wait for each table's ACCESS SHARE lock. */
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

/**
 * Exports the snapshot of `tx` (which must be repeatable read). The transaction stays open,
 * often idle, for as long as the export runs: no server-side timeout may end it.
 */
export async function exportSnapshot(tx: Tx, lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS): Promise<Snapshot> {
  // The first statement takes the transaction's snapshot: read what it sees in the same one.
  const [v] = await tx`
    select pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true),
           pg_catalog.set_config('statement_timeout', '0', true),
           pg_catalog.set_config('lock_timeout', ${String(lockTimeoutMs)}, true),
           pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text as xmin,
           pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text as xmax,
           array(select x::text from pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) x
                 order by x::text::numeric) as xip,
           to_json(pg_catalog.clock_timestamp())#>>'{}' as taken_at`;
  const [s] = await tx`
    select pg_catalog.pg_export_snapshot() as id,
           (case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn()
                 else pg_catalog.pg_current_wal_lsn() end)::text as lsn`;
  return {
    id: String(s.id),
    lsn: String(s.lsn),
    visibility: {
      xmin: String(v.xmin),
      xmax: String(v.xmax),
      xip: (v.xip as string[]).map(String),
      takenAt: new Date(String(v.taken_at)).toISOString(),
    },
    stream: await streamPosition(tx),
  };
}

/**
 * The change stream's slot (setting `stream.slot`, see `lifeboat stream enable`) and how far it
 * had confirmed, read just after the snapshot: null when Lifeboat's stream is not installed
 * or its slot does not exist.
 */
async function streamPosition(tx: Tx): Promise<StreamPosition | null> {
  const [installed] = await tx`select pg_catalog.to_regprocedure('lifeboat.stream_slot_name()') is not null as ok`;
  if (!installed.ok) return null;
  const [slot] = await tx`
    select s.slot_name::text as slot, s.confirmed_flush_lsn::text as lsn
    from pg_catalog.pg_replication_slots s
    where s.slot_name = lifeboat.stream_slot_name() and s.slot_type = 'logical' and s.plugin = 'wal2json'`;
  return slot ? { slot: String(slot.slot), confirmedFlushLsn: slot.lsn === null ? null : String(slot.lsn) } : null;
}

/** The server's current WAL position (the replay position on a standby). */
export async function currentLsn(tx: Tx): Promise<string> {
  const [end] = await tx`
    select (case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn()
                 else pg_catalog.pg_current_wal_lsn() end)::text as lsn`;
  return String(end.lsn);
}

/** Throws unless `id` looks like a snapshot id Postgres exports (it is spliced into SQL). */
export function checkSnapshotId(id: string): void {
  if (!/^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$/i.test(id)) throw new Error("unexpected snapshot id from the server");
}

/**
 * Makes `tx` (a fresh repeatable read transaction) read snapshot `id`. With `untimed`, no
 * server-side timeout may end it either (a worker that copies for as long as it takes).
 */
export async function adoptSnapshot(tx: Tx, id: string, opts: { untimed?: boolean } = {}): Promise<void> {
  checkSnapshotId(id);
  await tx.unsafe(`set transaction snapshot '${id}'`);
  if (opts.untimed) {
    await tx`select pg_catalog.set_config('statement_timeout', '0', true),
                    pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true)`;
  }
}

/**
 * The table locks an export holds, taken as pg_dump takes them: every selected table in
 * ACCESS SHARE mode, up front, in the snapshot's transaction. Two hazards come with them:
 *
 * - A TRUNCATE (or another ACCESS EXCLUSIVE request) that arrives once the coordinator holds
 *   its locks waits for the whole backup, and every later ACCESS SHARE request of another
 *   session queues behind it: a worker that locked a table only when it reached it would wait
 *   for the TRUNCATE, which waits for the coordinator, which waits for the worker, a cycle
 *   Postgres cannot see, so nothing ever ends. Workers therefore lock every table at once,
 *   before reading anything, waiting at most {@link WORKER_LOCK_GRACE_MS} (pg_dump's parallel
 *   workers use NOWAIT): a request that gives up by itself within it (an application's own
 *   lock_timeout) costs nothing, one that stays makes the export stop, release its locks so
 *   the request goes through, and start again with a new snapshot, instead of hanging.
 *   Autovacuum never queues (it truncates only with a conditional lock), so it cannot cause this.
 * - TRUNCATE is not MVCC-safe: a table truncated (or rewritten) after the snapshot was taken
 *   but before it was locked reads as empty (or as rewritten) in that snapshot. After locking,
 *   each table's file node as the snapshot saw it is compared with the current one.
 * @module
 */
import type { Tx } from "../db/mod.ts";
import { qualified } from "./ident.ts";
import type { TableRef } from "./selection.ts";

/** Why the snapshot's tables could not be held. */
export type SnapshotConflictKind = "waiter" | "timeout" | "rewritten";

/**
 * The export could not hold its tables in its snapshot: a conflicting lock request queued
 * behind the backup (`waiter`), a lock held by another session for longer than the lock
 * timeout (`timeout`), or a table truncated or rewritten after the snapshot (`rewritten`).
 * Nothing was read yet: running the backup again is safe.
 */
export class SnapshotConflictError extends Error {
  readonly retryable = true;
  constructor(readonly kind: SnapshotConflictKind, message: string) {
    super(message);
    this.name = "SnapshotConflictError";
  }
}

/** The SQLSTATE of a lock not granted (NOWAIT, or lock_timeout). */
const LOCK_NOT_AVAILABLE = "55P03";

/** The SQLSTATE of a table that does not exist. */
const UNDEFINED_TABLE = "42P01";

/** Tables per LOCK statement. */
const LOCK_BATCH = 500;

/**
 * How long a worker's lock request may wait behind a conflicting request queued after the
 * coordinator's locks (see the module doc). Not a correctness bound: a longer wait only
 * delays the restart; a request still queued after it is not going away by itself.
 */
export const WORKER_LOCK_GRACE_MS = 2_000;

/**
 * Locks `tables` in ACCESS SHARE mode in `tx`, then checks that none was rewritten after the
 * snapshot. With `graceMs` (a session other than the one that locked first) a lock not granted
 * within it fails: it waits behind a conflicting request that itself waits for this export.
 * Without it, the transaction's lock_timeout bounds the wait.
 * Throws {@link SnapshotConflictError}.
 */
export async function lockTables(
  tx: Tx,
  tables: readonly (TableRef & { oid?: number })[],
  opts: { graceMs?: number; beforeSnapshot?: boolean } = {},
): Promise<void> {
  for (let i = 0; i < tables.length; i += LOCK_BATCH) {
    const batch = tables.slice(i, i + LOCK_BATCH);
    const names = batch.map((t) => qualified(t.schema, t.name)).join(", ");
    const which = batch.length === 1 ? qualified(batch[0].schema, batch[0].name) : `one of ${batch.length} tables`;
    if (opts.graceMs !== undefined) {
      // Tried in a subtransaction, so a refusal leaves this transaction (and its pooled
      // connection) clean: the answer comes back as a setting, not as an error on the wire.
      // The lock_timeout is the subtransaction's own (set_config is undone with it, and put
      // back to none after a granted lock: the worker's reads must never time out).
      const grace = Math.max(1, Math.floor(opts.graceMs));
      await tx.unsafe(`
        do $lock$ begin
          perform pg_catalog.set_config('lock_timeout', '${grace}', true);
          lock table only ${names} in access share mode;
          perform pg_catalog.set_config('lock_timeout', '0', true);
          perform pg_catalog.set_config('lifeboat.locks_held', 'yes', true);
        exception when lock_not_available then
          perform pg_catalog.set_config('lifeboat.locks_held', 'no', true);
        end $lock$`);
      const [r] = await tx`select pg_catalog.current_setting('lifeboat.locks_held') as held`;
      if (r?.held !== "yes") {
        throw new SnapshotConflictError(
          "waiter",
          `another session asked for an exclusive lock on ${which} (a TRUNCATE, ALTER TABLE or DROP) after this backup locked it; ` +
            "the backup stopped instead of waiting for it forever: run the backup again (it is safe to retry)",
        );
      }
      continue;
    }
    try {
      await tx.unsafe(`lock table only ${names} in access share mode`);
    } catch (err) {
      if (opts.beforeSnapshot && (err as { code?: string }).code === UNDEFINED_TABLE) {
        throw new SnapshotConflictError("rewritten", `${which} was dropped or renamed while the backup started; run the backup again`);
      }
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
      throw new SnapshotConflictError(
        "timeout",
        `${which} stayed locked by another session for longer than the backup's lock timeout; ` +
          "run the backup again once the long transaction or DDL has finished",
      );
    }
  }
  // Locked before any snapshot exists: nothing can have changed since.
  if (!opts.beforeSnapshot) await assertNotRewritten(tx, tables);
}

/**
 * Throws when a table was truncated or rewritten (VACUUM FULL, CLUSTER, a rewriting ALTER)
 * after the snapshot of `tx` was taken: `pg_class` read in the snapshot names the file node
 * the snapshot knew, `pg_relation_filenode()` the current one (the lock is held, so it is final).
 */
export async function assertNotRewritten(tx: Tx, tables: readonly { oid?: number }[]): Promise<void> {
  const oids = tables.map((t) => t.oid).filter((o): o is number => o !== undefined).map(String);
  if (!oids.length) return;
  const rewritten = await tx`
    select pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) as name
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.oid = any(${oids}::oid[]) and c.relfilenode <> 0
      and c.relfilenode is distinct from pg_catalog.pg_relation_filenode(c.oid)
    order by 1 limit 5`;
  if (rewritten.length) {
    throw new SnapshotConflictError(
      "rewritten",
      `${rewritten.map((r) => r.name).join(", ")} was truncated or rewritten after the backup's snapshot was taken, ` +
        "so the snapshot cannot read it; run the backup again (it is safe to retry)",
    );
  }
}

/**
 * Holds the workers of one export until every one of them has its locks: no table is read,
 * and nothing stored, before the export knows that all its sessions hold their tables.
 */
export class LockGate {
  #left: number;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;
  #open!: () => void;
  #refuse!: (err: unknown) => void;
  /** Settles once every participant locked (or one failed). */
  readonly ready: Promise<void>;
  /**
   * Settles when the coordinator lets the participants read ({@link open}), after it stored what
   * must come before the data (so the data's uploads never overlap the scripts'), or fails.
   */
  readonly opened: Promise<void>;

  constructor(participants: number) {
    this.#left = participants;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.opened = new Promise<void>((resolve, reject) => {
      this.#open = resolve;
      this.#refuse = reject;
    });
    this.ready.catch(() => {});
    this.opened.catch(() => {});
    if (participants <= 0) this.#resolve();
  }

  /** The coordinator is done with what precedes the data: participants may read. */
  open(): void {
    this.#open();
  }

  /** One participant holds its locks. */
  locked(): void {
    if (--this.#left === 0) this.#resolve();
  }

  /** One participant could not lock: everyone stops. */
  failed(err: unknown): void {
    this.#reject(err);
    this.#refuse(err);
  }
}

/**
 * The kind of client the export's catalog and COPY helpers run on: a postgres.js
 * transaction (the coordinator's or a worker's), which is what holds the snapshot.
 * @module
 */
import type postgres from "postgres";

/** A postgres.js transaction client. */
export type Tx = postgres.TransactionSql<Record<string, unknown>>;

/** How long {@link beginSettled} waits for its callback after the transaction failed. */
const SETTLE_AFTER_FAILURE_MS = 15_000;

/**
 * `sql.begin(mode, fn)` that settles only once `fn` has settled too. postgres.js rejects
 * `begin` as soon as the connection closes, while `fn` may still be running (storing an object,
 * say); a caller that cleans up after a failure must not start before `fn` has stopped. The
 * wait is bounded: a query `fn` sent on the dead connection is never answered (see
 * driver_guard.ts), and a backup stuck on it must still fail instead of hanging.
 */
export async function beginSettled<T>(
  sql: postgres.Sql<Record<string, unknown>>,
  mode: string,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  let running: Promise<T> | null = null;
  try {
    return await sql.begin(mode, (tx) => (running = fn(tx))) as T;
  } catch (err) {
    const settled = (running as Promise<T> | null)?.then(() => {}, () => {});
    if (settled) await settleWithin(settled, SETTLE_AFTER_FAILURE_MS).catch(() => {});
    throw err;
  }
}

/**
 * `p`, or a CONNECTION_CLOSED error after `ms`. For a cleanup query (a ROLLBACK) on a reserved
 * connection that may have closed: postgres.js never settles a query sent on a reserved
 * connection after it closed (its write goes to a null socket, see driver_guard.ts).
 */
export function settleWithin<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        Object.assign(new Error(`no answer from the database within ${ms} ms: the connection is gone`), {
          code: "CONNECTION_CLOSED",
        }),
      );
    }, ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

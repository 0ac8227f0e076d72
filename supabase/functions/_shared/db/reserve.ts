/**
 * A reserved postgres.js connection whose loss is observable.
 *
 * postgres.js (3.4.9) never settles a query sent on a reserved connection after that
 * connection closed: the query is written to a null socket (the TypeError driver_guard.ts
 * contains) and nothing rejects it, so a restore whose target stopped between two statements
 * of a reserved session waited forever. `sql.begin()` avoids this by racing its callback with
 * the connection's `onclose` hook, which it reaches through the `onexecute` option of its
 * first query; {@link reserveWatched} does the same for a reserved connection: `guard(p)`
 * rejects with the driver's CONNECTION_CLOSED error once the connection has closed (before or
 * after `p` was sent), and `signal` aborts with it, to tear down streams feeding the session.
 * @module
 */
import type { Sql } from "./connect.ts";

/** A reserved connection, see the module doc. */
export interface WatchedConnection {
  sql: Sql;
  /** Aborted with the connection error once the connection closed. */
  signal: AbortSignal;
  /** `p`, or a rejection with the connection error once the connection closed. */
  guard<T>(p: PromiseLike<T>): Promise<T>;
  /** Returns the connection to the pool. */
  release(): void;
}

interface DriverConnection {
  onclose?: ((err: unknown) => void) | null;
}

/**
 * Reserves a connection of `sql` and runs `setup` on it (a session setting, or `select 1`),
 * through which the connection's close hook is found.
 */
export async function reserveWatched(sql: Sql, setup = "select 1"): Promise<WatchedConnection> {
  const reserved = await sql.reserve();
  const lost = new AbortController();
  let failed: (err: unknown) => void = () => {};
  const closed = new Promise<never>((_, reject) => failed = reject);
  closed.catch(() => {}); // awaited only through guard()
  let driver: DriverConnection | null = null;
  const onclose = (err: unknown) => {
    lost.abort(err);
    failed(err);
  };
  const guard = <T>(p: PromiseLike<T>): Promise<T> => Promise.race([Promise.resolve(p), closed]);
  try {
    await guard(reserved.unsafe(setup, [], {
      onexecute: (c: DriverConnection) => {
        driver = c;
        c.onclose = onclose;
        return true; // as without the option: the connection takes further queries
      },
    } as never));
  } catch (err) {
    reserved.release();
    throw err;
  }
  return {
    sql: reserved as unknown as Sql,
    signal: lost.signal,
    guard,
    release() {
      const d = driver as DriverConnection | null;
      if (d?.onclose === onclose) d.onclose = null;
      reserved.release();
    },
  };
}

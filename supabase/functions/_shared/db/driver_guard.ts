/**
 * A guard against a postgres.js bug that kills the process when the database goes away.
 *
 * postgres.js (3.4.9, the newest release) buffers small writes and sends them from a
 * `setImmediate` callback, `nextWrite`, which calls `socket.write` without checking that the
 * socket still exists. When the connection closes in between (the server stopped, restarted or
 * dropped the connection), `socket` is null and the callback throws
 * `TypeError: Cannot read properties of null (reading 'write')` outside any promise: nothing
 * can catch it, and Deno ends the process (porsager/postgres#1066 and #1154; the fix, #1168, is
 * not released). By then the driver has already rejected the connection's queries with
 * CONNECTION_CLOSED, so the callers see a handled error; only the stray exception is left.
 *
 * A second path: when a connection is opened, postgres.js fetches the array types with a query
 * it starts from a message handler and never awaits (`fetchArrayTypes`). If the connection dies
 * right then (a server shutting down accepts, then resets), that query's rejection
 * (`ECONNRESET`, `CONNECTION_CLOSED`) is unhandled, which also ends a Deno process; the query
 * the caller was waiting for is rejected on its own.
 *
 * {@link guardDriverCrashes} (called by `connect()`) swallows exactly the TypeError, and an
 * unhandled rejection that is a connection error (nobody waits for it, so nobody loses it),
 * so a database outage is an error the caller handles (the run is marked failed, the function
 * keeps serving) instead of a dead process.
 * @module
 */
import { isConnectionError } from "./connect.ts";

let installed = false;

/** Whether `err` is postgres.js's write-to-a-closed-socket TypeError (see the module doc). */
export function isClosedSocketWrite(err: unknown): boolean {
  if (!(err instanceof TypeError)) return false;
  if (!/\(reading 'write'\)|evaluating 'socket\.write'/.test(err.message)) return false;
  const stack = err.stack ?? "";
  return /\bnextWrite\b/.test(stack) || /postgres[^\n]*connection\.js/.test(stack);
}

/** Installs the guard once per process (a no-op where there is no global event target). */
export function guardDriverCrashes(): void {
  if (installed || typeof globalThis.addEventListener !== "function") return;
  installed = true;
  const swallow = (err: unknown, event: Event) => {
    if (!isClosedSocketWrite(err)) return;
    event.preventDefault();
    console.warn(
      "lifeboat: a database connection closed while a write was pending (postgres.js); its queries failed and are handled",
    );
  };
  globalThis.addEventListener("error", (e) => swallow((e as ErrorEvent).error, e));
  globalThis.addEventListener("unhandledrejection", (e) => {
    const reason = (e as PromiseRejectionEvent).reason;
    if (isConnectionError(reason) && !isClosedSocketWrite(reason)) {
      e.preventDefault();
      console.warn(
        "lifeboat: a database connection failed while postgres.js was setting it up; the queries on it failed and are handled",
      );
      return;
    }
    swallow(reason, e);
  });
}

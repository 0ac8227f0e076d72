/**
 * `COPY … FROM STDIN` through postgres.js that always settles.
 *
 * postgres.js (3.4.9) resolves the COPY query with a Writable as soon as the server accepts the
 * COPY, and from then on reports a failure only by destroying that Writable, if it still has
 * one: once the Writable has ended, the driver has sent CopyDone, dropped its reference to the
 * stream and keeps only the `final` callback, which it calls on CommandComplete and never
 * otherwise. When the connection closes (the server stopped) or the server rejects the rows at
 * the end, the driver rejects the already-resolved query (a no-op) and the Writable never
 * finishes: a `pipeline` into it waits forever, and a restore ends with "Top-level await promise
 * never resolved". {@link copyIn} watches the query's own rejection, which the driver still
 * calls in both cases, and fails the pipeline with it.
 * @module
 */
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Sql } from "./connect.ts";

/** The driver's query object: a promise whose `reject` postgres.js calls on every failure. */
interface DriverQuery extends Promise<unknown> {
  reject?: (err: unknown) => void;
  writable(): Promise<Writable>;
}

/**
 * Runs `copySql` (a `COPY … FROM STDIN`) on `conn` and streams `rows` into it. Resolves once the
 * server has committed the COPY's command; rejects with the driver's error when the connection
 * closes or the server fails the COPY at any point, and with `signal`'s reason when it aborts.
 */
export async function copyIn(
  conn: Sql,
  copySql: string,
  rows: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) {
    await rows.cancel(signal.reason).catch(() => {});
    throw signal.reason;
  }
  const query = conn.unsafe(copySql) as unknown as DriverQuery;
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let failed: (err: unknown) => void = () => {};
  const driverFailed = new Promise<never>((_, reject) => failed = reject);
  driverFailed.catch(() => {}); // only ever awaited through the race below
  const reject = query.reject;
  if (typeof reject === "function") {
    query.reject = (err: unknown) => {
      failed(err);
      // Tear the streams down: the store read stops, and the pipeline settles.
      stop.abort(err);
      reject.call(query, err);
    };
  }
  try {
    const writable = await query.writable();
    await Promise.race([
      pipeline(
        Readable.fromWeb(rows as unknown as import("node:stream/web").ReadableStream),
        writable,
        { signal: stop.signal },
      ).catch((err) => {
        // An abort caused by the driver's failure reports that failure, not the AbortError.
        throw stop.signal.aborted ? stop.signal.reason : err;
      }),
      driverFailed,
    ]);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

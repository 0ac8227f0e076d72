/**
 * Batches postgres.js COPY output. postgres.js emits one chunk per row (one CopyData message
 * per row), and handing 100-byte chunks one by one to gzip, age and the store costs more
 * than the work itself; so rows are copied into large buffers and handed on one buffer at a
 * time, in order.
 *
 * The COPY stream is never paused. Under Deno, pausing and resuming a postgres.js COPY
 * stream can leave its socket paused for good (the server then blocks in ClientWrite and the
 * export hangs; reproduced here about one run in three). Memory is bounded instead by the
 * size of each COPY statement: table_copy.ts reads big tables in slices of pages, one
 * statement per slice, and waits for each slice's batches before starting the next.
 * @module
 */

/** The node:stream Readable postgres.js returns from `.readable()` (only what we use). */
export interface CopyReadable {
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "end", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  destroy(err?: Error): unknown;
}

/** Default batch: large enough that per-batch costs vanish, small enough to bound memory. */
export const DEFAULT_BATCH_BYTES = 1024 * 1024;

/**
 * A batch handler: receives whole rows only (a batch never ends mid-row), strictly in order;
 * the next batch is handed on only after the previous one's promise settles. A rejection
 * stops the copy.
 */
export type BatchHandler = (batch: Uint8Array, rows: number) => void | Promise<void>;

/**
 * Reads a COPY stream to its end, calling `onBatch` with buffers of about `batchBytes`.
 * Resolves with the total rows and bytes once every batch has been handled.
 */
export function consumeCopy(
  stream: CopyReadable,
  onBatch: BatchHandler,
  batchBytes = DEFAULT_BATCH_BYTES,
): Promise<{ rows: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    let buf = new Uint8Array(batchBytes);
    let used = 0;
    let rows = 0;
    let totalRows = 0;
    let totalBytes = 0;
    let chain: Promise<void> = Promise.resolve();
    let failed = false;

    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      stream.destroy();
      reject(err);
    };
    const hand = (batch: Uint8Array, n: number) => {
      chain = chain.then(() => (failed ? undefined : onBatch(batch, n)));
      chain.catch(fail);
    };
    const flush = () => {
      if (used === 0) return;
      hand(buf.subarray(0, used), rows);
      buf = new Uint8Array(batchBytes); // the handed batch may still be in use downstream
      used = 0;
      rows = 0;
    };

    stream.on("data", (chunk: Uint8Array) => {
      if (failed) return;
      // A row is one CopyData message; count it only when it ends with the row terminator,
      // so a (hypothetically) split message is never cut into two batches.
      const isRowEnd = chunk.length > 0 && chunk[chunk.length - 1] === 10;
      totalBytes += chunk.length;
      if (used + chunk.length > batchBytes && used > 0 && rows > 0) flush();
      if (chunk.length > batchBytes && used === 0) {
        // A huge row (TOASTed values): hand it on as its own batch.
        if (isRowEnd) totalRows++;
        hand(chunk.slice(), isRowEnd ? 1 : 0);
        return;
      }
      if (used + chunk.length > buf.length) {
        const bigger = new Uint8Array(used + chunk.length);
        bigger.set(buf.subarray(0, used));
        buf = bigger;
      }
      buf.set(chunk, used);
      used += chunk.length;
      if (isRowEnd) {
        rows++;
        totalRows++;
      }
    });
    stream.on("error", fail);
    stream.on("end", () => {
      flush();
      chain.then(() => {
        if (!failed) resolve({ rows: totalRows, bytes: totalBytes });
      }, fail);
    });
  });
}

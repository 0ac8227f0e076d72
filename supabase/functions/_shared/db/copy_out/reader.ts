/**
 * Reads `COPY … TO STDOUT` in batches of whole rows, through a {@linkcode CopyOutSocket} when
 * the connection has one (bulk: no per-row objects), else through postgres.js's own COPY
 * stream. Batches go to a {@linkcode BatchQueue}, which runs the handler one batch at a time
 * in order while the next statement may already be reading: the caller bounds memory by
 * waiting for the queue to fall below a size before it starts another statement.
 *
 * postgres.js's COPY stream is never paused: under Deno, pausing and resuming it could leave
 * the socket paused for good (server in ClientWrite, export hung). On plain TCP the bulk path
 * bounds memory by pausing the connection itself, below postgres.js, while too many read
 * bytes wait in the queue (`pauseAtBytes`). Over TLS (Deno's node:tls does not stop reading
 * when paused) and on the per-row path, memory is bounded by statement size instead
 * (table_copy.ts reads big tables in slices there).
 * @module
 */
import type { Tx } from "../tx.ts";
import type { CopyOutSocket, CopySink } from "./socket.ts";
import { releaseOwned } from "../../release.ts";

/** Receives whole rows only (a batch never ends mid-row), strictly in order. */
export type BatchHandler = (batch: Uint8Array, rows: number) => void | Promise<void>;

/** Default batch: large enough that per-batch costs vanish, small enough to bound memory. */
export const DEFAULT_BATCH_BYTES = 1024 * 1024;

/**
 * Room beyond the batch size in each batch buffer, for the socket read that crosses it (a
 * read is at most 64 KiB): without it nearly every batch outgrew its buffer and was copied
 * into one twice the size.
 */
const BATCH_SLACK = 64 * 1024;

/** Runs a handler over batches one at a time, in order, and tracks the bytes waiting. */
export class BatchQueue {
  #handler: BatchHandler;
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;
  #failure: { err: unknown } | null = null;
  #waiters: (() => void)[] = [];

  constructor(handler: BatchHandler) {
    this.#handler = handler;
  }

  /** Bytes handed in whose handler has not finished yet. */
  get pendingBytes(): number {
    return this.#pending;
  }

  /** Throws the handler's first failure, if any. */
  check(): void {
    if (this.#failure) throw this.#failure.err;
  }

  /** Queues a batch. */
  push(batch: Uint8Array, rows: number): void {
    if (this.#failure) return;
    // Counted by the length at push: a handler may free the batch (release.ts) once used.
    const bytes = batch.length;
    this.#pending += bytes;
    this.#chain = this.#chain.then(async () => {
      try {
        if (!this.#failure) await this.#handler(batch, rows);
      } catch (err) {
        this.#failure ??= { err };
      } finally {
        this.#pending -= bytes;
        for (const w of this.#waiters.splice(0)) w();
      }
    });
  }

  /** Resolves once fewer than `bytes` are pending; rejects with the handler's failure. */
  async below(bytes: number): Promise<void> {
    while (this.#pending >= bytes && !this.#failure) await new Promise<void>((r) => this.#waiters.push(r));
    this.check();
  }

  /** Resolves once every queued batch is handled; rejects with the handler's failure. */
  async drain(): Promise<void> {
    await this.#chain;
    this.check();
  }
}

/** Cuts row bytes into batches of about `batchBytes` (whole rows) and queues them. */
class Batcher implements CopySink {
  rows = 0;
  bytes = 0;
  /** Set when the reader gave up (cancelled): the rest of the statement's rows are dropped. */
  discard = false;
  #buf: Uint8Array;
  #used = 0;
  #batchRows = 0;
  #size: number;
  #queue: BatchQueue;
  #done: (rows: number | null) => void = () => {};
  /** Called after each batch is queued (the bulk path's flow control hooks in here). */
  onQueued: () => void = () => {};
  /** Resolves with the row count the server reported for the COPY (null if none). */
  readonly finishedPromise: Promise<number | null>;

  constructor(queue: BatchQueue, batchBytes: number) {
    this.#size = batchBytes;
    this.#buf = new Uint8Array(batchBytes + BATCH_SLACK);
    this.#queue = queue;
    this.finishedPromise = new Promise((r) => (this.#done = r));
  }

  data(chunk: Uint8Array, start: number, end: number, rows: number, lastRowEnd: number): void {
    if (this.discard) return;
    const len = end - start;
    if (this.#used + len > this.#buf.length) {
      // More than what is left: grow (TOASTed values make rows of many MB).
      const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#used + len));
      bigger.set(this.#buf.subarray(0, this.#used));
      releaseOwned(this.#buf); // never queued: only this batcher held it
      this.#buf = bigger;
    }
    const at = this.#used;
    this.#buf.set(chunk.subarray(start, end), at);
    this.#used += len;
    this.bytes += len;
    this.rows += rows;
    this.#batchRows += rows;
    if (this.#used >= this.#size && lastRowEnd >= 0) {
      // Cut at the last row boundary; the start of the next row moves to a fresh buffer.
      const cut = at + (lastRowEnd - start);
      const rest = this.#buf.subarray(cut, this.#used);
      const tail = rest.length ? rest.slice() : null;
      this.#used = cut;
      this.flush();
      if (tail) {
        if (tail.length > this.#buf.length) this.#buf = new Uint8Array(tail.length);
        this.#buf.set(tail);
        this.#used = tail.length;
      }
    }
  }

  flush(): void {
    if (this.#used === 0 || this.discard) return;
    this.#queue.push(this.#buf.subarray(0, this.#used), this.#batchRows);
    this.#buf = new Uint8Array(this.#size + BATCH_SLACK); // the queued batch is still in use downstream
    this.#used = 0;
    this.#batchRows = 0;
    this.onQueued();
  }

  finished(rows: number | null): void {
    this.#done(rows);
  }
}

/** The node:stream Readable postgres.js returns from `.readable()` (only what we use). */
interface CopyReadable {
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "end", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  resume(): unknown;
  /** postgres.js's read(): resumes the connection's socket. */
  _read?: (size: number) => void;
}

const sockets = new WeakMap<object, CopyOutSocket | null>();

/** The bulk socket under `tx`, found by backend pid; null when the client has none. */
async function socketOf(tx: Tx, registry: Set<CopyOutSocket> | undefined): Promise<CopyOutSocket | null> {
  if (!registry) return null;
  if (sockets.has(tx)) return sockets.get(tx)!;
  const [r] = await tx`select pg_catalog.pg_backend_pid() as pid`;
  let found: CopyOutSocket | null = null;
  for (const s of registry) if (s.pid === Number(r.pid)) found = s;
  sockets.set(tx, found);
  return found;
}

/**
 * Whether {@linkcode copyOut} can bound memory on `tx` by pausing the connection: it reads
 * through a bulk socket whose pause really stops reading (plain TCP, not TLS; see
 * {@linkcode CopyOutSocket.canPause}).
 */
export async function canPauseReading(tx: Tx, registry: Set<CopyOutSocket> | undefined): Promise<boolean> {
  return (await socketOf(tx, registry))?.canPause ?? false;
}

/** Options for {@linkcode copyOut}. */
export interface CopyOutOptions {
  /** The bulk sockets of the client `tx` belongs to (see db.ts); omitted = per-row stream. */
  registry?: Set<CopyOutSocket>;
  batchBytes?: number;
  /**
   * Once this many read bytes wait in the queue, stop reading the connection until half of
   * them are handled (TCP backpressure holds the server). Only where {@linkcode
   * canPauseReading}; omitted = never pause.
   */
  pauseAtBytes?: number;
  signal?: AbortSignal;
}

/**
 * Runs one `COPY … TO STDOUT` statement on `tx` and queues its rows in batches. Resolves with
 * the statement's rows and bytes once all of them are received (not necessarily handled:
 * await `queue.drain()` for that).
 */
export async function copyOut(tx: Tx, statement: string, queue: BatchQueue, opts: CopyOutOptions = {}): Promise<{ rows: number; bytes: number }> {
  const batcher = new Batcher(queue, opts.batchBytes ?? DEFAULT_BATCH_BYTES);
  const socket = await socketOf(tx, opts.registry);
  if (socket) socket.arm(batcher);
  // Flow control on the bulk path pauses the raw connection, below postgres.js, whose COPY
  // stream is never paused (pausing that stream could hang; bench/export/RESULTS.md §4).
  let paused = false;
  const resumeReading = () => {
    if (!paused) return;
    paused = false;
    socket!.resume();
  };
  const pauseAt = opts.pauseAtBytes;
  if (socket?.canPause && pauseAt) {
    batcher.onQueued = () => {
      if (paused || queue.pendingBytes < pauseAt) return;
      paused = true;
      socket.pause();
      // A failed queue resumes too: the rest of the COPY is then read and dropped.
      queue.below(Math.floor(pauseAt / 2)).then(resumeReading, resumeReading);
    };
  }
  let stream: CopyReadable;
  try {
    stream = (await tx.unsafe(statement).readable()) as unknown as CopyReadable;
  } catch (err) {
    socket?.disarm(batcher);
    throw err;
  }
  await new Promise<void>((resolve, reject) => {
    // A cancelled read keeps the socket armed until the server ends the COPY (the socket
    // disarms itself then), dropping rows: handing them to postgres.js unread would pause it.
    const onAbort = () => {
      batcher.discard = true;
      resumeReading();
      reject(opts.signal!.reason ?? new DOMException("export cancelled", "AbortError"));
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort(); // cancelled before the server began the COPY
    const settle = (err?: Error) => {
      opts.signal?.removeEventListener("abort", onAbort);
      socket?.disarm(batcher);
      resumeReading();
      if (err) reject(err);
      else resolve();
    };
    if (!socket) {
      // Per-row fallback: postgres.js emits one chunk per CopyData message (one row).
      stream.on("data", (c: Uint8Array) => {
        const rowEnd = c.length > 0 && c[c.length - 1] === 10;
        batcher.data(c, 0, c.length, rowEnd ? 1 : 0, rowEnd ? c.length : -1);
      });
    } else {
      // Every row must come through the socket; one reaching postgres.js would be lost here.
      stream.on("data", () => {
        batcher.discard = true;
        settle(new Error("COPY rows bypassed the bulk reader: the export stopped rather than lose them (a Lifeboat bug; please report it)"));
      });
    }
    stream.on("error", (err) => settle(err));
    stream.on("end", () => {
      // postgres.js pauses its socket when the stream's buffer is full and resumes it only when
      // the stream is read again; a CopyDone in the same socket chunk ends the stream first, and
      // the socket stays paused: the connection's next query never gets its answer (postgres.js
      // issue #499, PR #1016; seen here as a backup-export invocation hanging after a range
      // COPY on a loaded host). Resuming it once the COPY is over is harmless when it flows.
      if (!socket) stream._read?.(0);
      settle();
    });
    stream.resume();
  });
  if (socket) {
    // The server's own count (CommandComplete `COPY n`) must match what was read.
    const reported = await batcher.finishedPromise;
    if (reported === null || reported !== batcher.rows) {
      throw new Error(
        `the server sent ${reported ?? "an unknown number of"} rows but ${batcher.rows} were read: the export stopped rather than store an incomplete table (a Lifeboat bug; please report it)`,
      );
    }
  }
  batcher.onQueued = () => {}; // the COPY is over: its last batch must not pause what follows
  batcher.flush();
  return { rows: batcher.rows, bytes: batcher.bytes };
}

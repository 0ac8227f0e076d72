/**
 * The long-running shipper (`lifeboat stream run`): passes of {@link shipOnce} back to back,
 * waiting `pollMs` after a pass that caught up, until the signal aborts. A pass that fails
 * (database or store away) is reported and retried after `retryMs` on fresh connections (a
 * pool that lived through a database restart can leave a query unanswered forever), and a pass
 * that runs past `passTimeoutMs` is abandoned the same way: the stream resumes from what it
 * recorded, and the abandoned pass's lease expires.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Store } from "../store/mod.ts";
import { type ShipperHooks, shipOnce, type ShipResult } from "./shipper.ts";
import type { StreamConfig } from "./config.ts";

/** Options of {@link runShipper}. */
export interface RunShipperOptions {
  /** Opens the connections a pass uses; called again after a failed or stuck pass. */
  connect: () => Sql;
  store: Store;
  config: StreamConfig;
  owner: string;
  /** Wait after a pass that caught up (ms). */
  pollMs: number;
  /** Wait after a failed pass (ms). */
  retryMs: number;
  /** A pass running longer than this is abandoned (ms; default 10 minutes). */
  passTimeoutMs?: number;
  signal: AbortSignal;
  onPass?: (r: ShipResult) => void;
  onError?: (err: unknown) => void;
  hooks?: ShipperHooks;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Ships until `signal` aborts. The CLI has no edge budget: only segment size and records bound a pass. */
export async function runShipper(opts: RunShipperOptions): Promise<void> {
  const limits = { ...opts.config.limits, wallMs: null, cpuMs: null };
  const passTimeoutMs = opts.passTimeoutMs ?? 600_000;
  let sql = opts.connect();
  try {
    while (!opts.signal.aborted) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const pass = shipOnce({
          sql,
          store: opts.store,
          owner: opts.owner,
          seal: opts.config.seal,
          signingKey: opts.config.signingKey,
          limits,
          hooks: opts.hooks,
          signal: opts.signal,
        });
        const stuck = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`a pass ran longer than ${passTimeoutMs} ms and was abandoned`)), passTimeoutMs);
        });
        const r = await Promise.race([pass, stuck]);
        opts.onPass?.(r);
        if (r.caughtUp || r.state === "busy") await sleep(opts.pollMs, opts.signal);
      } catch (err) {
        if (opts.signal.aborted) break;
        opts.onError?.(err);
        const old = sql;
        old.end({ timeout: 0 }).catch(() => {});
        await sleep(opts.retryMs, opts.signal);
        sql = opts.connect();
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
}

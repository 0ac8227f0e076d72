/**
 * The long-running shipper (`lifeboat stream run`): passes of {@link shipOnce} back to back,
 * waiting `pollMs` after a pass that caught up, until the signal aborts. A pass that fails
 * (database or store away) is reported and retried after `retryMs`: the stream resumes from
 * what it recorded.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Store } from "../store/mod.ts";
import { type ShipperHooks, shipOnce, type ShipResult } from "./shipper.ts";
import type { StreamConfig } from "./config.ts";

/** Options of {@link runShipper}. */
export interface RunShipperOptions {
  sql: Sql;
  store: Store;
  config: StreamConfig;
  owner: string;
  /** Wait after a pass that caught up (ms). */
  pollMs: number;
  /** Wait after a failed pass (ms). */
  retryMs: number;
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
  while (!opts.signal.aborted) {
    try {
      const r = await shipOnce({
        sql: opts.sql,
        store: opts.store,
        owner: opts.owner,
        seal: opts.config.seal,
        signingKey: opts.config.signingKey,
        limits,
        hooks: opts.hooks,
        signal: opts.signal,
      });
      opts.onPass?.(r);
      if (r.caughtUp || r.state === "busy") await sleep(opts.pollMs, opts.signal);
    } catch (err) {
      if (opts.signal.aborted) break;
      opts.onError?.(err);
      await sleep(opts.retryMs, opts.signal);
    }
  }
}

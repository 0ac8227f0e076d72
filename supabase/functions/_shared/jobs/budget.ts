/**
 * The per-invocation budget: wall time, CPU time and bytes read. Before each part the
 * invocation asks whether the part is predicted to fit, from the rates measured on the parts
 * it already did; the first part always runs, so every invocation makes progress.
 *
 * CPU time: the platform counts the CPU of the isolate's own thread, excluding time spent
 * waiting on I/O (supabase/edge-runtime `crates/cpu_timer`: a `CLOCK_THREAD_CPUTIME_ID` timer
 * on the worker thread), so work the runtime does on other threads (WebCrypto digests on the
 * blocking pool, GC helper threads) does not count. {@link isolateCpuMs} reads the JS thread's
 * CPU with `process.threadCpuUsage()` (node:process) where the runtime has it; else
 * `process.cpuUsage()`, the whole process: an upper bound, so the budget errs on the safe
 * side. Where neither is available, CPU is estimated from the bytes processed at
 * {@link FALLBACK_CPU_NS_PER_BYTE} (measured, see bench/edge-export/RESULTS.md).
 * @module
 */
import process from "node:process";
import type { Budget } from "./config.ts";

/** CPU nanoseconds per plain byte assumed when the runtime cannot report CPU time. */
export const FALLBACK_CPU_NS_PER_BYTE = 25;
/** Predictions are inflated by this factor: parts vary, and overrunning costs the invocation. */
const SAFETY = 1.3;

/** Why an invocation stopped taking parts. */
export type StopReason = "wall" | "cpu" | "bytes";

type CpuUsage = () => { user: number; system: number };

/** The runtime's CPU readers, the JS thread's first (absent from older runtimes). */
const cpuReaders: CpuUsage[] = [
  (process as unknown as { threadCpuUsage?: CpuUsage }).threadCpuUsage,
  process.cpuUsage,
].filter((f): f is CpuUsage => typeof f === "function").map((f) => f.bind(process));

/**
 * CPU milliseconds the JavaScript thread has used (what the platform's CPU limit counts), or
 * the whole process's where the runtime cannot tell threads apart, or null where it reports
 * neither. Readings from one process are comparable with each other only.
 */
export function isolateCpuMs(): number | null {
  for (const read of cpuReaders) {
    try {
      const u = read();
      return (u.user + u.system) / 1000;
    } catch {
      // not implemented by this runtime: try the next reader
    }
  }
  return null;
}

/** Tracks what an invocation has spent against its {@link Budget}. */
export class BudgetMeter {
  readonly limits: Budget;
  #t0: number;
  #cpu0: number | null;
  #now: () => number;
  #cpu: () => number | null;
  #bytes = 0;
  // Rates come from data parts only: schema scripts cost time out of proportion to their size.
  #dataBytes = 0;
  #dataEst = 0;
  #dataMs = 0;
  #dataCpuMs = 0;
  #dataParts = 0;
  #minPartMs = Infinity;
  #minPartCpuMs = Infinity;
  #peakRss = 0;
  #peakHeap = 0;

  constructor(limits: Budget, clock: { now?: () => number; cpuMs?: () => number | null } = {}) {
    this.limits = limits;
    this.#now = clock.now ?? (() => performance.now());
    this.#cpu = clock.cpuMs ?? isolateCpuMs;
    this.#t0 = this.#now();
    this.#cpu0 = this.#cpu();
    this.sampleMemory();
  }

  /** Wall milliseconds since the invocation started. */
  wallMs(): number {
    return this.#now() - this.#t0;
  }

  /** CPU milliseconds used so far (measured, or estimated from bytes). */
  cpuMs(): number {
    const c = this.#cpu();
    if (c !== null && this.#cpu0 !== null) return c - this.#cpu0;
    return (this.#bytes * FALLBACK_CPU_NS_PER_BYTE) / 1e6;
  }

  /** Plain bytes read so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Highest resident set size seen, in bytes (0 where the runtime does not report it). */
  get peakRss(): number {
    return this.#peakRss;
  }

  /** Highest JS heap plus external (ArrayBuffer) memory seen, in bytes. */
  get peakHeap(): number {
    return this.#peakHeap;
  }

  /**
   * Records a finished part: its plain bytes, its planned (on-disk) estimate, and the wall
   * and CPU milliseconds it took. `estBytes` is null for schema objects.
   */
  record(w: { plainBytes: number; estBytes: number | null; wallMs: number; cpuMs: number }): void {
    this.#bytes += w.plainBytes;
    if (w.estBytes !== null && w.plainBytes > 0) {
      this.#dataBytes += w.plainBytes;
      this.#dataEst += Math.max(w.estBytes, 1);
      this.#dataMs += w.wallMs;
      this.#dataCpuMs += w.cpuMs;
      this.#dataParts++;
      this.#minPartMs = Math.min(this.#minPartMs, w.wallMs);
      this.#minPartCpuMs = Math.min(this.#minPartCpuMs, w.cpuMs);
    }
    this.sampleMemory();
  }

  /** Samples memory use (called around every part). */
  sampleMemory(): void {
    try {
      const m = Deno.memoryUsage();
      this.#peakRss = Math.max(this.#peakRss, m.rss);
      // What the isolate holds: the JS heap plus ArrayBuffers (COPY batches, upload buffers).
      this.#peakHeap = Math.max(this.#peakHeap, m.heapUsed + m.external);
    } catch {
      // Not reported by this runtime.
    }
  }

  /**
   * Cost of a part of `plain` bytes as a fixed cost per part (approximated by the cheapest
   * part seen) plus a cost per byte (the rest, spread over the bytes): small parts are
   * dominated by the first, big ones by the second.
   */
  #predict(total: number, minPart: number, plain: number): number {
    const fixed = Math.min(minPart, total / this.#dataParts);
    const perByte = Math.max(0, total - fixed * this.#dataParts) / this.#dataBytes;
    return (fixed + perByte * plain) * SAFETY;
  }

  /**
   * Whether a part estimated at `estBytes` (planned, on-disk) is predicted to fit. Returns
   * null if it fits, else which limit it would break.
   */
  wouldExceed(estBytes: number): StopReason | null {
    const wall = this.wallMs(), cpu = this.cpuMs();
    if (wall >= this.limits.wallMs) return "wall";
    if (cpu >= this.limits.cpuMs) return "cpu";
    if (this.#bytes >= this.limits.bytes) return "bytes";
    if (this.#dataBytes === 0) return null; // no data part measured yet: it always runs
    const plain = estBytes * (this.#dataBytes / this.#dataEst) * SAFETY;
    if (this.#bytes + plain > this.limits.bytes) return "bytes";
    if (wall + this.#predict(this.#dataMs, this.#minPartMs, plain) > this.limits.wallMs) return "wall";
    if (cpu + this.#predict(this.#dataCpuMs, this.#minPartCpuMs, plain) > this.limits.cpuMs) return "cpu";
    return null;
  }
}

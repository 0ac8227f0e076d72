/**
 * Progress of an export, as the engine reports it: totals so far and an estimate of the
 * whole, for a progress bar or JSON lines.
 * @module
 */

/** A progress report. */
export interface ExportProgress {
  phase: "schema" | "data" | "finishing" | "done";
  /** Plain (uncompressed COPY) bytes read so far. */
  bytes: number;
  rows: number;
  /** Bytes confirmed by the store so far. */
  storedBytes: number;
  tablesDone: number;
  tablesTotal: number;
  /** Estimated plain bytes of the whole export (improves as tables finish). */
  estimatedBytes: number;
  elapsedMs: number;
  /** Seconds left, once there is enough to estimate from. */
  etaSeconds: number | null;
}

/** Accumulates per-table progress into {@link ExportProgress} reports. */
export class ProgressTracker {
  #t0 = Date.now();
  #phase: ExportProgress["phase"] = "schema";
  #bytes = 0;
  #rows = 0;
  #stored = 0;
  #done = 0;
  #total: number;
  /** Per table: estimated size until done, then actual. */
  #est = new Map<number, { est: number; read: number; done: boolean }>();

  constructor(tables: { oid: number; sizeBytes: number }[]) {
    this.#total = tables.length;
    for (const t of tables) this.#est.set(t.oid, { est: Math.max(t.sizeBytes, 1), read: 0, done: false });
  }

  phase(p: ExportProgress["phase"]) {
    this.#phase = p;
  }
  read(oid: number, bytes: number, rows: number) {
    this.#bytes += bytes;
    this.#rows += rows;
    const e = this.#est.get(oid);
    if (e) e.read += bytes;
  }
  stored(bytes: number) {
    this.#stored += bytes;
  }
  tableDone(oid: number) {
    this.#done++;
    const e = this.#est.get(oid);
    if (e) e.done = true;
  }

  /** The current report. */
  snapshot(): ExportProgress {
    let estimated = 0;
    for (const e of this.#est.values()) estimated += e.done ? e.read : Math.max(e.est, e.read);
    const elapsedMs = Date.now() - this.#t0;
    const eta = this.#bytes > 0 && elapsedMs > 1000 && estimated > this.#bytes
      ? Math.round(((estimated - this.#bytes) / this.#bytes) * (elapsedMs / 1000))
      : this.#phase === "done" ? 0 : null;
    return {
      phase: this.#phase,
      bytes: this.#bytes,
      rows: this.#rows,
      storedBytes: this.#stored,
      tablesDone: this.#done,
      tablesTotal: this.#total,
      estimatedBytes: Math.max(estimated, this.#bytes),
      elapsedMs,
      etaSeconds: eta,
    };
  }
}

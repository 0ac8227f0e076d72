/**
 * Progress output for restore and drill: a one-line bar on a terminal, JSON lines otherwise.
 * Both go to stderr so stdout carries only the final report.
 * @module
 */
import type { RestoreEvent } from "../../supabase/functions/_shared/restore/mod.ts";

function mb(n: number): string {
  return `${(n / 1048576).toFixed(1)} MB`;
}

/** A progress sink: call with each event, then `end()`. */
export interface ProgressSink {
  (e: RestoreEvent): void;
  end(): void;
}

/** Creates the sink: bar when `tty`, JSON lines otherwise. Data events are throttled. */
export function progressSink(tty: boolean, write: (s: string) => void = (s) => Deno.stderr.writeSync(new TextEncoder().encode(s))): ProgressSink {
  let last = 0;
  let started = 0;
  let barShown = false;
  const sink = ((e: RestoreEvent) => {
    const now = performance.now();
    if (e.event === "phase") {
      if (tty) {
        if (barShown) write("\n");
        barShown = false;
        write(`lifeboat: ${e.phase}${e.detail ? ` (${e.detail})` : ""}\n`);
      } else write(`${JSON.stringify({ ts: new Date().toISOString(), ...e })}\n`);
      if (e.phase === "data") started = now;
      return;
    }
    const final = e.partsDone === e.partsTotal;
    if (!final && now - last < (tty ? 200 : 1000)) return;
    last = now;
    if (!tty) {
      write(`${JSON.stringify({ ts: new Date().toISOString(), ...e })}\n`);
      return;
    }
    const frac = e.bytesTotal > 0 ? Math.min(1, e.bytesDone / e.bytesTotal) : 1;
    const width = 30;
    const fill = Math.round(frac * width);
    const elapsed = (now - started) / 1000;
    const eta = frac > 0 && frac < 1 ? Math.round(elapsed / frac - elapsed) : 0;
    write(`\r[${"#".repeat(fill)}${".".repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(e.bytesDone)}/${
      mb(e.bytesTotal)} ${e.rowsDone}/${e.rowsTotal} rows ${e.partsDone}/${e.partsTotal} parts ETA ${eta}s   `);
    barShown = true;
  }) as ProgressSink;
  sink.end = () => {
    if (tty && barShown) write("\n");
  };
  return sink;
}

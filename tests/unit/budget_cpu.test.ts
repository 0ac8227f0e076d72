// The CPU meter of every invocation budget (supabase/functions/_shared/jobs/budget.ts) reads
// the JavaScript thread's CPU, as the platform's CPU limit does (a per-thread timer on the
// isolate's thread): work on the thread counts, work the runtime does on other threads (a
// WebCrypto digest on the blocking pool) does not, while the whole process's CPU includes it.
import assert from "node:assert/strict";
import process from "node:process";
import { BudgetMeter, isolateCpuMs } from "../../supabase/functions/_shared/jobs/mod.ts";

const processCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** The readers' granularity on Linux (ticks): differences below this are noise. */
const TICK_MS = 20;
const LIMITS = { wallMs: 60_000, cpuMs: 1_500, bytes: 1 << 30 };

Deno.test("the meter reads the JS thread's CPU, and a busy loop on the thread counts", () => {
  assert.equal(typeof (process as unknown as { threadCpuUsage?: unknown }).threadCpuUsage, "function",
    "this runtime has process.threadCpuUsage: the meter must use it");
  const meter = new BudgetMeter(LIMITS);
  const t0 = isolateCpuMs()!, p0 = processCpuMs();
  // Spin until the thread has used 200 ms of CPU (a loaded host gives it less per wall second).
  const deadline = performance.now() + 30_000;
  let spins = 0;
  while (isolateCpuMs()! - t0 < 200 && performance.now() < deadline) spins++;
  const thread = isolateCpuMs()! - t0, proc = processCpuMs() - p0;
  assert.ok(spins > 0);
  assert.ok(thread >= 200, `the busy loop's 200 ms of CPU were not seen within 30 s (${thread} ms)`);
  assert.ok(thread <= proc + TICK_MS, `the thread (${thread} ms) cannot use more CPU than its process (${proc} ms)`);
  assert.ok(meter.cpuMs() >= 200, `the budget counts the loop (${meter.cpuMs()} ms)`);
});

Deno.test("a WebCrypto digest of 256 MiB, hashed on another thread, costs the JS thread far less than the process", async () => {
  const chunk = new Uint8Array(4 << 20);
  crypto.getRandomValues(chunk.subarray(0, 65536));
  chunk.fill(1, 65536); // touch every page before measuring
  await crypto.subtle.digest("SHA-256", chunk); // the runtime's first digest sets its pool up
  const t0 = isolateCpuMs()!, p0 = processCpuMs();
  const inFlight: Promise<ArrayBuffer>[] = [];
  for (let i = 0; i < 64; i++) {
    inFlight.push(crypto.subtle.digest("SHA-256", chunk)); // copies the input, hashes elsewhere
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const thread = isolateCpuMs()! - t0, proc = processCpuMs() - p0;
  // sha256 costs about 0.6 s of CPU per GiB somewhere: 256 MiB is ~150 ms of process CPU. The
  // JS thread pays for copying the inputs only (measured 40-120 ms against 230-310 ms).
  assert.ok(proc >= 100, `hashing 256 MiB used only ${proc} ms of process CPU: the measurement is broken`);
  assert.ok(thread < proc * 0.6, `the JS thread was charged ${thread} ms of the digests' ${proc} ms`);
});

/**
 * Benchmark: CPU per GiB of reading objects from the stack's RGW through the S3 driver, with
 * and without sha256, the default way (`store.get`, a fresh 64 KiB buffer per chunk) and the
 * way verification reads (`store.get(key, { byteStream: true })` through `readEach`: a BYOB
 * read into one reused buffer), hashed as it streams (node:crypto) or read whole and hashed
 * by WebCrypto on another thread (`hashObject` with `WholeObjectBuffers`). For each: the JS
 * thread's CPU (what the platform limits and the edge functions' budget counts), the whole
 * process's CPU, and the wall-clock throughput, side by side (bench/verify/RESULTS.md).
 *
 * Usage: deno run -A bench/verify/read_cpu.ts [--objects 48] [--rounds 2]   (stack env exported, S3 running)
 * @module
 */
import { createHash } from "node:crypto";
import process from "node:process";
import { removeTestTargets, testTarget } from "../../harness/edge_export.ts";
import { hashObject, readEach, WholeObjectBuffers } from "../../supabase/functions/_shared/verify/mod.ts";
import { isolateCpuMs } from "../../supabase/functions/_shared/jobs/mod.ts";

const processCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const arg = (name: string, d: number) => (Deno.args.includes(name) ? Number(Deno.args[Deno.args.indexOf(name) + 1]) : d);
const N = arg("--objects", 48), ROUNDS = arg("--rounds", 2), SIZE = 8 * 1048576, CONCURRENCY = 4;
const { store } = testTarget("read-cpu");
try {
  const body = new Uint8Array(SIZE);
  for (let o = 0; o < SIZE; o += 65536) crypto.getRandomValues(body.subarray(o, o + 65536));
  const want = createHash("sha256").update(body).digest("hex");
  await Promise.all(Array.from({ length: N }, (_, i) => store.put(`o${i}`, body)));

  const buffers = new WholeObjectBuffers();
  const results: Record<string, { thread: number[]; process: number[]; mibS: number[] }> = {};
  const run = async (name: string, read: (key: string) => Promise<void>) => {
    const c0 = isolateCpuMs()!, p0 = processCpuMs(), t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) await read(`o${next++}`);
    }));
    const gib = (N * SIZE) / 2 ** 30;
    const r = results[name] ??= { thread: [], process: [], mibS: [] };
    r.thread.push(Math.round((isolateCpuMs()! - c0) / gib));
    r.process.push(Math.round((processCpuMs() - p0) / gib));
    r.mibS.push(Math.round((N * SIZE) / 1048576 / ((performance.now() - t0) / 1000)));
    console.error(`${name}: ${r.thread.at(-1)} ms JS-thread CPU/GiB, ${r.process.at(-1)} ms process CPU/GiB, ${r.mibS.at(-1)} MiB/s`);
  };
  const check = (h: ReturnType<typeof createHash>, n: number) => {
    if (n !== SIZE || h.digest("hex") !== want) throw new Error("read the wrong bytes");
  };
  for (let r = 0; r < ROUNDS; r++) {
    await run("default reader, drain", async (k) => {
      for await (const _ of await store.get(k));
    });
    await run("default reader, sha256", async (k) => {
      const h = createHash("sha256");
      let n = 0;
      for await (const c of await store.get(k)) {
        h.update(c);
        n += c.byteLength;
      }
      check(h, n);
    });
    await run("byte stream + readEach, drain", async (k) => {
      await readEach(await store.get(k, { byteStream: true }), () => {});
    });
    await run("byte stream + readEach, sha256", async (k) => {
      const h = createHash("sha256");
      check(h, await readEach(await store.get(k, { byteStream: true }), (c) => h.update(c)));
    });
    await run("byte stream read whole, WebCrypto sha256", async (k) => {
      const got = await hashObject(await store.get(k, { byteStream: true }), { expectedSize: SIZE, probe: 0, buffers });
      if (got.size !== SIZE || got.sha256 !== want) throw new Error("read the wrong bytes");
    });
  }
  const c0 = isolateCpuMs()!;
  const h = createHash("sha256");
  for (let i = 0; i < 16; i++) for (let o = 0; o < SIZE; o += 65536) h.update(body.subarray(o, o + 65536));
  h.digest();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(JSON.stringify({
    objects: N, object_mib: SIZE / 1048576, concurrency: CONCURRENCY, rounds: ROUNDS,
    // JS-thread CPU, process CPU (ms per GiB) and MiB/s, medians of the rounds.
    js_thread_cpu_ms_per_gib: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v.thread)])),
    process_cpu_ms_per_gib: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v.process)])),
    mib_per_s: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v.mibS)])),
    sha256_alone_cpu_ms_per_gib: Math.round((isolateCpuMs()! - c0) / ((16 * SIZE) / 2 ** 30)),
  }, null, 2));
} finally {
  await removeTestTargets();
}

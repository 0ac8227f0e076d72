/**
 * Benchmark: CPU per GiB of reading objects from the stack's RGW through the S3 driver, with
 * and without sha256, the default way (`store.get`, a fresh 64 KiB buffer per chunk) and the
 * way verification reads (`store.get(key, { byteStream: true })` through `readEach`: a BYOB
 * read into one reused buffer). CPU is `process.cpuUsage()` of this process, as the edge
 * functions' budget counts it (bench/verify/RESULTS.md).
 *
 * Usage: deno run -A bench/verify/read_cpu.ts [--objects 48] [--rounds 2]   (stack env exported, S3 running)
 * @module
 */
import { createHash } from "node:crypto";
import { removeTestTargets, testTarget } from "../../harness/edge_export.ts";
import { readEach } from "../../supabase/functions/_shared/verify/mod.ts";
import { isolateCpuMs } from "../../supabase/functions/_shared/jobs/mod.ts";

const arg = (name: string, d: number) => (Deno.args.includes(name) ? Number(Deno.args[Deno.args.indexOf(name) + 1]) : d);
const N = arg("--objects", 48), ROUNDS = arg("--rounds", 2), SIZE = 8 * 1048576, CONCURRENCY = 4;
const { store } = testTarget("read-cpu");
try {
  const body = new Uint8Array(SIZE);
  for (let o = 0; o < SIZE; o += 65536) crypto.getRandomValues(body.subarray(o, o + 65536));
  const want = createHash("sha256").update(body).digest("hex");
  await Promise.all(Array.from({ length: N }, (_, i) => store.put(`o${i}`, body)));

  const results: Record<string, number[]> = {};
  const run = async (name: string, read: (key: string) => Promise<void>) => {
    const c0 = isolateCpuMs()!, t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) await read(`o${next++}`);
    }));
    const gib = (N * SIZE) / 2 ** 30;
    (results[name] ??= []).push(Math.round((isolateCpuMs()! - c0) / gib));
    console.error(`${name}: ${results[name].at(-1)} ms CPU/GiB, ${((N * SIZE) / 1048576 / ((performance.now() - t0) / 1000)).toFixed(0)} MiB/s`);
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
  }
  const c0 = isolateCpuMs()!;
  const h = createHash("sha256");
  for (let i = 0; i < 16; i++) for (let o = 0; o < SIZE; o += 65536) h.update(body.subarray(o, o + 65536));
  h.digest();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(JSON.stringify({
    objects: N, object_mib: SIZE / 1048576, concurrency: CONCURRENCY, rounds: ROUNDS,
    cpu_ms_per_gib: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])),
    sha256_alone_cpu_ms_per_gib: Math.round((isolateCpuMs()! - c0) / ((16 * SIZE) / 2 ** 30)),
  }, null, 2));
} finally {
  await removeTestTargets();
}

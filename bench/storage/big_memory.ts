/**
 * Where the files backup's big-file path holds memory: one file of the source project
 * (`bench-big/big.bin`, as bench/storage/tool.ts generates it) read through the Storage API
 * and taken through one stage more per mode, printing peak RSS and the peak of V8's `external`
 * (array buffers) per mode:
 * - `read`: download and hash (the backup's first read);
 * - `put`: download, put into the store as it is (5 MiB parts, 2 in flight, as the CLI);
 * - `seal`: download, zstd + age, then nowhere (sealed chunks dropped);
 * - `backup`: download, zstd + age, put (the backup's second read).
 * Usage: `deno run -A bench/storage/big_memory.ts MODE s3://BUCKET/prefix`, with the stack's
 * env, LIFEBOAT_STORAGE_URL/KEY and an age recipient in LIFEBOAT_BENCH_RECIPIENT.
 * @module
 */
import { StorageApi } from "../../supabase/functions/_shared/source/storage/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { sealStream } from "../../supabase/functions/_shared/crypto/mod.ts";
import { handOverChunk, releaseChunk } from "../../supabase/functions/_shared/release.ts";

const [mode, spec] = Deno.args;
const env = (n: string) => Deno.env.get(n) ?? (() => { throw new Error(`${n} is not set`); })();
const api = new StorageApi({ url: env("LIFEBOAT_STORAGE_URL"), key: env("LIFEBOAT_STORAGE_KEY") });
const store = openStore(spec, { tuning: { uploadConcurrency: 2, uploadChunkBytes: 5 * 1024 * 1024 } });
const seal = { recipients: [env("LIFEBOAT_BENCH_RECIPIENT")], compression: "zstd" as const };
let peakRss = 0, peakExt = 0;
const sample = () => {
  const m = Deno.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakExt = Math.max(peakExt, m.external);
};
const timer = setInterval(sample, 20);
const start = Deno.memoryUsage().rss;
const d = await api.download("bench-big", "big.bin");
if (!d) throw new Error("no bench-big/big.bin: run bench/storage/tool.ts generate first");
const handed = () => new TransformStream<Uint8Array, Uint8Array>({ transform: (c, ctl) => ctl.enqueue(handOverChunk(c)) });
if (mode === "read") {
  for await (const c of d.body) releaseChunk(c);
} else if (mode === "put") {
  await store.put("big-memory/x", d.body.pipeThrough(handed()));
} else if (mode === "seal") {
  for await (const _ of await sealStream(d.body.pipeThrough(handed()), seal)) sample();
} else if (mode === "backup") {
  await store.put("big-memory/x", await sealStream(d.body.pipeThrough(handed()), seal));
} else throw new Error(`mode ${mode}?`);
clearInterval(timer);
sample();
await store.delete("big-memory/x").catch(() => {});
console.log(`${mode}: RSS at start ${(start / 1e6).toFixed(0)} MB, peak ${(peakRss / 1e6).toFixed(0)} MB, peak external ${(peakExt / 1e6).toFixed(0)} MB`);

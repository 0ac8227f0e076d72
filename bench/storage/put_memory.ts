/**
 * Peak RSS of one streamed store put, alone (what the files backup's big-file path costs on
 * top of the CLI): `deno run -A bench/storage/put_memory.ts s3://BUCKET/prefix MIB` with the
 * LIFEBOAT_S3_* variables of the stack (.lifeboat/s3.env). Streams MIB MiB of 64 KiB chunks,
 * handed over as the backup hands its download chunks over (release.ts), into the store with
 * the CLI's tuning (5 MiB parts, 2 in flight), prints RSS at start and peak, deletes the object.
 * @module
 */
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { handOverChunk } from "../../supabase/functions/_shared/release.ts";

const [spec, mib] = Deno.args;
if (!spec || !mib) {
  console.error("usage: put_memory.ts s3://BUCKET/prefix MIB");
  Deno.exit(2);
}
const store = openStore(spec, { tuning: { uploadConcurrency: 2, uploadChunkBytes: 5 * 1024 * 1024 } });
const start = Deno.memoryUsage().rss;
let peak = start;
let left = Number(mib) * 1024 * 1024;
const source = new ReadableStream<Uint8Array>({
  pull(ctl) {
    if (left <= 0) return ctl.close();
    const b = new Uint8Array(65536);
    left -= b.length;
    ctl.enqueue(handOverChunk(b));
    peak = Math.max(peak, Deno.memoryUsage().rss);
  },
});
await store.put("put-memory/x.bin", source);
await store.delete("put-memory/x.bin");
console.log(`${mib} MiB streamed: RSS at start ${(start / 1e6).toFixed(0)} MB, peak ${(peak / 1e6).toFixed(0)} MB`);

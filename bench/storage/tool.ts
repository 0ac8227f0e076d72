/**
 * The files benchmark's helpers (bench/storage/run.sh drives them):
 * - `generate N SIZE BIG_MB`: buckets `bench-small` (N random files of SIZE bytes) and
 *   `bench-big` (one random file of BIG_MB MiB, uploaded as a stream) in the source project;
 *   skipped when already there;
 * - `plain-backup STORE`: the anchor: every object of both buckets read through the Storage
 *   API and put into STORE as it is (no compression, no encryption), 8 at a time, like the
 *   backup's pool; the big file streamed (multipart), with the same bounded memory (buffers
 *   freed once consumed, release.ts);
 * - `plain-restore STORE URL KEY`: the anchor the other way: every object of STORE uploaded
 *   into the project at URL (buckets `plain-small`, `plain-big`), 8 at a time, streamed;
 * - `drop URL KEY BUCKET...`: empties and deletes buckets; `empty STORE`: deletes every object of a store.
 * Reads LIFEBOAT_STORAGE_URL, LIFEBOAT_STORAGE_KEY, SUPABASE_DB_URL and the LIFEBOAT_S3_* variables.
 * @module
 */
import postgres from "postgres";
import { runPool, StorageApi } from "../../supabase/functions/_shared/source/storage/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { handOverChunk, releaseOwned } from "../../supabase/functions/_shared/release.ts";

const env = (n: string) => Deno.env.get(n) ?? (() => { throw new Error(`${n} is not set`); })();
// The project as the CLI reaches it in this benchmark (run.sh sets LIFEBOAT_STORAGE_URL and
// LIFEBOAT_STORAGE_KEY): its gateway with the secret key, or with LIFEBOAT_STORAGE_DIRECT=1
// the Storage server directly with the service_role JWT.
const direct = Deno.env.get("LIFEBOAT_STORAGE_DIRECT") === "1";
const sourceApi = () => new StorageApi({ url: env("LIFEBOAT_STORAGE_URL"), key: env("LIFEBOAT_STORAGE_KEY"), direct });
const POOL = 8;

function randomStream(total: number): ReadableStream<Uint8Array> {
  let left = total;
  return new ReadableStream({
    pull(ctl) {
      if (left <= 0) return ctl.close();
      const n = Math.min(left, 1 << 20);
      const b = new Uint8Array(n);
      for (let at = 0; at < n; at += 65536) crypto.getRandomValues(b.subarray(at, Math.min(n, at + 65536)));
      left -= n;
      ctl.enqueue(b);
    },
  });
}

async function objects(): Promise<{ bucket: string; name: string }[]> {
  const sql = postgres(env("SUPABASE_DB_URL"), { max: 1, onnotice: () => {} });
  try {
    return await sql<{ bucket: string; name: string }[]>`
      select bucket_id as bucket, name from storage.objects where bucket_id in ('bench-small', 'bench-big') order by 1, 2`;
  } finally {
    await sql.end();
  }
}

async function generate(n: number, size: number, bigMb: number): Promise<void> {
  const api = sourceApi();
  const have = await api.buckets();
  const existing = (await objects()).reduce((m, o) => m.set(o.bucket, (m.get(o.bucket) ?? 0) + 1), new Map<string, number>());
  if (!have.has("bench-small")) await api.createBucket("bench-small", { public: false, fileSizeLimit: null, allowedMimeTypes: null });
  if ((existing.get("bench-small") ?? 0) < n) {
    const names = Array.from({ length: n }, (_, i) => `d${String(i % 100).padStart(2, "0")}/f${String(i).padStart(5, "0")}.bin`);
    await runPool(names, 16, async (name) => {
      const b = new Uint8Array(size);
      crypto.getRandomValues(b.subarray(0, Math.min(size, 65536)));
      await api.upload("bench-small", name, b, { upsert: true });
    });
  }
  if (!have.has("bench-big")) await api.createBucket("bench-big", { public: false, fileSizeLimit: null, allowedMimeTypes: null });
  if ((existing.get("bench-big") ?? 0) < 1) await api.upload("bench-big", "big.bin", randomStream(bigMb * 1024 * 1024), { upsert: true });
}

async function plainBackup(spec: string): Promise<void> {
  const api = sourceApi();
  const store = openStore(spec, { tuning: { uploadConcurrency: 2, uploadChunkBytes: 5 * 1024 * 1024 } });
  await runPool(await objects(), POOL, async (o) => {
    const d = await api.download(o.bucket, o.name);
    if (!d) throw new Error(`${o.bucket}/${o.name} vanished`);
    if (d.size !== null && d.size <= 4 * 1024 * 1024) {
      const bytes = await new Response(d.body).bytes();
      await store.put(`${o.bucket}/${o.name}`, bytes);
      releaseOwned(bytes);
    } else {
      // Bounded memory as the backup has it: the store frees each chunk once copied into a part.
      await store.put(`${o.bucket}/${o.name}`, d.body.pipeThrough(new TransformStream({ transform: (c, ctl) => ctl.enqueue(handOverChunk(c)) })));
    }
  });
}

async function plainRestore(spec: string, url: string, key: string): Promise<void> {
  const api = new StorageApi({ url, key, direct });
  const store = openStore(spec);
  const have = await api.buckets();
  for (const b of ["plain-small", "plain-big"]) {
    if (!have.has(b)) await api.createBucket(b, { public: false, fileSizeLimit: null, allowedMimeTypes: null });
  }
  const keys: string[] = [];
  for await (const o of store.list("")) keys.push(o.key);
  await runPool(keys, POOL, async (k) => {
    const [bucket, ...rest] = k.split("/");
    await api.upload(bucket.replace("bench-", "plain-"), rest.join("/"), await store.get(k), { upsert: true });
  });
}

const [cmd, ...args] = Deno.args;
if (cmd === "generate") await generate(Number(args[0]), Number(args[1]), Number(args[2]));
else if (cmd === "plain-backup") await plainBackup(args[0]);
else if (cmd === "plain-restore") await plainRestore(args[0], args[1], args[2]);
else if (cmd === "empty") {
  const store = openStore(args[0]);
  const keys: string[] = [];
  for await (const o of store.list("")) keys.push(o.key);
  await runPool(keys, 16, (k) => store.delete(k));
} else if (cmd === "drop") {
  const api = new StorageApi({ url: args[0], key: args[1], direct });
  for (const b of args.slice(2)) await api.removeBucket(b).catch(() => {});
} else {
  console.error("usage: tool.ts generate N SIZE BIG_MB | plain-backup STORE | plain-restore STORE URL KEY | empty STORE | drop URL KEY BUCKET...");
  Deno.exit(2);
}

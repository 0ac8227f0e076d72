/**
 * Uploads one local file to an S3 store with the same client and settings `lifeboat backup`
 * uses, so the pg_dump | gpg baseline pays the same upload cost.
 * Usage: deno run -A bench/export/upload.ts <file> <s3://bucket/key-prefix> <key>
 * @module
 */
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";

const [file, spec, key] = Deno.args;
if (!file || !spec || !key) throw new Error("usage: upload.ts <file> <s3://bucket/prefix> <key>");
const store = openStore(spec, { s3: { concurrency: 2, partSize: 5 * 1024 * 1024 } });
const f = await Deno.open(file);
const stored = await store.put(key, f.readable);
console.log(JSON.stringify({ key, size: stored.size }));

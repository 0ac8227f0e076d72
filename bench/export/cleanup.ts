/**
 * Deletes every object under an S3 prefix, so that benchmark runs do not fill the local RGW
 * (its OSD is a 10 GiB file; each 1 GB run stores ~0.6 GB, and a full OSD stalls every PUT).
 * Usage: deno run -A bench/export/cleanup.ts <s3://bucket/prefix/>
 * @module
 */
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";

const [spec] = Deno.args;
if (!spec?.startsWith("s3://")) throw new Error("usage: cleanup.ts <s3://bucket/prefix/>");
const store = openStore(spec);
const keys: string[] = [];
for await (const o of store.list("")) keys.push(o.key);
// A few deletes in flight at once; each is one small request.
const queue = [...keys];
await Promise.all(Array.from({ length: 8 }, async () => {
  for (let k = queue.pop(); k !== undefined; k = queue.pop()) await store.delete(k);
}));
console.log(`deleted ${keys.length} objects under ${spec}`);

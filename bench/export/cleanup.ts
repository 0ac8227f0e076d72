/**
 * Deletes every object under an S3 prefix, so that benchmark runs do not fill the local RGW
 * (its OSD is a 10 GiB file; each 1 GB run stores ~0.6 GB, and a full OSD stalls every PUT).
 * Usage: deno run -A bench/export/cleanup.ts <s3://bucket/prefix/>
 * @module
 */
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { emptyStore } from "../../harness/empty_store.ts";

const [spec] = Deno.args;
if (!spec?.startsWith("s3://")) throw new Error("usage: cleanup.ts <s3://bucket/prefix/>");
console.log(`deleted ${await emptyStore(openStore(spec))} objects under ${spec}`);

/**
 * Export throughput against an S3 endpoint with a round-trip delay, with part uploads
 * awaited one by one (uploadsInFlight 0, the behaviour before 2026-12-02) and overlapped
 * with the next part (the default). The local RGW answers in about a millisecond; a real
 * S3 endpoint takes tens, and every part costs a PUT and a HEAD.
 *
 * Usage (stack with S3 running, schema `bench` present, e.g. after `KEEP=1 SIZES=0.5
 * bash bench/export/run.sh`):
 *   deno run -A bench/export/latency.ts [delay ms, default 40]
 * @module
 */
import { exportBackup, poolSizeFor } from "../../supabase/functions/_shared/export/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { startFaultProxy } from "../../harness/fault_proxy.ts";

const delayMs = Number(Deno.args[0] ?? 40);
const env = (k: string) => Deno.env.get(k) ?? (() => { throw new Error(`set ${k} (source the stack's env files)`); })();
const dbUrl = env("SUPABASE_DB_URL");
const endpoint = env("LIFEBOAT_S3_ENDPOINT");
const bucket = Deno.env.get("LIFEBOAT_S3_BUCKET") ?? "lifeboat";
const recipient = new TextDecoder().decode(
  new Deno.Command("age-keygen", { stdout: "piped", stderr: "null" }).outputSync().stdout,
).match(/age1[0-9a-z]+/)![0];

const proxy = await startFaultProxy(endpoint);
proxy.inject({ fault: { kind: "delay", ms: delayMs }, times: Infinity });
const runId = new Date().toISOString().replace(/[-:.]/g, "");
const concurrency = 2;
const sql = connect(dbUrl, { max: poolSizeFor(concurrency), idleTimeoutSeconds: 0, bulkCopyOut: true, applicationName: "lifeboat latency bench" });
const rows: string[] = [];
try {
  for (const uploadsInFlight of [0, 2, 0, 2]) {
    const spec = `s3://${bucket}/bench-latency/${runId}/${uploadsInFlight}-${rows.length}`;
    const store = openStore(spec, { env: { ...Deno.env.toObject(), LIFEBOAT_S3_ENDPOINT: proxy.url }, s3: { concurrency: 2, partSize: 5 * 1024 * 1024 } });
    const started = performance.now();
    const r = await exportBackup({ sql, store, recipients: [recipient], selection: { includeSchemas: ["bench"] }, concurrency, uploadsInFlight });
    const s = (performance.now() - started) / 1000;
    const mb = r.progress.bytes / 1e6;
    rows.push(`| ${delayMs} ms | ${uploadsInFlight} | ${r.manifest.objects.length} | ${s.toFixed(1)} | ${(mb / s).toFixed(1)} |`);
    await emptyStore(openStore(spec)); // nothing stays behind in the local RGW
  }
} finally {
  await sql.end();
  await proxy.close();
}
console.log("| S3 round-trip delay | uploads in flight | objects | wall s | MB/s (COPY text) |\n|---|---|---|---|---|");
console.log(rows.join("\n"));

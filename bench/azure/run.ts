// Azure driver benchmark: what loading @azure/storage-blob costs a process (RSS), and a
// streamed 256 MiB put through the Azure store to the stack's Azurite against the same put
// through the S3 store to the stack's RGW, side by side in one run (throughput ratio, peak
// RSS). Each put runs in its own child process so RSS is the put's own.
//
//   set -a; . .lifeboat/stack.env; set +a
//   tools/node_modules/.bin/deno run -A bench/azure/run.ts [MiB]
import { denoBin } from "../../harness/stack.ts";

const MiB = 1024 * 1024;
const mib = Number(Deno.args[0] ?? 256);

if (Deno.args[1] === "child") {
  const kind = Deno.args[2];
  const rss0 = Deno.memoryUsage().rss;
  const { openStore } = await import("../../supabase/functions/_shared/store/mod.ts");
  const { stackEnv } = await import("../../harness/stack.ts");
  const prefix = `bench-${crypto.randomUUID().slice(0, 8)}/`;
  // The Azure store loads the SDK on its first request; load it here so that the RSS after
  // loading shows its cost (the S3 child never loads it).
  if (kind === "azure") await import("@azure/storage-blob");
  const rssLoaded = Deno.memoryUsage().rss;
  const store = kind === "azure"
    ? openStore(`az://${stackEnv("LIFEBOAT_AZURE_ACCOUNT")}/${stackEnv("LIFEBOAT_AZURE_CONTAINER")}/${prefix}`, {
      az: { endpoint: stackEnv("LIFEBOAT_AZURE_ENDPOINT"), accountKey: stackEnv("LIFEBOAT_AZURE_ACCOUNT_KEY") },
      env: {},
    })
    : openStore(`s3://${stackEnv("LIFEBOAT_S3_BUCKET")}/${prefix}`, { s3: { endpoint: stackEnv("LIFEBOAT_S3_ENDPOINT") } });
  let peak = 0;
  const timer = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 20);
  let sent = 0;
  const chunk = new Uint8Array(MiB);
  crypto.getRandomValues(chunk.subarray(0, 65536));
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= mib * MiB) return c.close();
      chunk[0] = sent / MiB; // every MiB differs
      c.enqueue(chunk.slice());
      sent += MiB;
    },
  });
  const t0 = performance.now();
  await store.put("object", body);
  const secs = (performance.now() - t0) / 1000;
  clearInterval(timer);
  await store.delete("object");
  console.log(JSON.stringify({ kind, secs, mbps: mib / secs, rss0: rss0 / MiB, rssLoaded: rssLoaded / MiB, peak: peak / MiB }));
  Deno.exit(0);
}

async function child(kind: string) {
  const out = await new Deno.Command(denoBin, { args: ["run", "-A", import.meta.filename!, String(mib), "child", kind], stdout: "piped" })
    .output();
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
}

// Alternate the two so host load hits both alike; the best of two runs each.
const runs: Record<string, { mbps: number; peak: number; rss0: number; rssLoaded: number }[]> = { azure: [], s3: [] };
for (let i = 0; i < 2; i++) for (const k of ["s3", "azure"]) runs[k].push(await child(k));
const best = (k: string) => runs[k].reduce((a, b) => a.mbps > b.mbps ? a : b);
const a = best("azure"), s = best("s3");
console.log(`put of ${mib} MiB streamed: azure ${a.mbps.toFixed(1)} MiB/s (peak RSS ${a.peak.toFixed(0)} MB), s3 ${s.mbps.toFixed(1)} MiB/s (peak RSS ${s.peak.toFixed(0)} MB)`);
console.log(`ratio azure/s3 throughput ${(a.mbps / s.mbps).toFixed(2)}; RSS after loading the store modules: azure child ${a.rssLoaded.toFixed(0)} MB (from ${a.rss0.toFixed(0)}), s3 child ${s.rssLoaded.toFixed(0)} MB (from ${s.rss0.toFixed(0)})`);

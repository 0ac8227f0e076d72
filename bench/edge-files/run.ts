/**
 * Benchmark: one bucket's Storage files backed up through the backup-export function's files
 * mode (the free-plan budget of the migration's defaults; each invocation a fresh function
 * process, driven with `resume`, continuation off so invocations are counted exactly), side by
 * side in one run with (b) the same pipeline in one process (`backupFiles`, what
 * `lifeboat backup --files` runs) and (c) a plain parallel copy (8 at a time) of the same
 * objects from Storage into the same store, with no encryption and no checksums. Then a
 * second files job with no change (reads no file bytes). Reports wall seconds, MB/s, ratios,
 * invocations and the highest peak RSS one invocation reported.
 *
 * Usage: deno run -A bench/edge-files/run.ts [--files 1000] [--kb 20] [--big-mb 40]
 *        (stack env exported; an S3 target when the stack has RGW, else a directory)
 * @module
 */
import postgres from "postgres";
import { FunctionProcess, secretKey, stackEnv } from "../../harness/stack.ts";
import { ageKey, callExport, configureExport, removeTestTargets, testTarget } from "../../harness/edge_export.ts";
import { hasS3 } from "../../harness/export_env.ts";
import { backupFiles, readStorageRows, runPool, StorageApi } from "../../supabase/functions/_shared/source/storage/mod.ts";
import { openStore, type Store } from "../../supabase/functions/_shared/store/mod.ts";

const arg = (name: string, dflt: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
};
const FILES = arg("files", 1000), KB = arg("kb", 20), BIG_MB = arg("big-mb", 40); // the stack's Storage refuses files over 50 MB
const sql = postgres(Deno.env.get("SUPABASE_DB_URL")!, { max: 2, onnotice: () => {} });
const api = new StorageApi({ url: stackEnv("LIFEBOAT_STORAGE_URL"), key: secretKey() });
const bucket = `bench-edge-files-${crypto.randomUUID().slice(0, 6)}`;

function target(name: string): { target: string; store: Store } {
  if (hasS3()) return testTarget(name);
  const dir = Deno.makeTempDirSync({ prefix: `lifeboat-${name}-` });
  return { target: dir, store: openStore(dir) };
}
function bytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
}

await api.createBucket(bucket, { public: false, fileSizeLimit: null, allowedMimeTypes: null });
try {
  const t0 = performance.now();
  await runPool([...Array(FILES).keys()], 8, (i) => api.upload(bucket, `s/${String(i).padStart(6, "0")}.bin`, bytes(KB * 1024)));
  await api.upload(bucket, "big.bin", bytes(BIG_MB * 1024 * 1024));
  const total = FILES * KB * 1024 + BIG_MB * 1024 * 1024;
  console.error(`uploaded ${FILES} x ${KB} KiB + ${BIG_MB} MiB into ${bucket} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const mb = total / 1e6;

  // (c) plain parallel copy: download, put as is.
  const plain = target("bench-files-plain");
  const rows = await sql.begin("isolation level repeatable read", (tx) => readStorageRows(tx, [bucket]));
  let t = performance.now();
  await runPool(rows.objects, 8, async (o) => {
    const d = await api.download(o.bucket, o.name);
    if (!d) throw new Error(`${o.name} vanished`);
    if (o.size > 8 * 1024 * 1024) await plain.store.put(`plain/${o.name}`, d.body);
    else await plain.store.put(`plain/${o.name}`, await new Response(d.body).bytes());
  });
  const plainS = (performance.now() - t) / 1000;

  // (b) the files pipeline in one process (what lifeboat backup --files runs).
  const { recipient } = await ageKey();
  const one = target("bench-files-cli");
  t = performance.now();
  await backupFiles(rows, { api, store: one.store, seal: { recipients: [recipient], compression: "zstd" } });
  const pipeS = (performance.now() - t) / 1000;

  // (a) the function's files mode, invocation after invocation.
  const edge = target("bench-files-edge");
  await configureExport(sql, { target: edge.target, recipients: [recipient], continueJobs: false, compression: "zstd" });
  const drive = async (first: unknown) => {
    let uuid: string | null = null, calls = 0, peakRss = 0, cpuMax = 0;
    const start = performance.now();
    for (;;) {
      const p = new FunctionProcess("backup-export", Deno.env.toObject());
      await p.ready();
      const r = await callExport(`${p.url}/backup-export`, uuid ? { mode: "files", resume: uuid } : first);
      await p.stop();
      calls++;
      if (r.status >= 300 && r.status !== 202) throw new Error(`HTTP ${r.status}: ${r.text}`);
      const inv = r.json.invocation as { peakRssBytes: number; cpuMs: number };
      peakRss = Math.max(peakRss, inv.peakRssBytes);
      cpuMax = Math.max(cpuMax, inv.cpuMs);
      uuid = String(r.json.job);
      if (r.json.state === "completed") return { s: (performance.now() - start) / 1000, calls, peakRss, cpuMax };
      if (calls > 500) throw new Error("too many invocations");
    }
  };
  const a = await drive({ mode: "files", buckets: [bucket] });
  const again = await drive({ mode: "files", buckets: [bucket] });

  const f = (x: number) => x.toFixed(2);
  console.log(`| run | seconds | MB/s | vs plain copy |
|---|---|---|---|
| (c) plain parallel copy, no encryption | ${f(plainS)} | ${f(mb / plainS)} | 1.00 |
| (b) files pipeline in one process (zstd + age) | ${f(pipeS)} | ${f(mb / pipeS)} | ${f(plainS / pipeS)} |
| (a) backup-export files mode, ${a.calls} invocations | ${f(a.s)} | ${f(mb / a.s)} | ${f(plainS / a.s)} |
| (a) second files job, no change, ${again.calls} invocation(s) | ${f(again.s)} | | |

${FILES} files of ${KB} KiB and one of ${BIG_MB} MiB (${mb.toFixed(0)} MB), store ${hasS3() ? "RGW (S3)" : "a directory"}.
(a)/(b) throughput ratio ${f(pipeS / a.s)}; highest peak RSS of one invocation ${(a.peakRss / 1e6).toFixed(0)} MB; highest CPU of one invocation ${a.cpuMax.toFixed(0)} ms.`);
} finally {
  await api.removeBucket(bucket).catch(() => {});
  await removeTestTargets();
  await sql.end();
}

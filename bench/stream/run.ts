/**
 * Stream shipper benchmark: a steady mixed pgbench workload (bench/stream/workload.sql) at a
 * fixed rate, shipped (a) by `lifeboat stream run` and (b) by the `backup-stream` function
 * called every 5 s as pg_cron does, one after the other in the same run. Samples the achieved
 * RPO (now - lifeboat.stream_recovery_point()), the lag and the CLI process tree's RSS every
 * second, and each function call's CPU and peak RSS; prints a summary per mode and a table per
 * minute (pgbench's tx/s, RPO p99, lag median and max, memory) so that growth shows.
 * Needs the stack with S3 (scripts/stack.sh start).
 *
 * Usage: deno run -A bench/stream/run.ts [seconds per mode = 60] [tx/s = 500]
 * @module
 */
import { db, denoBin, FunctionProcess, repoRoot, serviceHeaders, stackEnv } from "../../harness/stack.ts";
import { generateSigningKey } from "../../supabase/functions/_shared/format/mod.ts";

const SECONDS = Number(Deno.args[0] ?? 60);
const RATE = Number(Deno.args[1] ?? 500);
const sql = db();
const pair = await generateSigningKey();
const keyDir = await Deno.makeTempDir({ prefix: "lifeboat-bench-stream-" });
await Deno.writeTextFile(`${keyDir}/k.signing`, pair.privatePem);
const target = `s3://${stackEnv("LIFEBOAT_S3_BUCKET")}/bench-stream-${Date.now()}`;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
}

async function reset() {
  await sql`select lifeboat.stream_disable()`;
  await sql`delete from lifeboat.stream_segments`;
  await sql`delete from lifeboat.stream_state`;
  await sql.unsafe(`drop schema if exists bench_stream cascade; create schema bench_stream;
    create table bench_stream.orders (id bigserial primary key, customer int, amount numeric, note text);
    insert into bench_stream.orders (customer, amount, note) select g, g, md5(g::text) from generate_series(1, 1000) g;`);
  await sql`update lifeboat.settings set value = ${sql.json(target)} where key = 'export.target'`;
  await sql`update lifeboat.settings set value = 'true' where key = 'export.unencrypted'`;
  await sql`update lifeboat.settings set value = '[]' where key = 'export.recipients'`;
  // This benchmark drives the shipper itself: the schedule is off in the enabling transaction.
  await sql.begin(async (tx) => {
    await tx`select lifeboat.stream_enable()`;
    await tx`update lifeboat.schedules set enabled = false where name = 'stream-ship'`;
    await tx`select count(*) from lifeboat.apply_schedules()`;
  });
}

function pgbench(): Deno.ChildProcess {
  const u = new URL(stackEnv("SUPABASE_DB_URL"));
  return new Deno.Command("pgbench", {
    args: ["-n", "-h", u.hostname, "-p", u.port, "-U", u.username, "-d", u.pathname.slice(1), "-c", "4", "-j", "2",
      "-R", String(RATE), "-T", String(SECONDS), "-P", "60", "-f", `${repoRoot}/bench/stream/workload.sql`],
    env: { PGPASSWORD: decodeURIComponent(u.password), PGSSLMODE: "disable" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** One sample: seconds since the workload started, achieved RPO, lag, RSS of the CLI tree. */
interface Sample { t: number; rpo: number; lag: number; rss: number | null }

/** The resident set of a process and its descendants, from /proc (null once it is gone). */
async function treeRss(pid: number): Promise<number | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    let kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const kids = (await Deno.readTextFile(`/proc/${pid}/task/${task.name}/children`)).trim();
      for (const k of kids ? kids.split(/\s+/) : []) kb += ((await treeRss(Number(k))) ?? 0) / 1024;
    }
    return kb * 1024;
  } catch {
    return null;
  }
}

async function sampleWhile(running: Promise<unknown>, t0: number, pid?: number): Promise<Sample[]> {
  const out: Sample[] = [];
  let done = false;
  running.finally(() => (done = true));
  await new Promise((r) => setTimeout(r, 3000)); // warm-up
  while (!done) {
    const [r] = await sql`select extract(epoch from clock_timestamp() - lifeboat.stream_recovery_point())::float8 as rpo,
      (select lag_bytes from lifeboat.stream_slot_wal()) as lag`;
    const rss = pid === undefined ? null : await treeRss(pid);
    if (r.rpo !== null) out.push({ t: (performance.now() - t0) / 1000, rpo: Number(r.rpo), lag: Number(r.lag), rss });
    await new Promise((res) => setTimeout(res, 1000));
  }
  return out;
}

/** pgbench's per-interval rate from its -P progress lines. */
function progress(stderr: string): number[] {
  return [...stderr.matchAll(/progress: [0-9.]+ s, ([0-9.]+) tps/g)].map((m) => Number(m[1]));
}

/** A function call: seconds since the workload started, its CPU and peak RSS. */
interface Call { t: number; cpu: number | null; rss: number | null }

/** One row per minute: tx/s, RPO p99 and max, lag median and max, memory (CLI RSS or per-call peak). */
function perMinute(name: string, s: Sample[], rates: number[], calls?: Call[]): string[] {
  const rows: string[] = [], minutes: string[] = [];
  for (let m = 0; m * 60 < (s.at(-1)?.t ?? 0); m++) {
    const w = s.filter((x) => x.t >= m * 60 && x.t < (m + 1) * 60);
    if (!w.length) continue;
    let mem: string;
    if (calls) {
      const c = calls.filter((x) => x.t >= m * 60 && x.t < (m + 1) * 60);
      const cpu = c.flatMap((x) => x.cpu === null ? [] : [x.cpu]), rss = c.flatMap((x) => x.rss ? [x.rss] : []);
      mem = `${c.length} calls, CPU p99 ${pct(cpu, 99)} ms, peak RSS ${(Math.max(...rss) / 2 ** 20).toFixed(0)} MiB`;
    } else {
      const rss = w.flatMap((x) => x.rss ? [x.rss] : []);
      mem = `RSS ${(Math.min(...rss) / 2 ** 20).toFixed(0)}–${(Math.max(...rss) / 2 ** 20).toFixed(0)} MiB`;
    }
    rows.push(`| ${name} | ${m + 1} | ${rates[m]?.toFixed(0) ?? "-"} | ${pct(w.map((x) => x.rpo), 99).toFixed(1)} | ` +
      `${Math.max(...w.map((x) => x.rpo)).toFixed(1)} | ${(pct(w.map((x) => x.lag), 50) / 1024).toFixed(0)} | ` +
      `${(Math.max(...w.map((x) => x.lag)) / 1024).toFixed(0)} | ${mem} |`);
  }
  return rows;
}

function tps(out: string): number {
  return Number(/tps = ([0-9.]+)/.exec(out)?.[1] ?? NaN);
}

function summary(name: string, s: Sample[], t: number, extra = "") {
  const half = Math.floor(s.length / 2);
  const lagFirst = pct(s.slice(0, half).map((x) => x.lag), 50), lagSecond = pct(s.slice(half).map((x) => x.lag), 50);
  return `| ${name} | ${t.toFixed(0)} | ${pct(s.map((x) => x.rpo), 50).toFixed(1)} | ${pct(s.map((x) => x.rpo), 99).toFixed(1)} | ` +
    `${Math.max(...s.map((x) => x.rpo)).toFixed(1)} | ${(lagFirst / 1024).toFixed(0)} → ${(lagSecond / 1024).toFixed(0)} | ${extra} |`;
}

const rows: string[] = [], minutes: string[] = [];
// (a) the CLI process.
await reset();
{
  const cli = new Deno.Command(denoBin, {
    args: ["run", "-A", "--quiet", `${repoRoot}/scripts/lifeboat.ts`, "stream", "run", "--poll-ms", "250"],
    env: { ...Deno.env.toObject(), LIFEBOAT_SIGNING_KEY_FILE: `${keyDir}/k.signing` },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await new Promise((r) => setTimeout(r, 3000));
  const t0 = performance.now();
  const bench = pgbench();
  const out = bench.output();
  const samples = await sampleWhile(out, t0, cli.pid);
  const o = await out;
  cli.kill("SIGTERM");
  await cli.status;
  const name = "`lifeboat stream run` (poll 250 ms)";
  rows.push(summary(name, samples, tps(new TextDecoder().decode(o.stdout))));
  minutes.push(...perMinute(name, samples, progress(new TextDecoder().decode(o.stderr))));
}
// (b) the edge function every 5 s.
await reset();
{
  const fn = new FunctionProcess("backup-stream", { ...Deno.env.toObject(), LIFEBOAT_SIGNING_KEY: pair.privatePem });
  await fn.ready();
  const cpu: number[] = [], rss: number[] = [], calls: Call[] = [];
  let stop = false;
  const t0 = performance.now();
  const caller = (async () => {
    while (!stop) {
      const t = performance.now();
      const r = await fetch(`${fn.url}/backup-stream`, { method: "POST", headers: serviceHeaders(), body: "{}" });
      const j = await r.json();
      if (j.cpu_ms !== null && j.state !== "busy") cpu.push(j.cpu_ms);
      if (j.peak_rss_bytes) rss.push(j.peak_rss_bytes);
      calls.push({ t: (t - t0) / 1000, cpu: j.cpu_ms !== null && j.state !== "busy" ? j.cpu_ms : null, rss: j.peak_rss_bytes ?? null });
      await new Promise((res) => setTimeout(res, Math.max(0, 5000 - (performance.now() - t))));
    }
  })();
  const bench = pgbench();
  const out = bench.output();
  const samples = await sampleWhile(out, t0);
  const o = await out;
  stop = true;
  await caller;
  await fn.stop();
  const name = "`backup-stream` every 5 s";
  rows.push(summary(name, samples, tps(new TextDecoder().decode(o.stdout)),
    `CPU/call p50 ${pct(cpu, 50)} ms, p99 ${pct(cpu, 99)} ms, max ${Math.max(...cpu)} ms; peak RSS ${(Math.max(...rss) / 2 ** 20).toFixed(0)} MiB`));
  minutes.push(...perMinute(name, samples, progress(new TextDecoder().decode(o.stderr)), calls));
}
await sql`select lifeboat.stream_disable()`;
await sql`update lifeboat.settings set value = default_value where key in ('export.target', 'export.unencrypted', 'export.recipients')`;
await sql.unsafe(`drop schema if exists bench_stream cascade`);
await sql.end();
console.log(`${SECONDS} s per mode at ${RATE} tx/s requested (pgbench -R, 4 clients)\n`);
console.log("| shipper | tx/s achieved | RPO p50 (s) | RPO p99 (s) | RPO max (s) | lag median KiB (1st half → 2nd half) | per call |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
console.log("\n| shipper | minute | tx/s | RPO p99 (s) | RPO max (s) | lag median KiB | lag max KiB | memory |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of minutes) console.log(r);

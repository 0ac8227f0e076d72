/**
 * Stream shipper benchmark: a steady mixed pgbench workload (bench/stream/workload.sql) at a
 * fixed rate, shipped (a) by `lifeboat stream run` and (b) by the `backup-stream` function
 * called every 5 s as pg_cron does, one after the other in the same run. Samples the achieved
 * RPO (now - lifeboat.stream_recovery_point()) and the lag every second, and each function
 * call's CPU. Needs the stack with S3 (scripts/stack.sh start).
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
  await sql`select lifeboat.stream_enable()`;
  // This benchmark drives the shipper itself.
  await sql`update lifeboat.schedules set enabled = false where name = 'stream-ship'`;
  await sql`select count(*) from lifeboat.apply_schedules()`;
}

function pgbench(): Deno.ChildProcess {
  const u = new URL(stackEnv("SUPABASE_DB_URL"));
  return new Deno.Command("pgbench", {
    args: ["-n", "-h", u.hostname, "-p", u.port, "-U", u.username, "-d", u.pathname.slice(1), "-c", "4", "-j", "2",
      "-R", String(RATE), "-T", String(SECONDS), "-f", `${repoRoot}/bench/stream/workload.sql`],
    env: { PGPASSWORD: decodeURIComponent(u.password), PGSSLMODE: "disable" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

interface Sample { rpo: number; lag: number }

async function sampleWhile(running: Promise<unknown>): Promise<Sample[]> {
  const out: Sample[] = [];
  let done = false;
  running.finally(() => (done = true));
  await new Promise((r) => setTimeout(r, 3000)); // warm-up
  while (!done) {
    const [r] = await sql`select extract(epoch from clock_timestamp() - lifeboat.stream_recovery_point())::float8 as rpo,
      (select lag_bytes from lifeboat.stream_slot_wal()) as lag`;
    if (r.rpo !== null) out.push({ rpo: Number(r.rpo), lag: Number(r.lag) });
    await new Promise((res) => setTimeout(res, 1000));
  }
  return out;
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

const rows: string[] = [];
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
  const bench = pgbench();
  const out = bench.output();
  const samples = await sampleWhile(out);
  const o = await out;
  cli.kill("SIGTERM");
  await cli.status;
  rows.push(summary("`lifeboat stream run` (poll 250 ms)", samples, tps(new TextDecoder().decode(o.stdout))));
}
// (b) the edge function every 5 s.
await reset();
{
  const fn = new FunctionProcess("backup-stream", { ...Deno.env.toObject(), LIFEBOAT_SIGNING_KEY: pair.privatePem });
  await fn.ready();
  const cpu: number[] = [], rss: number[] = [];
  let stop = false;
  const caller = (async () => {
    while (!stop) {
      const t = Date.now();
      const r = await fetch(`${fn.url}/backup-stream`, { method: "POST", headers: serviceHeaders(), body: "{}" });
      const j = await r.json();
      if (j.cpu_ms !== null && j.state !== "busy") cpu.push(j.cpu_ms);
      if (j.peak_rss_bytes) rss.push(j.peak_rss_bytes);
      await new Promise((res) => setTimeout(res, Math.max(0, 5000 - (Date.now() - t))));
    }
  })();
  const bench = pgbench();
  const out = bench.output();
  const samples = await sampleWhile(out);
  const o = await out;
  stop = true;
  await caller;
  await fn.stop();
  rows.push(summary("`backup-stream` every 5 s", samples, tps(new TextDecoder().decode(o.stdout)),
    `CPU/call p50 ${pct(cpu, 50)} ms, p99 ${pct(cpu, 99)} ms, max ${Math.max(...cpu)} ms; peak RSS ${(Math.max(...rss) / 2 ** 20).toFixed(0)} MiB`));
}
await sql`select lifeboat.stream_disable()`;
await sql`update lifeboat.settings set value = default_value where key in ('export.target', 'export.unencrypted', 'export.recipients')`;
await sql.unsafe(`drop schema if exists bench_stream cascade`);
await sql.end();
console.log(`${SECONDS} s per mode at ${RATE} tx/s requested (pgbench -R, 4 clients)\n`);
console.log("| shipper | tx/s achieved | RPO p50 (s) | RPO p99 (s) | RPO max (s) | lag median KiB (1st half → 2nd half) | per call |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);

/**
 * Benchmark: a generated database exported through the backup-export function with the
 * Supabase free-plan budget (the migration's defaults: 120 s wall, 1.5 s CPU, 256 MiB per
 * invocation), against `lifeboat backup` (the CLI) on the same data and RGW bucket.
 *
 * Each invocation runs in a fresh function process (as a cold edge worker would), driven
 * one after another with `resume` (continuation off, so invocations are counted exactly).
 * Reports invocations, CPU and peak RSS per invocation and total throughput.
 *
 * Usage: deno run -A bench/edge-export/run.ts [--mb 256]   (stack env exported, S3 running)
 * @module
 */
import postgres from "postgres";
import { FunctionProcess } from "../../harness/stack.ts";
import { ageKey, callExport, configureExport, removeTestTargets, testTarget } from "../../harness/edge_export.ts";

const mbArg = Deno.args.indexOf("--mb");
const MB = mbArg >= 0 ? Number(Deno.args[mbArg + 1]) : 256;
const SCHEMA = "bench_edge";
const sql = postgres(Deno.env.get("SUPABASE_DB_URL")!, { max: 2, onnotice: () => {} });

async function generate(): Promise<void> {
  // Three shapes: narrow rows, wide rows, and TOASTed documents (about 1/3 of the bytes each).
  const third = (MB * 1024 * 1024) / 3;
  await sql.unsafe(`
    drop schema if exists ${SCHEMA} cascade;
    create schema ${SCHEMA};
    create table ${SCHEMA}.narrow (id bigint primary key, a int, b timestamptz, c numeric);
    insert into ${SCHEMA}.narrow select i, i % 1000, timestamptz '2026-01-01' + i * interval '1 s', i / 7.0
      from generate_series(1, ${Math.ceil(third / 60)}) i;
    create table ${SCHEMA}.wide (id bigint primary key, name text, email text, tags text[], meta jsonb, note text);
    insert into ${SCHEMA}.wide select i, 'name ' || i, 'u' || i || '@example.com', array['x', 'y' || (i % 9)],
      jsonb_build_object('i', i, 'h', md5(i::text)), repeat(md5(i::text), 4)
      from generate_series(1, ${Math.ceil(third / 330)}) i;
    create table ${SCHEMA}.docs (id bigint primary key, body text);
    insert into ${SCHEMA}.docs select i, (select string_agg(md5((i * 100 + j)::text), ' ') from generate_series(1, 600) j)
      from generate_series(1, ${Math.ceil(third / 19800)}) i;
    analyze ${SCHEMA}.narrow, ${SCHEMA}.wide, ${SCHEMA}.docs;`);
}

const t0 = performance.now();
await generate();
const [size] = await sql`select pg_size_pretty(sum(pg_table_size(c.oid))) as s, sum(pg_table_size(c.oid))::bigint as b
  from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${SCHEMA} and c.relkind = 'r'`;
console.error(`generated ${SCHEMA}: ${size.s} on disk in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

const { recipient } = await ageKey();
const { target } = testTarget("bench-edge");
await configureExport(sql, { target, recipients: [recipient], continueJobs: false });
const tables = ["narrow", "wide", "docs"].map((t) => `${SCHEMA}.${t}`);

interface Inv { wallMs: number; cpuMs: number; peakRssBytes: number; peakHeapBytes: number; bytes: number; partsDone: number; stoppedBy: string }
const invs: Inv[] = [];
let uuid: string | null = null;
let state = "running";
const start = performance.now();
while (state === "running" && invs.length < 500) {
  const proc = new FunctionProcess("backup-export", Deno.env.toObject());
  await proc.ready();
  const r = await callExport(`${proc.url}/backup-export`, uuid ? { mode: "tables", resume: uuid } : { mode: "tables", tables });
  await proc.stop();
  if (![200, 202].includes(r.status)) throw new Error(`invocation failed: ${r.text}`);
  uuid = String(r.json.job);
  state = String(r.json.state);
  invs.push(r.json.invocation as Inv);
}
const edgeSeconds = (performance.now() - start) / 1000;
const [run] = await sql`select * from lifeboat.backup_runs where run_uuid = ${uuid}`;
const [plain] = await sql`select sum(plain_bytes)::bigint as b from lifeboat.backup_parts where run_id = ${run.id}`;
const plainMB = Number(plain.b) / 1e6;
const invWall = invs.reduce((s, i) => s + i.wallMs, 0) / 1000;

// The CLI on the same tables, same bucket, signing as users run it (a key from 'lifeboat keygen').
const keyDir = await Deno.makeTempDir({ prefix: "lifeboat-bench-keys-" });
const denoBin = `${Deno.cwd()}/tools/node_modules/.bin/deno`;
await new Deno.Command(denoBin, { args: ["run", "-A", "scripts/lifeboat.ts", "keygen", "--output", `${keyDir}/key.txt`], stdout: "null" })
  .output();
const cliStart = performance.now();
const cli = await new Deno.Command(denoBin, {
  args: ["run", "-A", "scripts/lifeboat.ts", "backup", "--store", `${target}cli/`, "--recipient", recipient, "--json",
    ...tables.flatMap((t) => ["--table", t])],
  env: { LIFEBOAT_SIGNING_KEY_FILE: `${keyDir}/key.txt.signing` },
  stdout: "null", stderr: "piped",
}).output();
await Deno.remove(keyDir, { recursive: true });
const cliSeconds = (performance.now() - cliStart) / 1000;
if (cli.code !== 0) console.error(`CLI failed: ${new TextDecoder().decode(cli.stderr).slice(-500)}`);

const max = (f: (i: Inv) => number) => Math.max(...invs.map(f));
const out = {
  database: `${size.s} on disk, ${plainMB.toFixed(0)} MB of COPY text`,
  state,
  consistent: run.consistent,
  invocations: invs.length,
  cpuMsPerInvocation: { max: max((i) => i.cpuMs), mean: Math.round(invs.reduce((s, i) => s + i.cpuMs, 0) / invs.length) },
  wallMsPerInvocation: { max: max((i) => i.wallMs) },
  peakRssMBPerInvocation: { max: +(max((i) => i.peakRssBytes) / 1048576).toFixed(1) },
  peakHeapMBPerInvocation: { max: +(max((i) => i.peakHeapBytes) / 1048576).toFixed(1) },
  stoppedBy: [...new Set(invs.map((i) => i.stoppedBy))],
  edgeMBps: { endToEnd: +(plainMB / edgeSeconds).toFixed(1), insideInvocations: +(plainMB / invWall).toFixed(1) },
  cliMBps: cli.code === 0 ? +(plainMB / cliSeconds).toFixed(1) : null,
  ratioEdgeToCli: cli.code === 0 ? +((plainMB / invWall) / (plainMB / cliSeconds)).toFixed(2) : null,
};
console.log(JSON.stringify(out, null, 2));
await sql`update lifeboat.settings set value = 'null' where key = 'export.target'`;
await removeTestTargets(); // the function's and the CLI's objects (both under `target`)
await sql.unsafe(`drop schema ${SCHEMA} cascade`);
await sql.end();

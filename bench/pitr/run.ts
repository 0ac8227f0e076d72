// Point-in-time restore benchmark: a steady OLTP-like workload (one client, small transactions:
// an update, an insert and now and then a delete) runs for WORKLOAD_SECONDS after a full backup
// while the stream's shipper stores it; then a point-in-time restore to its last commit.
// Prints the replay speed against the workload that produced it (same transactions, same host,
// side by side) and the end-to-end restore in seconds per GB.
//   set -a; . .lifeboat/stack.env; set +a
//   tools/node_modules/.bin/deno run -A bench/pitr/run.ts [BASE_ROWS] [WORKLOAD_SECONDS]
import postgres from "postgres";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import { exportBackup } from "../../supabase/functions/_shared/export/mod.ts";
import { generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";
import { generateSigningKey, importSigningKey } from "../../supabase/functions/_shared/format/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { latestRestorable, parseTarget, restoreToPoint } from "../../supabase/functions/_shared/pitr/mod.ts";
import { listSegments, shipOnce } from "../../supabase/functions/_shared/stream/mod.ts";

const BASE_ROWS = Number(Deno.args[0] ?? "1000000");
const SECONDS = Number(Deno.args[1] ?? "60");
const url = Deno.env.get("SUPABASE_DB_URL")!;
const S = "bench_pitr";
const admin = postgres(url, { max: 2, onnotice: () => {} });
const dir = await Deno.makeTempDir({ prefix: "lifeboat-bench-pitr-" });
const store = openStore(dir);
const { identity, recipient } = await generateIdentity();
const pair = await generateSigningKey();
const signingKey = await importSigningKey(pair.privatePem);
const trust = { trustedKeys: [pair.publicKey], allowUnsigned: false };
const shipSql = connect(url, { max: 2 });
const ship = async () => {
  for (let k = 0; k < 1000; k++) {
    const r = await shipOnce({
      sql: shipSql, store, owner: "bench", seal: { recipients: [recipient], compression: "zstd" }, signingKey,
      limits: { segmentBytes: 8 << 20, maxRecords: 200_000, wallMs: null, cpuMs: null },
    });
    if (r.caughtUp || r.state !== "shipped") return;
  }
};
const scratch = `bench_pitr_${crypto.randomUUID().slice(0, 6)}`;
try {
  await admin.unsafe(`drop schema if exists ${S} cascade; create schema ${S};
    create table ${S}.acc (id bigint primary key, balance bigint not null, note text not null);
    create table ${S}.hist (id bigserial primary key, acc bigint not null, delta int not null, at timestamptz not null default now());
    insert into ${S}.acc select g, 1000, md5(g::text) from generate_series(1, ${BASE_ROWS}) g;`);
  await admin`select lifeboat.stream_disable()`;
  await admin`select lifeboat.stream_enable(null)`;
  await admin`update lifeboat.schedules set enabled = false where name = 'stream-ship'`;
  await admin`select count(*) from lifeboat.apply_schedules()`;

  const exportSql = connect(url, { max: 4 });
  const backup = await exportBackup({ sql: exportSql, store, recipients: [recipient], selection: { includeSchemas: [S] }, signingKey });
  await exportSql.end();
  const baseBytes = backup.manifest.tables.reduce((n, t) => n + t.bytes, 0);

  // The workload, one client as an application would drive it; the shipper runs beside it.
  const w = postgres(url, { max: 1, onnotice: () => {} });
  let shipping = true;
  const shipper = (async () => {
    while (shipping) {
      await ship();
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  let txns = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    const id = 1 + Math.floor(Math.random() * BASE_ROWS);
    await w.begin(async (tx) => {
      await tx`update ${tx(S)}.acc set balance = balance - 1 where id = ${id}`;
      await tx`insert into ${tx(S)}.hist (acc, delta) values (${id}, -1)`;
      if (txns % 10 === 0) await tx`delete from ${tx(S)}.hist where id = (select min(id) from ${tx(S)}.hist)`;
    });
    txns++;
  }
  const workloadMs = performance.now() - t0;
  await w.end();
  shipping = false;
  await shipper;
  await ship();
  const segments = await listSegments(store, "lifeboat_stream", { trust });
  const streamBytes = segments.reduce((n, s) => n + s.plainBytes, 0);
  const until = latestRestorable(segments)!;

  await admin.unsafe(`create database ${scratch}`);
  const target = connect(url.replace(/\/[^/]*$/, `/${scratch}`), { max: 4 });
  const report = await restoreToPoint({ store, target: parseTarget({ until }), identities: [identity], trust, db: target });
  await target.end();
  if (!report.passed) throw new Error(JSON.stringify(report.checks.filter((c) => c.level === "error")));
  const replayMs = report.timings.replayMs;
  const totalMs = report.timings.restoreMs + replayMs;
  const gb = (baseBytes + streamBytes) / 1e9;
  console.log(JSON.stringify({
    baseRows: BASE_ROWS, baseMB: +(baseBytes / 1e6).toFixed(1), workloadSeconds: +(workloadMs / 1000).toFixed(1),
    transactions: txns, tps: +(txns / (workloadMs / 1000)).toFixed(0), streamMB: +(streamBytes / 1e6).toFixed(1),
    segments: segments.length, replayedTransactions: report.replay?.transactions, replaySeconds: +(replayMs / 1000).toFixed(2),
    replaySpeedup: +(workloadMs / replayMs).toFixed(1), restoreSeconds: +(report.timings.restoreMs / 1000).toFixed(1),
    endToEndSeconds: +(totalMs / 1000).toFixed(1), secondsPerGB: +((totalMs / 1000) / gb).toFixed(1),
  }, null, 2));
} finally {
  await admin`select lifeboat.stream_disable()`.catch(() => {});
  await admin.unsafe(`drop schema if exists ${S} cascade`).catch(() => {});
  await admin.unsafe(`drop database if exists ${scratch}`).catch(() => {});
  await shipSql.end();
  await admin.end();
  await Deno.remove(dir, { recursive: true });
}

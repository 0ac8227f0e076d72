// One transaction that updates N rows, shipped by the stream's shipper and replayed by a
// point-in-time restore (issue 20: "big transactions (a million-row update) stream in bounded
// memory"). Sizes run side by side in one process (default 100,000 and 1,000,000): for each,
// a fresh table, a full backup, the stream enabled, ONE `update … set v = v + 1` of every row,
// then the shipper (`shipOnce`, 4 MiB segments, one pass reading the whole transaction through
// its cursor) while RSS is sampled every 50 ms, then `restoreToPoint(latest)` into a fresh
// database and the table's fingerprint compared with the source's.
//
// Usage (stack running, env from .lifeboat/stack.env): deno run -A bench/stream/big_tx/run.ts [N ...]
import postgres from "postgres";
import { connect } from "../../../supabase/functions/_shared/db/mod.ts";
import { exportBackup } from "../../../supabase/functions/_shared/export/mod.ts";
import { openStore } from "../../../supabase/functions/_shared/store/mod.ts";
import { shipOnce } from "../../../supabase/functions/_shared/stream/mod.ts";
import { parseTarget, restoreToPoint } from "../../../supabase/functions/_shared/pitr/mod.ts";
import { generateIdentity } from "../../../supabase/functions/_shared/crypto/mod.ts";
import { createDb, dropDb, urlOf } from "../../../tests/support/restore.ts";
import { testSigning } from "../../../tests/support/signing.ts";

const url = Deno.env.get("SUPABASE_DB_URL");
if (!url) throw new Error("set SUPABASE_DB_URL (source .lifeboat/stack.env)");
const sizes = Deno.args.length ? Deno.args.map(Number) : [100_000, 1_000_000];
const sql = postgres(url, { max: 2, onnotice: () => {} });
const mib = (b: number) => (b / 1048576).toFixed(1);

const fp = async (db: postgres.Sql, table: string) =>
  String((await db.unsafe(`select count(*)::text || ':' || md5(string_agg(t::text, '|' order by id)) as f from ${table} t`))[0].f);

const rows: string[] = [];
for (const n of sizes) {
  const schema = `bench_bigtx_${n}`;
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-bigtx-" });
  const store = openStore(dir);
  const { identity, recipient } = await generateIdentity();
  const shipSql = connect(url, { max: 2 });
  const exportSql = connect(url, { max: 4, bulkCopyOut: true });
  let scratch: string | null = null;
  try {
    await sql`update lifeboat.settings set value = default_value where key like 'stream.%'`;
    await sql`select lifeboat.stream_disable()`;
    await sql`delete from lifeboat.stream_segments`;
    await sql`delete from lifeboat.stream_state`;
    await sql.unsafe(`drop schema if exists ${schema} cascade; create schema ${schema};
      create table ${schema}.t (id int primary key, v int not null, pad text not null);
      insert into ${schema}.t select g, g, md5(g::text) from generate_series(1, ${n}) g;`);
    await sql`select lifeboat.stream_enable(null)`;
    await sql`update lifeboat.schedules set enabled = false where name = 'stream-ship'`;
    await sql`select count(*) from lifeboat.apply_schedules()`;
    await exportBackup({ sql: exportSql, store, recipients: [recipient], selection: { includeSchemas: [schema] }, signingKey: testSigning.key });
    const tu = performance.now();
    await sql.unsafe(`update ${schema}.t set v = v + 1`);
    const updateS = (performance.now() - tu) / 1000;
    const want = await fp(sql, `${schema}.t`);

    const rssBefore = Deno.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, Deno.memoryUsage().rss)), 50);
    const t0 = performance.now();
    let segments = 0, records = 0, passes = 0, maxSegment = 0;
    for (;;) {
      const r = await shipOnce({
        sql: shipSql, store, owner: "bench-bigtx", seal: { recipients: [recipient], compression: "zstd" }, signingKey: testSigning.key,
        limits: { segmentBytes: 4 * 1048576, maxRecords: 2 * n + 1000, wallMs: null, cpuMs: null },
      });
      passes++;
      segments += r.segments.length;
      for (const m of r.segments) {
        records += m.changes;
        maxSegment = Math.max(maxSegment, m.bytes);
      }
      if (r.caughtUp || r.state !== "shipped") break;
    }
    clearInterval(sampler);
    const shipS = (performance.now() - t0) / 1000;

    scratch = await createDb("bigtx");
    const target = connect(urlOf(scratch), { max: 4 });
    const t1 = performance.now();
    const report = await restoreToPoint({
      store, target: parseTarget({ until: "latest" }), identities: [identity],
      trust: { trustedKeys: [testSigning.publicKey], allowUnsigned: false }, db: target,
    });
    const restoreS = (performance.now() - t1) / 1000;
    await target.end();
    const restored = postgres(urlOf(scratch), { max: 1, onnotice: () => {} });
    const got = await fp(restored, `${schema}.t`).finally(() => restored.end());
    const match = report.passed && got === want;
    rows.push(
      `| ${n.toLocaleString("en")} | ${updateS.toFixed(1)} | ${passes} | ${segments} | ${records.toLocaleString("en")} | ${mib(maxSegment)} | ` +
        `${shipS.toFixed(1)} | ${mib(rssBefore)} → ${mib(peak)} (+${mib(peak - rssBefore)}) | ${restoreS.toFixed(1)} | ${match ? "yes" : "NO"} |`,
    );
    console.error(rows.at(-1));
  } finally {
    await sql`select lifeboat.stream_disable()`.catch(() => {});
    await sql.unsafe(`drop schema if exists ${schema} cascade`).catch(() => {});
    if (scratch) await dropDb(scratch).catch(() => {});
    await shipSql.end();
    await exportSql.end();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
await sql.end();
console.log("| rows updated in one transaction | update (s) | shipper passes | segments | changes stored | largest segment (MiB, stored) | ship (s) | shipper process RSS MiB (before → peak) | PITR restore (s) | table equal to source |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);

// Where the time of one big transaction goes, shipping and replay separately (issue 20):
// for ONE `update … set v = v + 1` of N rows of a narrow table, it times, side by side in one
// process on the same WAL:
//   peek-count   the server's decode alone (`select count(*) from pg_logical_slot_peek_changes`)
//   peek-cursor  the shipper's peek query through a cursor, rows fetched and dropped
//   +parse       the same with JSON.parse of each row
//   ship         one `shipOnce` pass (parse, segment writer, zstd, age, store, records)
//   read         reading the stored segments back (sha256, age, zstd, lines, JSON.parse)
//   select+group selection and grouping into set-based statements, nothing applied
//   replay       the stream replayed into a copy of the table as it was before the update
//
// Usage (stack running, env from .lifeboat/stack.env): deno run -A bench/stream/big_tx/profile.ts [N]
import postgres from "postgres";
import { connect } from "../../../supabase/functions/_shared/db/mod.ts";
import { openStore } from "../../../supabase/functions/_shared/store/mod.ts";
import {
  listSegments,
  readSegmentLineBatches,
  shipOnce,
  WAL2JSON_OPTIONS,
} from "../../../supabase/functions/_shared/stream/mod.ts";
import {
  newSelectionStats,
  parseTarget,
  replayInto,
  selectTransactions,
  type StreamLines,
} from "../../../supabase/functions/_shared/pitr/mod.ts";
import { generateIdentity } from "../../../supabase/functions/_shared/crypto/mod.ts";
import { testSigning } from "../../../tests/support/signing.ts";
import { resetStream } from "../../../tests/support/stream.ts";

const url = Deno.env.get("SUPABASE_DB_URL");
if (!url) throw new Error("set SUPABASE_DB_URL (source .lifeboat/stack.env)");
const n = Number(Deno.args[0] ?? "200000");
const segmentBytes = Number(Deno.args[1] ?? String(4 * 1048576));
const sql = postgres(url, { max: 2, onnotice: () => {} });
const schema = `bench_prof_${n}`;
const dir = await Deno.makeTempDir({ prefix: "lifeboat-prof-" });
const store = openStore(dir);
const { identity, recipient } = await generateIdentity();
const shipSql = connect(url, { max: 2 });
const times: [string, number][] = [];
const time = async <T>(label: string, f: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  const r = await f();
  const s = (performance.now() - t) / 1000;
  times.push([label, s]);
  console.error(`${label}: ${s.toFixed(1)} s (${Math.round(n / s)} rows/s)`);
  return r;
};
try {
  await resetStream(sql);
  await sql.unsafe(`drop schema if exists ${schema} cascade; create schema ${schema};
    create table ${schema}.t (id int primary key, v int not null);
    insert into ${schema}.t select g, g from generate_series(1, ${n}) g;
    create table ${schema}.before as table ${schema}.t;`);
  await sql`select lifeboat.stream_enable(null)`;
  await sql`update lifeboat.schedules set enabled = false where name = 'stream-ship'`;
  await sql`select count(*) from lifeboat.apply_schedules()`;
  await time("update", () => sql.unsafe(`update ${schema}.t set v = v + 1`));
  const [{ slot }] = await sql`select slot from lifeboat.stream_state`;
  const [{ filter }] = await sql`select lifeboat.stream_filter_tables('{}'::text[]) as filter`;
  const opts = [...WAL2JSON_OPTIONS, "filter-tables", String(filter)];
  await time("peek-count", () => sql`select count(*) from pg_logical_slot_peek_changes(${slot}, null, null, variadic ${opts}::text[])`);
  await time("peek-cursor", async () => {
    let k = 0;
    for await (
      const b of sql`select c.lsn::text as lsn, c.data, c.n from pg_logical_slot_peek_changes(${slot}, null, null, variadic ${opts}::text[])
        with ordinality as c(lsn, xid, data, n) where c.n > 0 order by c.n`.cursor(500)
    ) k += b.length;
    return k;
  });
  await time("peek-cursor+parse", async () => {
    let k = 0;
    for await (
      const b of sql`select c.lsn::text as lsn, c.data, c.n from pg_logical_slot_peek_changes(${slot}, null, null, variadic ${opts}::text[])
        with ordinality as c(lsn, xid, data, n) where c.n > 0 order by c.n`.cursor(500)
    ) for (const r of b) k += JSON.parse(String(r.data)).action.length;
    return k;
  });
  let passes = 0;
  await time("ship", async () => {
    for (;;) {
      const r = await shipOnce({
        sql: shipSql, store, owner: "bench-prof", seal: { recipients: [recipient], compression: "zstd" }, signingKey: testSigning.key,
        limits: { segmentBytes, maxRecords: 20_000, wallMs: null, cpuMs: null },
      });
      passes++;
      console.error(`  pass ${passes}: ${r.rows} rows, ${r.segments.length} segments, ${r.wallMs} ms, stopped by ${r.stoppedBy}`);
      if (r.caughtUp || r.state !== "shipped") break;
    }
  });
  const trust = { trustedKeys: [testSigning.publicKey], allowUnsigned: false };
  const segments = await listSegments(store, slot, { trust });
  async function* lines(): AsyncGenerator<StreamLines> {
    for (const seg of segments) for await (const b of readSegmentLineBatches(store, seg, [identity])) yield { lines: b, where: () => "" };
  }
  await time("read", async () => {
    let k = 0;
    for await (const b of lines()) k += b.lines.length;
    return k;
  });
  // Everything the stream holds (the snapshot saw nothing of it: xmax 0 is widened against 1).
  const snap = { xmin: 1n, xmax: 1n, xip: new Set<bigint>() } as never;
  const target = parseTarget({ until: "latest" });
  await time("select+group", async () => {
    const { OpBuilder } = await import("../../../supabase/functions/_shared/pitr/batch.ts");
    let b = new OpBuilder(2000);
    for await (const evs of selectTransactions(lines(), snap, target, newSelectionStats())) {
      for (const ev of evs) {
        if (ev.type === "change") b.addRow(ev.raw, "");
        if (b.changes >= 40_000) b = new OpBuilder(2000);
      }
    }
  });
  // Replay into a table `t` of a scratch schema named like the source's, holding the old rows.
  await sql.unsafe(`drop schema if exists ${schema}_r cascade; create schema ${schema}_r; create table ${schema}_r.t (id int primary key, v int not null);
    insert into ${schema}_r.t select * from ${schema}.before`);
  async function* renamed(): AsyncGenerator<StreamLines> {
    for await (const b of lines()) yield { lines: b.lines.map((l) => l.replaceAll(`"schema":"${schema}"`, `"schema":"${schema}_r"`)), where: () => "" };
  }
  const target2 = connect(url, { max: 4 });
  const windows: number[] = [];
  let tw = performance.now();
  const replayed = await time("replay", () =>
    replayInto(selectTransactions(renamed(), snap, target, newSelectionStats()), {
      sql: target2, applies: (s) => s === `${schema}_r`,
      onWindow: () => {
        windows.push(Math.round(performance.now() - tw));
        tw = performance.now();
      },
    }));
  console.error(`replay: ${JSON.stringify(replayed)}; ms between windows committed: ${windows.join(" ")}`);
  await target2.end();
  const [eq] = await sql.unsafe(`select (select md5(string_agg(t::text, ',' order by id)) from ${schema}.t)
    = (select md5(string_agg(t::text, ',' order by id)) from ${schema}_r.t) as same`);
  console.error(`replayed table equals the source: ${eq.same}; passes ${passes}, segments ${segments.length}`);
} finally {
  await sql`select lifeboat.stream_disable()`.catch(() => {});
  await sql.unsafe(`drop schema if exists ${schema} cascade; drop schema if exists ${schema}_r cascade`).catch(() => {});
  await shipSql.end();
  await sql.end();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
console.log(times.map(([l, s]) => `${l}\t${s.toFixed(2)}`).join("\n"));

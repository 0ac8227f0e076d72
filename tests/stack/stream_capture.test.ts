// Continuous capture on the real stack: inserts, updates (a TOASTed column left unchanged is
// absent from the record), deletes, truncates, DDL in commit order through lifeboat.stream_ddl,
// sequences recorded per segment, a table without a primary key, and a big transaction cut
// across segments; every stored record equals the reference decode of the same WAL, once.
import assert from "node:assert/strict";
import { db } from "../../harness/stack.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { loadStatusReport, renderPrometheus, renderStatusPage } from "../../supabase/functions/_shared/status/mod.ts";
import type { Wal2JsonRecord } from "../../supabase/functions/_shared/stream/mod.ts";
import { enableWithReference, linesOn, referenceLines, resetStream, shipUntilCaughtUp, storedLines } from "../support/stream.ts";

const T = ["sc_cap.items", "sc_cap.nokey", "sc_cap.fresh", "sc_cap.gone", "sc_cap.things", "lifeboat.stream_ddl"];

Deno.test({
  name: "stream capture: every change of the workload is stored once, in commit order, with DDL, TOAST and sequences",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = db();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-stream-cap-" });
    const store = openStore(dir);
    try {
      await resetStream(sql);
      await sql.unsafe(`drop schema if exists sc_cap cascade; create schema sc_cap;
        create table sc_cap.items (id bigserial primary key, label text not null, body text);
        create table sc_cap.nokey (a int, b text);`);
      const enabled = await enableWithReference(sql) as { warnings: { table: string }[] };
      assert.ok(enabled.warnings.some((w) => w.table === "sc_cap.nokey"), "a table without a primary key is named in a warning");
      const [ri] = await sql`select relreplident from pg_class where oid = 'sc_cap.nokey'::regclass`;
      assert.equal(ri.relreplident, "f", "replica identity full was set on the table without a primary key");

      // A TOASTed value: 200 kB of incompressible text.
      const big = Array.from({ length: 200_000 / 32 }, () => crypto.randomUUID().replaceAll("-", "")).join("");
      await sql`insert into sc_cap.items (label, body) values ('toasted', ${big}), ('plain', 'p'), ('doomed', 'd')`;
      await sql`update sc_cap.items set label = 'toasted-2' where label = 'toasted'`;
      await sql`delete from sc_cap.items where label = 'doomed'`;
      await sql`insert into sc_cap.nokey values (1, 'x'), (2, 'y')`;
      await sql`update sc_cap.nokey set b = 'z' where a = 1`;
      await sql`delete from sc_cap.nokey where a = 2`;
      await sql.unsafe(`alter table sc_cap.items add column flag boolean not null default true;
        alter table sc_cap.items rename column label to name;
        create table sc_cap.fresh (id int primary key, v text);
        create table sc_cap.gone (id int primary key);`);
      await sql`insert into sc_cap.fresh values (1, 'one')`;
      await sql`insert into sc_cap.gone values (1)`;
      await sql.unsafe(`drop table sc_cap.gone`);
      await sql`truncate sc_cap.fresh`;
      // A transaction bigger than a segment (segments are cut at 64 KiB below).
      await sql.unsafe(`create table sc_cap.things (id int primary key, v text);
        insert into sc_cap.things select g, repeat('x', 40) from generate_series(1, 5000) g;`);
      const [{ last }] = await sql`select last_value as last from sc_cap.items_id_seq`;

      const passes = await shipUntilCaughtUp(sql, store, { segmentBytes: 64 * 1024 });
      assert.ok(passes.some((p) => p.segments.length > 0));
      const { lines, segments } = await storedLines(store);
      const stored = linesOn(lines, T);
      const reference = await referenceLines(sql, T);
      assert.ok(reference.length > 5000, `reference decode has ${reference.length} records`);
      assert.deepEqual(stored, reference, "the stored records are the reference decode, record for record");

      const recs = stored.map((l) => JSON.parse(l) as Wal2JsonRecord);
      const toastUpdate = recs.find((r) => r.action === "U" && r.table === "items" && r.columns?.some((c) => c.value === "toasted-2"));
      assert.ok(toastUpdate, "the update of the TOASTed row is stored");
      assert.equal(toastUpdate.columns!.some((c) => c.name === "body"), false, "the unchanged TOASTed column is absent, not null");
      assert.ok(recs.some((r) => r.action === "D" && r.table === "items"));
      const nokeyDelete = recs.find((r) => r.action === "D" && r.table === "nokey");
      assert.deepEqual(nokeyDelete?.identity?.map((c) => c.name), ["a", "b"], "replica identity full: the delete carries the whole old row");
      assert.ok(recs.some((r) => r.action === "T" && r.table === "fresh"), "the truncate is stored");

      // DDL, in commit order with the data.
      const ddl = recs.filter((r) => r.table === "stream_ddl" && r.action === "I").map((r) => ({
        tag: r.columns!.find((c) => c.name === "command_tag")!.value as string,
        statement: r.columns!.find((c) => c.name === "statement")!.value as string,
      }));
      const tags = ddl.map((d) => d.tag);
      for (const t of ["ALTER TABLE", "CREATE TABLE", "DROP TABLE"]) assert.ok(tags.includes(t), `${t} captured (got ${tags.join(", ")})`);
      const idx = (pred: (r: Wal2JsonRecord) => boolean) => recs.findIndex(pred);
      const createFresh = idx((r) => r.table === "stream_ddl" && JSON.stringify(r.columns).includes("sc_cap.fresh"));
      const insertFresh = idx((r) => r.action === "I" && r.table === "fresh");
      const dropGone = idx((r) => r.table === "stream_ddl" && JSON.stringify(r.columns).includes("DROP TABLE"));
      const insertGone = idx((r) => r.action === "I" && r.table === "gone");
      assert.ok(createFresh >= 0 && createFresh < insertFresh, "create table comes before its first insert");
      assert.ok(insertGone >= 0 && insertGone < dropGone, "the insert into a table comes before its drop");

      // The big transaction spans segments; sequences are recorded at least as high as used.
      assert.ok(segments.some((m) => m.partial !== null), "a segment ends inside the 5000-row transaction");
      const seqEntry = segments.at(-1)!.sequences.find((s) => s.schema === "sc_cap" && s.name === "items_id_seq");
      assert.ok(seqEntry && BigInt(seqEntry.lastValue) >= BigInt(last), "the last segment records items_id_seq at least as high as used");

      // Status: an achieved RPO, a lag, the slot advanced to what is stored.
      const [st] = await sql`select lifeboat.status_stream() as s`;
      assert.equal(st.s.running, true);
      assert.ok(st.s.achieved_rpo_seconds !== null && st.s.achieved_rpo_seconds < 60, `achieved RPO ${st.s.achieved_rpo_seconds}`);
      const [slot] = await sql`select confirmed_flush_lsn::text as c from pg_replication_slots where slot_name = 'lifeboat_stream'`;
      const [state] = await sql`select confirmed_lsn::text as c, pending_records from lifeboat.stream_state`;
      assert.equal(slot.c, state.c, "the slot stands where the stream recorded its last stored commit");
      assert.equal(Number(state.pending_records), 0);

      // The status report, its page and its metrics carry the stream.
      const report = await loadStatusReport(sql as never);
      assert.equal(report.stream?.running, true);
      assert.match(renderPrometheus(report), /^lifeboat_stream_achieved_rpo_seconds\{slot="lifeboat_stream"\} [0-9.]+$/m);
      assert.match(renderPrometheus(report), /^lifeboat_stream_lag_bytes\{slot="lifeboat_stream"\} \d+$/m);
      assert.match(renderStatusPage(report), /Continuous protection.*achieved RPO/s);
    } finally {
      await resetStream(sql).catch(() => {});
      await sql.unsafe(`drop schema if exists sc_cap cascade`).catch(() => {});
      await sql.end();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

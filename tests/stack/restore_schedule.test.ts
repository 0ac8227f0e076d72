// The restore's scheduling: the work list (dependencies, priorities, first failure stops it),
// how tables are cut into load units, the order of a table's index builds, ANALYZE and
// fingerprint; then, against real Postgres, a table bigger than a job's share loaded by several
// connections at once restores with matching fingerprints, and a part that changes after the
// pre-load check fails the restore loudly with its rows rolled back.
import { testSigning } from "../support/signing.ts";
import assert from "node:assert/strict";
import { openStream, parseIdentityFile } from "../../supabase/functions/_shared/crypto/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import type { StoredObjectEntry, TableEntry } from "../../supabase/functions/_shared/format/mod.ts";
import { splitPart, verifyingStream } from "../../supabase/functions/_shared/restore/mod.ts";
import type { PlannedStatement } from "../../supabase/functions/_shared/restore/mod.ts";
import { restoreBackup } from "../../supabase/functions/_shared/restore/mod.ts";
import { type LoadUnit, type PartTask, planLoadUnits } from "../../supabase/functions/_shared/restore/mod.ts";
import { planWork } from "../../supabase/functions/_shared/restore/mod.ts";
import { runScheduled, type WorkItem } from "../../supabase/functions/_shared/restore/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import type { Store } from "../../supabase/functions/_shared/store/mod.ts";
import { backup, client, createDb, dropDb, lifeboat, makeKey, urlOf } from "../support/restore.ts";

const tick = () => new Promise((r) => setTimeout(r, 5));

Deno.test("runScheduled: dependencies, priorities, concurrency", async () => {
  const log: string[] = [];
  let running = 0, peak = 0;
  const item = (id: string, priority: number, after: string[] = []): WorkItem => ({
    id,
    priority,
    after,
    run: async () => {
      running++;
      peak = Math.max(peak, running);
      log.push(`start ${id}`);
      await tick();
      log.push(`end ${id}`);
      running--;
    },
  });
  await runScheduled([item("a", 1), item("b", 5), item("c", 9, ["a"]), item("d", 3), item("e", 0, ["b", "c"])], 2);
  assert.equal(peak, 2);
  // b (5) and d (3) start before a (1); c waits for a, e for b and c.
  assert.deepEqual(log.filter((l) => l.startsWith("start")).slice(0, 2), ["start b", "start d"]);
  assert.ok(log.indexOf("start c") > log.indexOf("end a"));
  assert.ok(log.indexOf("start e") > log.indexOf("end c") && log.indexOf("start e") > log.indexOf("end b"));
  assert.equal(log.filter((l) => l.startsWith("end")).length, 5);
  await assert.rejects(runScheduled([item("x", 0, ["nope"])], 1), /unknown item nope/);
  await assert.rejects(runScheduled([item("x", 0, ["y"]), item("y", 0, ["x"])], 1), /cycle/);
});

Deno.test("runScheduled: the first failure aborts running items, starts no more, and is rethrown", async () => {
  const started: string[] = [];
  let slowSawAbort = false, slowSettled = false;
  const items: WorkItem[] = [
    {
      id: "slow",
      priority: 9,
      run: async (signal) => {
        started.push("slow");
        while (!signal.aborted) await tick();
        slowSawAbort = true;
        await tick();
        slowSettled = true;
      },
    },
    {
      id: "bad",
      priority: 8,
      run: async () => {
        started.push("bad");
        await tick();
        throw new Error("part 3 failed");
      },
    },
    { id: "later", priority: 1, run: () => Promise.resolve(void started.push("later")) },
    { id: "after-bad", priority: 0, after: ["bad"], run: () => Promise.resolve(void started.push("after-bad")) },
  ];
  await assert.rejects(runScheduled(items, 2), /part 3 failed/);
  assert.deepEqual(started, ["slow", "bad"]);
  assert.ok(slowSawAbort && slowSettled, "the running item was told to stop and awaited");
});

function table(name: string, rows: number, bytes: number, parts: number): { table: TableEntry; tasks: PartTask[] } {
  const keys = Array.from({ length: parts }, (_, i) => `data/${name}/part-${i}`);
  const t: TableEntry = { schema: "s", name, rows, bytes, fingerprint: null, parts: keys };
  const tasks = keys.map((key, i): PartTask => ({
    table: t,
    target: { schema: "s", name },
    object: { key, kind: "data", size: 1000, sha256: "0".repeat(64), rows: rows / parts, part: i } as StoredObjectEntry,
  }));
  return { table: t, tasks };
}

Deno.test("planLoadUnits: a table above a job's share is split into parts, the others load whole with FREEZE", () => {
  const big = table("big", 2_000_000, 266e6, 17), mid = table("mid", 250_000, 335e6, 21), small = table("small", 2_000, 192e6, 12);
  const all = [...small.tasks, ...big.tasks, ...mid.tasks];
  const two = planLoadUnits(all, 2);
  assert.equal(two.filter((u) => u.target.name === "big").length, 17);
  assert.ok(two.filter((u) => u.target.name === "big").every((u) => !u.freeze && u.tasks.length === 1));
  const whole = two.filter((u) => u.target.name !== "big");
  assert.deepEqual(whole.map((u) => [u.target.name, u.freeze, u.tasks.length]), [["mid", true, 21], ["small", true, 12]]);
  assert.equal(two[0].target.name, "big", "the costliest table first");
  assert.deepEqual(whole[0].tasks.map((t) => t.object.part), [...Array(21).keys()], "parts in order");
  // One job: everything whole; FREEZE off: everything split.
  assert.ok(planLoadUnits(all, 1).every((u) => u.freeze));
  assert.equal(planLoadUnits(all, 1).length, 3);
  assert.ok(planLoadUnits(all, 2, false).every((u) => !u.freeze && u.tasks.length === 1));
});

Deno.test("planWork: constraints alone in script order, index builds and the fingerprint between them, ANALYZE last", () => {
  const st = (kind: "index" | "alter_table" | "analyze", sql: string): PlannedStatement => ({ sql, kind, tolerateExisting: false, label: sql });
  const unit = { cost: 100 } as LoadUnit;
  const ran: string[] = [];
  const items = planWork([{
    key: "t",
    loads: [unit, unit],
    builds: [st("alter_table", "pk"), st("index", "i1"), st("index", "i2"), st("alter_table", "uq"), st("alter_table", "ck"), st("index", "i3")],
    analyze: [st("analyze", "analyze t")],
    fingerprint: true,
  }, { key: "empty", loads: [], builds: [], analyze: [], fingerprint: true }], {
    load: () => Promise.resolve(),
    statements: (p) => Promise.resolve(void ran.push(p.map((x) => x.sql).join("+"))),
    fingerprint: () => Promise.resolve(),
  });
  const by = (pred: (i: WorkItem) => boolean) => items.filter(pred);
  const one = (pred: (i: WorkItem) => boolean) => {
    const r = by(pred);
    assert.equal(r.length, 1);
    return r[0];
  };
  const loads = by((i) => i.id.startsWith("load t")).map((i) => i.id);
  assert.equal(loads.length, 2);
  const cons = by((i) => i.id.startsWith("constraints t"));
  assert.equal(cons.length, 2, "pk alone, then uq+ck together");
  const [pk, uqck] = cons;
  const idx = by((i) => i.id.startsWith("index t"));
  assert.deepEqual(pk.after, loads);
  assert.deepEqual(idx[0].after, [pk.id]);
  assert.deepEqual(idx[1].after, [pk.id]);
  assert.deepEqual(uqck.after, [pk.id, idx[0].id, idx[1].id]);
  assert.deepEqual(idx[2].after, [uqck.id]);
  assert.deepEqual(one((i) => i.id === "fingerprint t").after, [uqck.id]);
  assert.deepEqual(one((i) => i.id === "analyze t").after, [uqck.id, idx[2].id]);
  assert.deepEqual(one((i) => i.id === "fingerprint empty").after, [], "a table without rows is fingerprinted at once");
  // Critical-path priorities: the loads before the work that follows them.
  assert.ok(items.find((i) => i.id === loads[0])!.priority > pk.priority);
  assert.ok(pk.priority > idx[2].priority);
});

Deno.test("splitPart: a row count other than the manifest's errors the rows before they close", async () => {
  const enc = new TextEncoder();
  const src = (s: string) => new ReadableStream<Uint8Array>({ start: (c) => (c.enqueue(enc.encode(s)), c.close()) });
  const ok = await splitPart(src('COPY "s"."t" ("a") FROM stdin;\n1\n2\n\\.\n'), 2);
  assert.equal(await new Response(ok.rows).text(), "1\n2\n");
  const short = await splitPart(src('COPY "s"."t" ("a") FROM stdin;\n1\n2\n\\.\n'), 3);
  await assert.rejects(new Response(short.rows).text(), /holds 2 rows, the manifest says 3/);
  // Without hashing (encrypted objects), the size is still checked.
  const v = src("abc").pipeThrough(verifyingStream("0".repeat(64), 4, "part x", false));
  await assert.rejects(new Response(v).text(), /part x changed in the store .*size mismatch/);
  assert.equal(await new Response(src("abcd").pipeThrough(verifyingStream("0".repeat(64), 4, "part x", false))).text(), "abcd");
});

const SCHEMA = "lb_split";
const SETUP = `
drop schema if exists ${SCHEMA} cascade;
create schema ${SCHEMA};
create table ${SCHEMA}.big (id bigint primary key, at timestamptz not null, kind text not null, payload jsonb not null);
insert into ${SCHEMA}.big select g, timestamptz '2024-01-01' + g * interval '1 minute', (array['a','b','c'])[1 + g % 3],
  jsonb_build_object('n', g, 'ua', md5(g::text)) from generate_series(1, 60000) g;
create index big_at_idx on ${SCHEMA}.big (at);
create unique index big_kind_id_idx on ${SCHEMA}.big (kind, id);
create table ${SCHEMA}.small (id int primary key, big_id bigint references ${SCHEMA}.big (id), note text);
insert into ${SCHEMA}.small select g, g * 3, 'note ' || g from generate_series(1, 500) g;
create table ${SCHEMA}.tiny (id int primary key);
insert into ${SCHEMA}.tiny values (1), (2);
`;

/** A store that serves `changed` instead of the stored bytes of `key` from its second read on. */
function changingStore(inner: Store, key: string, changed: Uint8Array): Store {
  let reads = 0;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "get") {
        return async (k: string, opts?: { signal?: AbortSignal }) => {
          if (k.endsWith(key) && ++reads > 1) return new Blob([changed as BlobPart]).stream();
          return await target.get(k, opts);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

Deno.test("restore: a table split across jobs matches its fingerprint; a part changed mid-restore fails loudly and rolls back", async (t) => {
  const src = client();
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-restore-split-" });
  const store = `${dir}/store`;
  try {
    await src.unsafe(SETUP);
    const key = await makeKey(dir);
    const id = await backup(store, key.recipient, ["--include-schema", SCHEMA, "--part-size", "1"]);
    const manifest = JSON.parse(await Deno.readTextFile(`${store}/${id}/manifest.json`));
    const bigEntry = manifest.tables.find((x: TableEntry) => x.name === "big");
    assert.ok(bigEntry.parts.length >= 4, `the big table has several parts (${bigEntry.parts.length})`);

    await t.step("the big table is loaded by several connections and every fingerprint matches", async () => {
      const db = await createDb("lifeboat_split");
      try {
        const r = await lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", urlOf(db), "--jobs", "3", "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const report = JSON.parse(r.stdout);
        assert.equal(report.passed, true);
        assert.equal(report.tables.length, 3);
        assert.ok(report.tables.every((x: { fingerprint: string }) => x.fingerprint === "match"), r.stdout);
        const dst = client(urlOf(db));
        try {
          // Each part of a split table commits on its own: several loading transactions. A
          // table that fits a job's share is one FREEZE transaction.
          const [big] = await dst.unsafe(`select count(distinct xmin::text)::int as n, count(*)::int as rows from ${SCHEMA}.big`);
          assert.ok(big.n > 1, `big was loaded in ${big.n} transactions`);
          assert.equal(big.rows, 60000);
          const [small] = await dst.unsafe(`select count(distinct xmin::text)::int as n from ${SCHEMA}.small`);
          assert.equal(small.n, 1);
          const idx = await dst`select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
            join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${SCHEMA} and i.indisvalid order by 1`;
          assert.deepEqual(idx.map((x) => x.relname), ["big_at_idx", "big_kind_id_idx", "big_pkey", "small_pkey", "tiny_pkey"]);
          const [fk] = await dst`select count(*)::int as n from pg_constraint where contype = 'f' and connamespace = ${SCHEMA}::regnamespace`;
          assert.equal(fk.n, 1);
          const [st] = await dst`select count(*)::int as n from pg_stats where schemaname = ${SCHEMA} and tablename = 'big'`;
          assert.ok(st.n > 0, "ANALYZE ran");
        } finally {
          await dst.end();
        }
      } finally {
        await dropDb(db);
      }
    });

    await t.step("a part that changes after the pre-load check: the restore fails, that part's rows are rolled back", async () => {
      // gzip streams rows out as it goes, so rows of the part reach COPY before the damage does.
      const gzId = await backup(store, key.recipient, ["--include-schema", SCHEMA, "--part-size", "1", "--compression", "gzip"]);
      const gzManifest = JSON.parse(await Deno.readTextFile(`${store}/${gzId}/manifest.json`));
      const gzBig = gzManifest.tables.find((x: TableEntry) => x.name === "big");
      const partKey = gzBig.parts[Math.floor(gzBig.parts.length / 2)];
      const original = await Deno.readFile(`${store}/${gzId}/${partKey}`);
      const identities = parseIdentityFile(await Deno.readTextFile(key.path));
      // The ids the part holds, to look for them afterwards.
      const plain = await splitPart(await openStream(new Blob([original]).stream(), identities, "gzip"));
      const ids = (await new Response(plain.rows).text()).trimEnd().split("\n").map((l) => Number(l.split("\t")[0]));
      assert.ok(ids.length > 100);
      const changed = original.slice();
      changed[Math.floor(changed.length * 0.75)] ^= 0x01; // same size: only decryption can tell
      const db = await createDb("lifeboat_split_fail");
      const target = connect(urlOf(db), { max: 5 });
      try {
        const report = await restoreBackup({
          store: changingStore(openStore(store), partKey, changed),
          id: gzId,
          identities,
          trust: { trustedKeys: [testSigning.publicKey], allowUnsigned: false },
          target,
          jobs: 3,
        });
        assert.equal(report.passed, false);
        assert.equal(report.wrote, true);
        const stop = report.checks.find((c) => c.check === "restore" && c.level === "error");
        assert.ok(stop, JSON.stringify(report.checks));
        assert.match(stop.detail, new RegExp(`loading part ${partKey.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} of ${SCHEMA}\\.big .*rolled back`));
        assert.match(stop.remediation, /partial restore.*--clean/);
        const dst = client(urlOf(db));
        try {
          const [n] = await dst.unsafe(`select count(*)::int as n from ${SCHEMA}.big where id = any($1::bigint[])`, [ids]);
          assert.equal(n.n, 0, "none of the changed part's rows is in the target");
          const [all] = await dst.unsafe(`select count(*)::int as n from ${SCHEMA}.big`);
          assert.ok(all.n < 60000);
        } finally {
          await dst.end();
        }
      } finally {
        await target.end({ timeout: 5 });
        await dropDb(db);
      }
    });
  } finally {
    await src.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await src.end();
    await Deno.remove(dir, { recursive: true });
  }
});


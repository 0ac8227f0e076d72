// The shipper under faults, on the real stack: killed (SIGKILL) at 20+ random points while a
// workload writes, stopped by injected crashes exactly between "stored" and "recorded" and
// between "recorded" and "slot advanced", and with the store unreachable for a while. After
// each, the stream resumes, and the stored records equal the reference decode of the same
// WAL: nothing lost, nothing stored twice.
import assert from "node:assert/strict";
import { db, denoBin, repoRoot, run, waitFor } from "../../harness/stack.ts";
import { startFaultProxy } from "../../harness/fault_proxy.ts";
import { openStore, type Store } from "../../supabase/functions/_shared/store/mod.ts";
import { shipOnce } from "../../supabase/functions/_shared/stream/mod.ts";
import {
  enableWithReference,
  linesOn,
  referenceLines,
  resetStream,
  shipUntilCaughtUp,
  storedLines,
} from "../support/stream.ts";
import { testSigning } from "../support/signing.ts";

const T = ["sc_kill.t"];
const opts = { sanitizeResources: false, sanitizeOps: false };

/** Writes small and large transactions (inserts, updates, deletes) until stopped. */
function workload(sql: ReturnType<typeof db>, stop: { done: boolean }): Promise<number> {
  return (async () => {
    let n = 0;
    while (!stop.done) {
      const r = Math.random();
      try {
        if (r < 0.05) {
          await sql`insert into sc_kill.t (v) select repeat('big', 10) from generate_series(1, 1500)`;
        } else if (r < 0.2) {
          await sql`update sc_kill.t set v = v || '+' where id in (select id from sc_kill.t order by random() limit 5)`;
        } else if (r < 0.3) {
          await sql`delete from sc_kill.t where id in (select id from sc_kill.t order by random() limit 3)`;
        } else {
          await sql`insert into sc_kill.t (v) select md5(random()::text) from generate_series(1, ${
            1 + Math.floor(Math.random() * 30)
          })`;
        }
      } catch {
        // the database is being stopped by a test: try again once it is back
        await new Promise((res) => setTimeout(res, 200));
      }
      n++;
      await new Promise((res) => setTimeout(res, 40));
    }
    return n;
  })();
}

async function prepare(sql: ReturnType<typeof db>) {
  await resetStream(sql);
  await sql.unsafe(`drop schema if exists sc_kill cascade; create schema sc_kill;
    create table sc_kill.t (id bigserial primary key, v text not null);`);
  await enableWithReference(sql);
}

/** Puts the stream's settings (a directory target, unencrypted, small segments) for a CLI shipper. */
async function useDirectoryTarget(sql: ReturnType<typeof db>, dir: string, segmentBytes: number, maxRecords: number) {
  await sql`update lifeboat.settings set value = ${sql.json(dir)} where key = 'export.target'`;
  await sql`update lifeboat.settings set value = 'true' where key = 'export.unencrypted'`;
  await sql`update lifeboat.settings set value = '[]' where key = 'export.recipients'`;
  await sql`update lifeboat.settings set value = ${segmentBytes} where key = 'stream.segment_bytes'`;
  await sql`update lifeboat.settings set value = ${maxRecords} where key = 'stream.max_records'`;
}

/** Drops the stream and the test schema, closes the clients, removes the directory. */
async function cleanup(sql: ReturnType<typeof db>, others: ReturnType<typeof db>[], dir?: string) {
  await resetStream(sql).catch(() => {});
  await sql.unsafe(`drop schema if exists sc_kill cascade`).catch(() => {});
  await Promise.all([sql.end(), ...others.map((o) => o.end())]);
  if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

async function assertExact(sql: ReturnType<typeof db>, store: Store) {
  const { lines, segments } = await storedLines(store); // also refuses gaps and bad checksums
  const stored = linesOn(lines, T);
  const reference = await referenceLines(sql, T);
  assert.ok(reference.length > 100, `the workload wrote ${reference.length} records`);
  assert.equal(stored.length, reference.length, "as many stored records as the reference decode has");
  assert.deepEqual(stored, reference, "stored = reference, record for record");
  return segments;
}

Deno.test({
  ...opts,
  name: "stream faults: 'lifeboat stream run' killed with SIGKILL at 20+ random points loses and doubles nothing",
  fn: async () => {
    const sql = db();
    const work = db();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-stream-kill-" });
    const store = openStore(dir);
    const stop = { done: false };
    try {
      await prepare(sql);
      // A peek materializes its rows before the first one arrives: small passes start shipping sooner.
      await useDirectoryTarget(sql, dir, 8192, 2000);
      const writing = workload(work, stop);
      const env = { ...Deno.env.toObject(), LIFEBOAT_SIGNING_KEY_FILE: testSigning.privateFile };
      let kills = 0;
      let killsWithProgress = 0;
      for (let i = 0; i < 22; i++) {
        const [{ n: before }] = await sql`select count(*)::int as n from lifeboat.stream_segments`;
        const child = new Deno.Command(denoBin, {
          args: ["run", "-A", "--quiet", `${repoRoot}/scripts/lifeboat.ts`, "stream", "run", "--poll-ms", "50"],
          env,
          stdout: "null",
          stderr: "inherit",
        }).spawn();
        // Once this process has claimed the stream (it is shipping), kill it at a random moment.
        const owner = `cli-${Deno.hostname()}-${child.pid}`;
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline) {
          const [s] = await sql`select last_run_by from lifeboat.stream_state`;
          if (s?.last_run_by === owner) break;
          await new Promise((r) => setTimeout(r, 25));
        }
        await new Promise((r) => setTimeout(r, Math.random() * 1500));
        child.kill("SIGKILL");
        await child.status;
        kills++;
        const [{ n: after }] = await sql`select count(*)::int as n from lifeboat.stream_segments`;
        if (after > before) killsWithProgress++;
        // The killed shipper's lease would hold the next one off for stream.lease: a new owner
        // may take over only after it expires, so expire it (as time would).
        await sql`update lifeboat.stream_state set lease_until = now() where lease_owner like 'cli-%'`;
      }
      stop.done = true;
      await writing;
      assert.ok(kills >= 20);
      assert.ok(killsWithProgress >= 10, `the shipper made progress between ${killsWithProgress} of ${kills} kills`);
      await shipUntilCaughtUp(sql, store, { segmentBytes: 32768 });
      const segments = await assertExact(sql, store);
      assert.ok(segments.length > 20, `${segments.length} segments`);
      assert.ok(segments.some((m) => m.partial !== null), "some segments end inside a transaction");
    } finally {
      stop.done = true;
      await cleanup(sql, [work], dir);
    }
  },
});

Deno.test({
  ...opts,
  name: "stream faults: crashes between stored and recorded, recorded and advanced, and mid-segment resume exactly",
  fn: async () => {
    const sql = db();
    const work = db();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-stream-crash-" });
    const store = openStore(dir);
    const stop = { done: false };
    class Crash extends Error {}
    try {
      await prepare(sql);
      const writing = workload(work, stop);
      let crashes = { store: 0, record: 0, row: 0 };
      // At least 24 passes, and more (up to 60) until each crash point has been hit: a pass
      // sees only the changes written since the last one, so a mid-segment crash at a random
      // row may find fewer rows than that; it is retried, never counted as done.
      const allHit = () => crashes.store > 0 && crashes.record > 0 && crashes.row > 0;
      for (let i = 0; i < 60 && (i < 24 || !allHit()); i++) {
        await new Promise((r) => setTimeout(r, 60));
        const point = i % 3;
        const atRow = 1 + Math.floor(Math.random() * 50);
        await shipOnce({
          sql,
          store,
          owner: `crashy-${i}`,
          seal: { recipients: [], compression: "zstd" },
          signingKey: testSigning.key,
          limits: { segmentBytes: 32768, maxRecords: 5000, wallMs: null, cpuMs: null },
          hooks: {
            afterStore: () => {
              if (point === 0) throw new Crash("after store");
            },
            afterRecord: () => {
              if (point === 1) throw new Crash("after record");
            },
            afterRow: (n) => {
              if (point === 2 && n >= atRow) throw new Crash("mid segment");
            },
          },
        }).then(() => {}, (err) => {
          if (!(err instanceof Crash)) throw err;
          crashes = {
            ...crashes,
            [["store", "record", "row"][point]]: crashes[["store", "record", "row"][point] as "store"] + 1,
          };
        });
      }
      stop.done = true;
      await writing;
      assert.ok(allHit(), JSON.stringify(crashes));
      await shipUntilCaughtUp(sql, store, { segmentBytes: 32768 });
      await assertExact(sql, store);
    } finally {
      stop.done = true;
      await cleanup(sql, [work], dir);
    }
  },
});

Deno.test({
  ...opts,
  name: "stream faults: the store unreachable for a while fails passes loudly, then the stream resumes exactly",
  fn: async () => {
    const sql = db();
    const work = db();
    const proxy = await startFaultProxy(Deno.env.get("LIFEBOAT_S3_ENDPOINT")!);
    const prefix = `stream-outage-${crypto.randomUUID().slice(0, 8)}`;
    const store = openStore(`s3://${Deno.env.get("LIFEBOAT_S3_BUCKET") ?? "lifeboat"}/${prefix}`, {
      s3: { endpoint: proxy.url, retry: { attempts: 2, baseDelayMs: 20, maxDelayMs: 50, timeoutMs: 2000 } },
    });
    const stop = { done: false };
    try {
      await prepare(sql);
      const writing = workload(work, stop);
      await shipUntilCaughtUp(sql, store, { segmentBytes: 32768 });
      proxy.inject({ fault: { kind: "reset" }, times: 1_000_000 });
      let failed = 0;
      const outageEnd = Date.now() + 5_000;
      while (Date.now() < outageEnd) {
        await shipUntilCaughtUp(sql, store, { segmentBytes: 32768 }).catch(() => failed++);
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(failed > 0, "passes fail while the store is unreachable");
      const [st] = await sql`select last_error is not null as failed from lifeboat.stream_state`;
      assert.equal(st.failed, true, "the failure is recorded in stream_state");
      proxy.clearFaults();
      stop.done = true;
      await writing;
      await shipUntilCaughtUp(sql, store, { segmentBytes: 32768 });
      await assertExact(sql, store);
    } finally {
      stop.done = true;
      await cleanup(sql, [work]);
      await proxy.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "stream faults: Postgres stopped while 'lifeboat stream run' is mid-segment; the stream resumes exactly",
  fn: async () => {
    const STACK = `${repoRoot}/scripts/stack.sh`;
    let sql = db();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-stream-pgstop-" });
    const store = openStore(dir);
    let child: Deno.ChildProcess | null = null;
    try {
      await prepare(sql);
      await useDirectoryTarget(sql, dir, 8192, 1500);
      // A backlog of transactions bigger than a segment, so the shipper is inside one when Postgres stops.
      for (let i = 0; i < 12; i++) {
        await sql`insert into sc_kill.t (v) select repeat('pg', 40) from generate_series(1, 800)`;
      }
      child = new Deno.Command(denoBin, {
        args: ["run", "-A", "--quiet", `${repoRoot}/scripts/lifeboat.ts`, "stream", "run", "--poll-ms", "100"],
        env: { ...Deno.env.toObject(), LIFEBOAT_SIGNING_KEY_FILE: testSigning.privateFile },
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      await waitFor(
        async () => (await sql`select count(*)::int as n from lifeboat.stream_segments`)[0].n >= 2,
        60_000,
        "the shipper to store segments",
      );
      await sql.end({ timeout: 1 }).catch(() => {});
      const stopped = await run("bash", [STACK, "db-stop"]);
      assert.equal(stopped.code, 0, stopped.stderr);
      await new Promise((r) => setTimeout(r, 3000));
      const started = await run("bash", [STACK, "db-start"]);
      assert.equal(started.code, 0, started.stderr);
      sql = db();
      await waitFor(async () => (await sql`select 1 as one`)[0].one === 1, 30_000, "Postgres back");
      // More changes after the restart; the same shipper process carries on.
      for (let i = 0; i < 3; i++) {
        await sql`insert into sc_kill.t (v) select md5(g::text) from generate_series(1, 300) g`;
      }
      await waitFor(
        async () => {
          const [s] = await sql`select lag_bytes from lifeboat.stream_slot_wal()`;
          const [p] = await sql`select pending_records from lifeboat.stream_state`;
          return Number(s.lag_bytes) < 64 * 1024 && Number(p.pending_records) === 0 &&
            (await referenceLines(sql, T)).length === linesOn((await storedLines(store)).lines, T).length;
        },
        90_000,
        "the shipper to catch up after the restart",
      );
      child.kill("SIGTERM");
      await child.status;
      child = null;
      await assertExact(sql, store);
    } finally {
      if (child) {
        child.kill("SIGKILL");
        await child.status;
      }
      await cleanup(sql, [], dir);
    }
  },
});

// A TRUNCATE that arrives while a full backup runs (issue 20). The backup holds ACCESS SHARE on
// every table from its coordinator; a TRUNCATE's ACCESS EXCLUSIVE request queues behind it, and
// any other session's ACCESS SHARE request on that table queues behind the TRUNCATE. A worker
// session that locked the table only when it reached it waited forever (a cycle through the
// client that Postgres cannot see). Now every worker locks all tables before reading (waiting
// a short grace at most), so a TRUNCATE either waits for the backup (it arrived after the
// workers hold their locks) or makes the backup take a new snapshot (it arrived before); a
// table truncated between the snapshot and its lock (TRUNCATE is not MVCC-safe) is detected
// instead of being read as empty. Each TRUNCATE is made to queue at the exact moment by waiting
// for it in pg_locks, so nothing here depends on timing; every backup runs under a deadline.
import assert from "node:assert/strict";
import postgres from "postgres";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import { exportBackup, type ExportResult, lockTables, SnapshotConflictError } from "../../supabase/functions/_shared/export/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { dbUrl, waitFor } from "../../harness/stack.ts";
import { client, createDb, dropDb, lifeboat, makeKey, sourceFingerprints, targetFingerprints, urlOf } from "../support/restore.ts";
import { testSigning } from "../support/signing.ts";

const SCHEMA = `trunc_lock_${crypto.randomUUID().slice(0, 6)}`;

/** Waits until a session waits for an ACCESS EXCLUSIVE lock on `table` (the queued TRUNCATE). */
async function truncateQueued(sql: postgres.Sql, table: string): Promise<void> {
  await waitFor(
    async () => {
      const [r] = await sql`
      select count(*)::int as n from pg_catalog.pg_locks l
      where l.relation = ${`${SCHEMA}.${table}`}::regclass and l.mode = 'AccessExclusiveLock' and not l.granted`;
      return r.n > 0;
    },
    30_000,
    "the TRUNCATE to queue behind the backup's lock",
  );
}

/** Every backup here ends (or fails) within a deadline: a hang is the defect under test. */
async function withDeadline<T>(p: Promise<T>, what: string, ms = 45_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms / 1000} s (the backup hangs)`)), ms);
  });
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls a condition of this process (no database) with a generous deadline. */
async function waitUntil(ok: () => boolean, what: string): Promise<void> {
  await waitFor(() => Promise.resolve(ok()), 30_000, what);
}

/** Restores backup `id` from `dir` with the CLI into a new database; its tables' fingerprints. */
async function restoredFingerprints(dir: string, id: string, keyPath: string): Promise<Map<string, string>> {
  const db = await createDb("trunc_lock");
  try {
    const r = await lifeboat(["restore", "--store", dir, id, "--identity", keyPath, "--target", urlOf(db), "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return await targetFingerprints(db, [`${SCHEMA}.keep`, `${SCHEMA}.trunc`]);
  } finally {
    await dropDb(db).catch(() => {});
  }
}

/** A backup's sessions and store directory, and a session that truncates. */
interface Sessions {
  dir: string;
  exportSql: ReturnType<typeof connect>;
  truncSql: postgres.Sql;
}

/** Makes the test schema and the sessions; drops and closes them all after `fn`. */
async function withTables<T>(fn: (sql: postgres.Sql, s: Sessions) => Promise<T>): Promise<T> {
  const sql = client();
  const s: Sessions = {
    dir: await Deno.makeTempDir({ prefix: "lifeboat-trunc-lock-" }),
    exportSql: connect(dbUrl(), { max: 5, bulkCopyOut: true }),
    truncSql: client(),
  };
  try {
    await sql.unsafe(`
      drop schema if exists ${SCHEMA} cascade;
      create schema ${SCHEMA};
      create table ${SCHEMA}.keep (id int primary key, v text);
      create table ${SCHEMA}.trunc (id int primary key, v text);
      insert into ${SCHEMA}.keep select g, md5(g::text) from generate_series(1, 2000) g;
      insert into ${SCHEMA}.trunc select g, md5(g::text) from generate_series(1, 500) g;`);
    return await fn(sql, s);
  } finally {
    // Bounded: a backup that hung (the defect under test) must not hang the cleanup too.
    await s.exportSql.end({ timeout: 5 });
    await s.truncSql.end({ timeout: 5 });
    await Deno.remove(s.dir, { recursive: true }).catch(() => {});
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`).catch(() => {});
    await sql.end();
  }
}

Deno.test({
  name:
    "export: a TRUNCATE queued behind a starting backup's locks: the mechanism, a fast retryable error, then a backup that matches",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTables(async (sql, { dir, exportSql, truncSql }) => {
      // The mechanism: one session holds ACCESS SHARE, a TRUNCATE queues, and another session's
      // ACCESS SHARE request queues behind the TRUNCATE (here bounded by a lock_timeout).
      const holder = client();
      const other = client();
      const truncater = client();
      try {
        await holder.begin(async (tx) => {
          await tx.unsafe(`lock table ${SCHEMA}.trunc in access share mode`);
          const truncate = truncater.unsafe(`truncate ${SCHEMA}.trunc`);
          truncate.catch(() => {});
          await truncateQueued(sql, "trunc");
          await assert.rejects(
            other.begin(async (o) => {
              await o`select pg_catalog.set_config('lock_timeout', '1000', true)`;
              await o.unsafe(`lock table ${SCHEMA}.trunc in access share mode`);
            }),
            (e: { code?: string }) => e.code === "55P03",
            "a second reader queues behind the queued TRUNCATE",
          );
        });
      } finally {
        await Promise.all([holder.end(), other.end(), truncater.end()]);
      }
      await sql.unsafe(`insert into ${SCHEMA}.trunc select g, md5(g::text) from generate_series(1, 500) g`);

      const store = openStore(dir);
      const common = {
        sql: exportSql,
        store,
        recipients: [],
        unencrypted: true,
        selection: { includeSchemas: [SCHEMA] },
        signingKey: null,
      };
      // The TRUNCATE arrives once the coordinator holds its locks and before the workers start.
      let truncates = 0;
      const truncateOnce = async () => {
        if (truncates++ > 0) return;
        truncSql.unsafe(`truncate ${SCHEMA}.trunc`).catch(() => {});
        await truncateQueued(sql, "trunc");
      };

      // With one snapshot allowed, the export fails fast with a retryable error and stores nothing.
      const started = performance.now();
      await assert.rejects(
        exportBackup({ ...common, snapshotAttempts: 1, onSnapshot: truncateOnce }),
        (e: unknown) =>
          e instanceof SnapshotConflictError && e.kind === "waiter" && /run the backup again/.test(e.message),
      );
      assert.ok(performance.now() - started < 60_000, "the export stopped instead of hanging");
      // Its locks are gone, so the TRUNCATE went through.
      await waitFor(
        async () => (await sql.unsafe(`select count(*)::int as n from ${SCHEMA}.trunc`))[0].n === 0,
        30_000,
        "the TRUNCATE",
      );
      let left: string[] = [];
      for await (const o of store.list("")) left.push(o.key);
      assert.deepEqual(left, [], "the failed attempt stored nothing");

      // By default the export takes a new snapshot and completes. Here the queued request is a
      // transaction that truncates and then inserts: it commits once the first attempt let go,
      // and the backup holds exactly what the source holds after it, as a restore shows.
      await sql.unsafe(`insert into ${SCHEMA}.trunc select g, 'again' from generate_series(1, 30) g`);
      let snapshots = 0;
      const truncSession = truncSql.begin(async (tx) => {
        await tx`select 1`;
        await waitUntil(() => snapshots > 0, "the backup's first snapshot");
        const t = tx.unsafe(`truncate ${SCHEMA}.trunc`);
        await t;
        await tx.unsafe(`insert into ${SCHEMA}.trunc select g, 'after' from generate_series(1, 7) g`);
      });
      const r = await withDeadline(
        exportBackup({
          ...common,
          onSnapshot: async () => {
            if (snapshots++ === 0) await truncateQueued(sql, "trunc");
          },
        }),
        "a backup whose first snapshot met a queued TRUNCATE",
      );
      await truncSession;
      assert.ok(snapshots >= 2, "the backup took a new snapshot");
      const rows = Object.fromEntries(r.manifest.tables.map((t) => [t.name, t.rows]));
      assert.deepEqual(rows, { keep: 2000, trunc: 7 }, "the backup holds the committed TRUNCATE and insert");
      for (const t of r.manifest.tables) {
        const [now] = await sql`select lifeboat.fingerprint(${`${SCHEMA}.${t.name}`}::regclass) as f`;
        assert.deepEqual(t.fingerprint, now.f, `${t.name}: the backup's fingerprint is the source's`);
      }
      left = [];
      for await (const o of store.list("")) left.push(o.key);
      assert.ok(left.every((k) => k.startsWith(`${r.id}/`)), "only the completed backup's objects are stored");
    }),
});

Deno.test({
  name: "export: a table truncated between the snapshot and its lock is refused (TRUNCATE is not MVCC-safe)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTables(async (sql) => {
      const reader = client();
      try {
        await assert.rejects(
          reader.begin("isolation level repeatable read, read only", async (tx) => {
            const tables = await tx`
              select n.nspname::text as schema, c.relname::text as name, c.oid::int8 as oid
              from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
              where n.nspname = ${SCHEMA} and c.relkind = 'r' order by 2`;
            // Committed after this snapshot, before the lock.
            await sql.unsafe(`truncate ${SCHEMA}.trunc`);
            const [seen] = await tx.unsafe(`select count(*)::int as n from ${SCHEMA}.trunc`);
            assert.equal(
              seen.n,
              0,
              "the snapshot reads the truncated table as empty: this is what must not reach a backup",
            );
            await lockTables(tx, tables.map((t) => ({ schema: t.schema, name: t.name, oid: Number(t.oid) })));
          }),
          (e: unknown) =>
            e instanceof SnapshotConflictError && e.kind === "rewritten" && e.message.includes(`${SCHEMA}.trunc`),
        );
      } finally {
        await reader.end();
      }
    }),
});

Deno.test({
  name: "export: a TRUNCATE (then an insert, in one transaction) of a table not read yet, issued while a worker copies, waits for the backup; the restore holds what the snapshot saw",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTables(async (sql, { dir, exportSql, truncSql }) => {
      // Enough rows for many parts, so the worker is mid-table when the first part is stored.
      await sql.unsafe(`insert into ${SCHEMA}.trunc select g, repeat(md5(g::text), 4) from generate_series(501, 20000) g;
        insert into ${SCHEMA}.keep select g, repeat(md5(g::text), 4) from generate_series(2001, 20000) g`);
      const before = await sourceFingerprints([SCHEMA]);
      const key = await makeKey(dir, "key.txt");
      const storeDir = `${dir}/store`;
      let snapshots = 0;
      let issued: Promise<unknown> | null = null;
      let other = "";
      const r: ExportResult = await withDeadline(
        exportBackup({
          sql: exportSql,
          store: openStore(storeDir),
          recipients: [key.recipient],
          selection: { includeSchemas: [SCHEMA] },
          signingKey: testSigning.key,
          concurrency: 1,
          partBytes: 64 * 1024,
          onSnapshot: () => {
            snapshots++;
          },
          onObject: async (o) => {
            if (o.kind !== "data" || !o.table) return;
            if (issued) return;
            // The worker stored its first part of one table and goes on copying it; the other
            // table it has not read yet (one worker): the TRUNCATE goes there, so a worker that
            // locked a table only when it reached it would queue behind it for ever.
            other = o.table.name === "trunc" ? "keep" : "trunc";
            issued = truncSql.begin(async (tx) => {
              await tx.unsafe(`truncate ${SCHEMA}.${other}`);
              await tx.unsafe(`insert into ${SCHEMA}.${other} values (1, 'after the backup')`);
            });
            issued.catch(() => {});
            await truncateQueued(sql, other);
          },
        }),
        "a backup with a TRUNCATE queued while it copies",
      );
      assert.ok(issued && other, "the TRUNCATE was issued while the worker copied");
      assert.equal(snapshots, 1, "one snapshot: the TRUNCATE waited for the backup");
      for (const name of ["keep", "trunc"]) {
        const parts = r.manifest.objects.filter((o) => o.kind === "data" && o.table?.name === name).length;
        assert.ok(parts > 1, `${name} was copied in several parts (${parts})`);
        assert.equal(r.manifest.tables.find((t) => t.name === name)?.rows, 20000, `${name}: the backup holds the rows the snapshot saw`);
      }
      await issued;
      const [after] = await sql.unsafe(`select count(*)::int as n from ${SCHEMA}.${other}`);
      assert.equal(after.n, 1, "the TRUNCATE and insert committed after the backup");
      assert.deepEqual(await restoredFingerprints(storeDir, r.id, key.path), before, "the restore holds what the snapshot saw");
    }),
});

Deno.test({
  name: "export: a TRUNCATE that gives up by itself (its own lock_timeout) while the workers lock costs no new snapshot",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTables(async (sql, { dir, exportSql, truncSql }) => {
      const before = await sourceFingerprints([SCHEMA]);
      let snapshots = 0;
      let refused: Promise<unknown> | null = null;
      const r = await withDeadline(
        exportBackup({
          sql: exportSql,
          store: openStore(dir),
          recipients: [],
          unencrypted: true,
          selection: { includeSchemas: [SCHEMA] },
          signingKey: null,
          onSnapshot: async () => {
            if (snapshots++ > 0) return;
            // Queued before the workers ask for their locks, with a wait far shorter than
            // theirs (export/locks.ts WORKER_LOCK_GRACE_MS): it gives up first.
            refused = truncSql.begin(async (tx) => {
              await tx`select pg_catalog.set_config('lock_timeout', '300', true)`;
              await tx.unsafe(`truncate ${SCHEMA}.trunc`);
            }).then(() => "truncated", (e: { code?: string }) => e.code);
            await truncateQueued(sql, "trunc");
          },
        }),
        "a backup with a TRUNCATE that gives up",
      );
      assert.equal(await refused, "55P03", "the TRUNCATE gave up (lock_timeout)");
      assert.equal(snapshots, 1, "the backup kept its snapshot");
      for (const t of r.manifest.tables) {
        assert.equal((t.fingerprint as { fingerprint?: string } | null)?.fingerprint, before.get(`${SCHEMA}.${t.name}`), `${t.name}: the backup's fingerprint is the snapshot's`);
      }
    }),
});

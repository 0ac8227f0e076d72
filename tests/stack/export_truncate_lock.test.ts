// A TRUNCATE that arrives while a full backup starts (issue 20): the backup holds ACCESS SHARE
// on every table from its coordinator; the TRUNCATE's ACCESS EXCLUSIVE request queues behind
// it, and any other session's ACCESS SHARE request on that table queues behind the TRUNCATE. A
// worker session that locked the table only when it reached it waited forever (a cycle through
// the client that Postgres cannot see). Now every worker locks all tables NOWAIT before
// reading, the attempt stops before it stores anything, and the export takes a new snapshot.
// Also: a table truncated between the snapshot and its lock (TRUNCATE is not MVCC-safe) is
// detected instead of being read as empty. The TRUNCATE is made to queue at the exact moment by
// waiting for it in pg_locks, so nothing here depends on timing.
import assert from "node:assert/strict";
import postgres from "postgres";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import { exportBackup, lockTables, SnapshotConflictError } from "../../supabase/functions/_shared/export/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { dbUrl, waitFor } from "../../harness/stack.ts";
import { client } from "../support/restore.ts";

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

async function withTables<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = client();
  try {
    await sql.unsafe(`
      drop schema if exists ${SCHEMA} cascade;
      create schema ${SCHEMA};
      create table ${SCHEMA}.keep (id int primary key, v text);
      create table ${SCHEMA}.trunc (id int primary key, v text);
      insert into ${SCHEMA}.keep select g, md5(g::text) from generate_series(1, 2000) g;
      insert into ${SCHEMA}.trunc select g, md5(g::text) from generate_series(1, 500) g;`);
    return await fn(sql);
  } finally {
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
    withTables(async (sql) => {
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

      const dir = await Deno.makeTempDir({ prefix: "lifeboat-trunc-lock-" });
      const exportSql = connect(dbUrl(), { max: 5, bulkCopyOut: true });
      const truncSql = client();
      try {
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

        // By default the export takes a new snapshot and completes: it holds exactly what the
        // source holds after the TRUNCATE.
        await sql.unsafe(`insert into ${SCHEMA}.trunc select g, 'again' from generate_series(1, 30) g`);
        truncates = 0;
        const r = await exportBackup({ ...common, onSnapshot: truncateOnce });
        const rows = Object.fromEntries(r.manifest.tables.map((t) => [t.name, t.rows]));
        assert.deepEqual(rows, { keep: 2000, trunc: 0 });
        for (const t of r.manifest.tables) {
          const [now] = await sql`select lifeboat.fingerprint(${`${SCHEMA}.${t.name}`}::regclass) as f`;
          assert.deepEqual(t.fingerprint, now.f, `${t.name}: the backup's fingerprint is the source's`);
        }
        left = [];
        for await (const o of store.list("")) left.push(o.key);
        assert.ok(left.every((k) => k.startsWith(`${r.id}/`)), "only the completed backup's objects are stored");
      } finally {
        await exportSql.end();
        await truncSql.end();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
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

/**
 * The chunked export (`backup-export`) and a TRUNCATE: each invocation reads in its own
 * snapshot and locks a table when it first reaches it. A table truncated after an
 * invocation's snapshot and before that lock would read as empty in the snapshot (TRUNCATE is
 * not MVCC-safe); the part is refused instead and a later invocation exports the table in its
 * own snapshot. Invocations run in this process (runInvocation, the function's engine); the
 * TRUNCATE commits from the store's first write of the second invocation, a point reached for
 * certain, so nothing depends on timing.
 */
import assert from "node:assert/strict";
import { runInvocation } from "../../supabase/functions/_shared/jobs/mod.ts";
import { parseExportRequest } from "../../supabase/functions/_shared/jobs/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import { parseManifest } from "../../supabase/functions/_shared/format/mod.ts";
import { openStore, type Store } from "../../supabase/functions/_shared/store/mod.ts";
import { db, dbUrl, stackEnv } from "../../harness/stack.ts";
import { ageKey, configureExport, removeTestTargets, testTarget } from "../../harness/edge_export.ts";
import { hasS3 } from "../../harness/export_env.ts";

const SCHEMA = `edge_trunc_${crypto.randomUUID().slice(0, 6)}`;

Deno.test({
  name: "backup-export: a table truncated after an invocation's snapshot is refused, not saved as empty, and exported by the next invocation",
  ignore: !hasS3(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = db();
    const ctl = connect(dbUrl(), { max: 2 });
    const data = connect(dbUrl(), { max: 1 });
    try {
      // `a` is many parts; `y` (planned after it) is one.
      await sql.unsafe(`
        create schema ${SCHEMA};
        create table ${SCHEMA}.a (id int primary key, v text);
        insert into ${SCHEMA}.a select g, repeat(md5(g::text), 8) from generate_series(1, 6000) g;
        create table ${SCHEMA}.y (id int primary key, v text);
        insert into ${SCHEMA}.y select g, 'before' from generate_series(1, 200) g;`);
      const { recipient } = await ageKey();
      const { target } = testTarget("trunc");
      const settings = { target, recipients: [recipient], chunkBytes: 96 * 1024, continueJobs: false, maxAttempts: 5 };
      const env: Record<string, string> = {};
      for (const k of ["LIFEBOAT_S3_ENDPOINT", "LIFEBOAT_S3_REGION", "LIFEBOAT_S3_ACCESS_KEY_ID", "LIFEBOAT_S3_SECRET_ACCESS_KEY"]) env[k] = stackEnv(k);
      let onFirstPut: (() => Promise<void>) | null = null;
      const hooked = (s: Store): Store =>
        new Proxy(s, {
          get(t, p, r) {
            if (p !== "put") {
              const v = Reflect.get(t, p, r);
              // The store's own methods use private fields: called on the store, not the proxy.
              return typeof v === "function" ? v.bind(t) : v;
            }
            return async (...args: Parameters<Store["put"]>) => {
              const hook = onFirstPut;
              onFirstPut = null;
              if (hook) await hook();
              return await t.put(...args);
            };
          },
        });
      const invoke = (body: unknown) => {
        const req = parseExportRequest(body);
        if (!req.ok) throw new Error(`bad request: ${JSON.stringify(req.problem)}`);
        return runInvocation(req.value, {
          sql: ctl, dataSql: data, worker: `trunc-test-${crypto.randomUUID().slice(0, 4)}`,
          openStore: (t) => hooked(openStore(t, { env })),
        });
      };

      // 1: plans the job, records the facts (200 rows of y) and does a few parts of `a`.
      await configureExport(sql, { ...settings, budgetBytes: 256 * 1024 });
      const first = await invoke({ mode: "tables", tables: [`${SCHEMA}.a`, `${SCHEMA}.y`] });
      assert.equal(first.state, "running", JSON.stringify(first));
      const y = async () => {
        const [p] = await sql`
          select p.state, p.error from lifeboat.backup_parts p join lifeboat.backup_runs r on r.id = p.run_id
          where r.run_uuid = ${first.job} and p.table_schema = ${SCHEMA} and p.table_name = 'y'`;
        return p;
      };
      assert.notEqual((await y()).state, "done", "y is left for a later invocation (the plan orders it after a)");

      // 2: every part fits; its snapshot is taken, then, before it reaches y, a TRUNCATE and an
      // insert commit (nothing holds y yet). In that snapshot y would read as empty.
      await configureExport(sql, settings);
      onFirstPut = async () => {
        await sql.begin(async (tx) => {
          await tx.unsafe(`truncate ${SCHEMA}.y`);
          await tx.unsafe(`insert into ${SCHEMA}.y values (1, 'after')`);
        });
      };
      const second = await invoke({ mode: "tables", resume: first.job });
      assert.equal(onFirstPut, null, "the TRUNCATE ran inside the second invocation");
      assert.match(second.error ?? "", /truncated or rewritten after the backup's snapshot/, JSON.stringify(second));
      assert.notEqual((await y()).state, "done", "the part was refused, not completed");

      // 3: a new snapshot; the job completes and y holds what that snapshot saw.
      let last = second;
      for (let i = 0; i < 5 && last.state === "running"; i++) last = await invoke({ mode: "tables", resume: first.job });
      assert.equal(last.state, "completed", JSON.stringify(last));
      const [run] = await sql`select manifest_key from lifeboat.backup_runs where run_uuid = ${first.job}`;
      const store = openStore(target, { env });
      const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await store.getBytes(run.manifest_key))));
      const rows = Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows]));
      assert.deepEqual(rows, { a: 6000, y: 1 }, "y is the truncated table with its one new row, never empty");
      assert.equal(manifest.snapshot.consistent, false, "a job that spans snapshots says so");
    } finally {
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`).catch(() => {});
      await removeTestTargets().catch(() => {});
      await Promise.all([ctl.end({ timeout: 5 }), data.end({ timeout: 5 })]);
      await sql.end();
    }
  },
});

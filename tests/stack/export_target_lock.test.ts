// One active backup per target, for the CLI and the backup-export jobs alike (the partial
// unique index of migration 20261122000600), against real Postgres, the real CLI and the
// function behind the gateway: a `lifeboat backup` into a store another run is writing into
// is refused with that run's id and leaves nothing behind; a run that died (no progress for
// export.stale_after) is swept, so it cannot hold the store forever; and the function answers
// 409 target_busy while a CLI run holds its target.
import assert from "node:assert/strict";
import { backup, client, lifeboat, makeKey } from "../support/restore.ts";
import { functionUrl } from "../../harness/stack.ts";
import { ageKey, callExport, configureExport, removeTestTargets, testTarget } from "../../harness/edge_export.ts";

Deno.test("lifeboat backup: refused while another run writes into the same store", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-lock-" });
  const store = `${dir}/store`;
  const key = await makeKey(dir);
  const sql = client();
  try {
    const [held] = await sql`
      insert into lifeboat.backup_runs (kind, target, state, started_at, last_progress_at, metadata)
      values ('full', ${store + "/"}, 'running', now(), now(), '{"origin":"cli","source":"cli"}')
      returning id, run_uuid::text as uuid`;

    await t.step("a second run is refused, naming the running one, and records nothing", async () => {
      const r = await lifeboat(["backup", "--store", store, "--recipient", key.recipient, "--json"]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stderr, /another backup is already writing into this target/);
      assert.ok(r.stderr.includes(String(held.uuid)), r.stderr);
      assert.ok(r.stderr.includes(`lifeboat.export_fail_run(${held.id}`), r.stderr);
      const [{ n }] = await sql`select count(*)::int as n from lifeboat.backup_runs where rtrim(target, '/') = ${store}`;
      assert.equal(n, 1, "no second run row");
      const entries: string[] = [];
      try {
        for await (const e of Deno.readDir(store)) entries.push(e.name);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      assert.ok(!entries.some((e) => /^\d{8}T/.test(e)), `nothing stored: ${entries.join(", ")}`);
    });

    await t.step("a run that died is swept as stale, and the next backup proceeds", async () => {
      await sql`update lifeboat.backup_runs set started_at = now() - interval '3 days', last_progress_at = now() - interval '2 days'
                where id = ${held.id}`;
      const id = await backup(store, key.recipient, ["--include-schema", "public"]);
      const [old] = await sql`select state, error from lifeboat.backup_runs where id = ${held.id}`;
      assert.equal(old.state, "failed");
      assert.match(old.error, /stale/);
      const [mine] = await sql`select state, target from lifeboat.backup_runs where metadata ->> 'backup_id' = ${id}`;
      assert.equal(mine.state, "completed");
      assert.equal(mine.target, store);
    });
  } finally {
    await sql`delete from lifeboat.alert_events where dedup_key like ${"%:" + store + "%"}`.catch(() => {});
    await sql.end();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "backup-export: 409 target_busy while a CLI run holds the target",
  ignore: Deno.env.get("LIFEBOAT_SKIP_S3") === "1",
  fn: async () => {
    const sql = client();
    const { target } = testTarget("lock");
    let heldId: number | null = null;
    try {
      const { recipient } = await ageKey();
      await configureExport(sql, { target, recipients: [recipient], continueJobs: false });
      // Recorded without the trailing slash the configured target has: still the same target.
      const [held] = await sql`
        insert into lifeboat.backup_runs (kind, target, state, started_at, last_progress_at, metadata)
        values ('full', ${target.replace(/\/+$/, "")}, 'running', now(), now(), '{"origin":"cli","source":"cli"}')
        returning id, run_uuid::text as uuid`;
      heldId = Number(held.id);
      const r = await callExport(functionUrl("backup-export"), { mode: "full" });
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error, "target_busy", r.text);
      assert.ok(String(r.json.message).includes(String(held.uuid)), r.text);
      const [{ n }] = await sql`select count(*)::int as n from lifeboat.backup_runs where target = ${target}`;
      assert.equal(n, 0, "no job was created");
    } finally {
      await removeTestTargets();
      if (heldId !== null) await sql`select lifeboat.export_fail_run(${heldId}, 'test cleanup')`.catch(() => {});
      await sql`delete from lifeboat.alert_events where dedup_key like ${"%:" + target.replace(/\/+$/, "") + "%"}`.catch(() => {});
      await sql.end();
    }
  },
});

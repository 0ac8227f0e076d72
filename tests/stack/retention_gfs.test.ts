/**
 * GFS retention over a simulated year and a bit of daily backups, on an injected clock:
 * real Postgres, real RGW objects. Each simulated day adds one completed backup and prunes.
 * At the end exactly the GFS set (7 daily, 4 weekly, 12 monthly, every yearly) plus the
 * newest verified backup is left, in the database and in the store; every deletion is in
 * maintenance_log; a failed job's orphans go after the grace period, a running job's never.
 */
import assert from "node:assert/strict";
import { newBackupId } from "../../supabase/functions/_shared/format/mod.ts";
import { applyRetention } from "../../supabase/functions/_shared/retention/mod.ts";
import type { Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { db } from "../../harness/stack.ts";
import { removeTestTargets, testTarget } from "../../harness/edge_export.ts";

const DAY = 86_400_000;
const bytes = (s: string) => new TextEncoder().encode(s);

/** The GFS oracle, written independently of the SQL: newest per period, N newest periods. */
function expectedKeep(days: Date[], now: Date): Set<number> {
  const keep = new Set<number>();
  const periods: [(d: Date) => string, number | null][] = [
    [(d) => d.toISOString().slice(0, 10), 7],
    [(d) => {
      const monday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7)));
      return monday.toISOString().slice(0, 10);
    }, 4],
    [(d) => d.toISOString().slice(0, 7), 12],
    [(d) => d.toISOString().slice(0, 4), null],
  ];
  for (const [bucket, n] of periods) {
    const newest = new Map<string, number>();
    days.forEach((d, i) => {
      if (d > now) return;
      const b = bucket(d);
      if (!newest.has(b) || days[newest.get(b)!] < d) newest.set(b, i);
    });
    const ordered = [...newest.entries()].sort((a, b) => (a[0] < b[0] ? 1 : -1));
    for (const [, i] of n === null ? ordered : ordered.slice(0, n)) keep.add(i);
  }
  return keep;
}

async function addBackup(sql: Sql, target: string, store: ReturnType<typeof testTarget>["store"], at: Date, state = "completed") {
  const id = newBackupId(at);
  await store.put(`${id}/data/t/part-00000.copy.sql.gz.age`, bytes(`data of ${id}`));
  if (state === "completed") await store.put(`${id}/manifest.json`, bytes(`{"id":"${id}"}`));
  const [r] = await sql`
    insert into lifeboat.backup_runs (kind, target, state, started_at, finished_at, manifest_key, error, metadata)
    values ('full', ${target}, ${state}, ${at}, ${state === "running" ? null : at},
            ${state === "completed" ? `${id}/manifest.json` : null}, ${state === "failed" ? "simulated" : null},
            jsonb_build_object('origin', 'backup-export', 'backup_id', ${id}::text))
    returning id`;
  return { runId: Number(r.id), backupId: id };
}

Deno.test("GFS over a simulated year of daily backups keeps exactly the policy's set", async () => {
  const raw = db();
  const sql = raw as unknown as Sql;
  const { target, store } = testTarget("gfs");
  try {
    await raw`update lifeboat.settings set value = '"1 day"' where key = 'export.orphan_grace'`;
    const start = Date.UTC(2025, 2, 1, 0, 30);
    const days: Date[] = [];
    const runs: { runId: number; backupId: string }[] = [];
    let failed: { runId: number; backupId: string } | null = null;
    let running: { runId: number; backupId: string } | null = null;
    const logBefore = (await raw`select count(*)::int as n from lifeboat.maintenance_log where type = 'backup_prune'`)[0].n;
    let pruned = 0, orphans = 0;
    const TOTAL = 400;
    for (let d = 0; d < TOTAL; d++) {
      const at = new Date(start + d * DAY);
      days.push(at);
      runs.push(await addBackup(sql, target, store, at));
      if (d === 20) await raw`insert into lifeboat.verification_runs (kind, source, backup_run_id, success) values ('backup', 'test', ${runs[20].runId}, true)`;
      if (d === 200) await raw`insert into lifeboat.verification_runs (kind, source, backup_run_id, success) values ('backup', 'test', ${runs[200].runId}, true)`;
      if (d === 30) failed = await addBackup(sql, target, store, new Date(at.getTime() + 3_600_000), "failed");
      if (d === TOTAL - 2) running = await addBackup(sql, target, store, new Date(at.getTime() + 3_600_000), "running");
      const report = await applyRetention(sql, store, { target, now: new Date(at.getTime() + 2 * 3_600_000) });
      pruned += report.pruned.length;
      orphans += report.orphansCleaned.length;
      // The verified day-20 backup survives until a newer verified one exists.
      if (d >= 20 && d < 200) assert.ok(!report.pruned.some((p) => p.runId === runs[20].runId), `day 20 pruned on day ${d}`);
    }
    const now = new Date(start + (TOTAL - 1) * DAY + 2 * 3_600_000);
    const want = expectedKeep(days, now);
    want.add(200); // the newest verified backup
    const kept = await raw`select id from lifeboat.backup_runs where target = ${target} and state = 'completed' order by finished_at`;
    const keptIdx = new Set(kept.map((k) => runs.findIndex((r) => r.runId === Number(k.id))));
    assert.deepEqual([...keptIdx].sort((a, b) => a - b), [...want].sort((a, b) => a - b));
    // 2025-03-01 + 399 days = 2026-04-04: daily Mar 29–Apr 4 (7); weekly adds Mar 15 and 22 (2);
    // monthly adds the last days of May 2025–Feb 2026 (10); yearly's 2025-12-31 is already
    // monthly; plus the verified 2025-09-17: 20.
    assert.equal(want.size, 20);
    for (const d of ["2026-03-29", "2026-03-15", "2025-05-31", "2026-02-28", "2025-12-31", "2025-09-17"]) {
      assert.ok([...want].some((i) => days[i].toISOString().startsWith(d)), `${d} is kept`);
    }
    assert.ok(!want.has(20), "the old verified backup went once a newer one was verified");
    assert.equal(pruned, TOTAL - want.size);
    assert.equal(orphans, 1);

    // The store holds exactly the kept backups, plus the running job's objects.
    const prefixes = new Set<string>();
    for await (const o of store.list("")) prefixes.add(o.key.split("/")[0]);
    const expectPrefixes = new Set([...want].map((i) => runs[i].backupId));
    expectPrefixes.add(running!.backupId);
    assert.deepEqual([...prefixes].sort(), [...expectPrefixes].sort());
    assert.ok(!prefixes.has(failed!.backupId));

    const [log] = await raw`select count(*)::int as n from lifeboat.maintenance_log where type = 'backup_prune'`;
    assert.equal(log.n - logBefore, pruned, "every deletion is logged");
    const [st] = await raw`select count(*)::int as n from lifeboat.backup_runs where target = ${target} and state = 'pruned'`;
    assert.equal(st.n, pruned);
    const [orph] = await raw`select metadata ? 'orphans_cleaned_at' as done from lifeboat.backup_runs where id = ${failed!.runId}`;
    assert.equal(orph.done, true);
  } finally {
    await removeTestTargets();
    await raw`delete from lifeboat.backup_runs where target = ${target}`;
    await raw.end();
  }
});

/**
 * `recoverable` tells the truth: it flips as each condition changes (the newest full backup
 * exists, is within the RPO, passed verification; a drill passed within the drill objective
 * for a backup no older than it), each reason says which condition fails, drills reported from
 * elsewhere (lifeboat.report_drill as service_role) count and show where they ran, and the
 * drill_overdue alert fires per objective. Clock injected through status_report(now).
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { db } from "../../harness/stack.ts";
import { withStatusIsolation } from "../support/status_seed.ts";

type Reason = { check: string; ok: boolean; detail: string };

async function reasons(sql: postgres.Sql, at: Date): Promise<Record<string, Reason>> {
  const [r] = await sql`select lifeboat.status_report(${at.toISOString()}::timestamptz) as s`;
  const s = r.s as { recoverable: boolean; reasons: Reason[] };
  const out = Object.fromEntries(s.reasons.map((x) => [x.check, x]));
  assert.equal(s.recoverable, s.reasons.every((x) => x.ok), "recoverable is the conjunction of its reasons");
  return out;
}

const hours = (h: number) => new Date(Date.now() + h * 3600_000);

async function reportAsService(sql: postgres.Sql, report: Record<string, unknown>): Promise<number> {
  return await sql.begin(async (tx) => {
    await tx`set local role service_role`;
    const [r] = await tx`select lifeboat.report_drill(${tx.json(report as never)}) as id`;
    return Number(r.id);
  }) as number;
}

Deno.test("recoverable flips with each condition, and says which one fails", async () => {
  const sql = db();
  try {
    await sql`update lifeboat.settings set value = 'false' where key = 'verify.on_completion'`;
    await withStatusIsolation(sql, async () => {
      const now = new Date();
      // A completed full backup finished an hour ago (its key names no backup id: the sweep leaves it alone).
      const [b] = await sql`
        insert into lifeboat.backup_runs (kind, label, state, created_at, started_at, snapshot_at, finished_at, manifest_key, bytes, rows, consistent)
        values ('full', 'recoverable-test', 'completed', now() - interval '70 minutes', now() - interval '70 minutes',
          now() - interval '70 minutes', now() - interval '60 minutes', 'recoverable-test/manifest.json', 1000, 10, true)
        returning id`;
      let r = await reasons(sql, now);
      assert.equal(r.backup_exists.ok, true);
      assert.equal(r.backup_within_rpo.ok, true);
      assert.equal(r.backup_verified.ok, false);
      assert.match(r.backup_verified.detail, /has not been verified yet/);
      assert.equal(r.drill_passed.ok, false);
      assert.match(r.drill_passed.detail, /restore_test: no restore drill has passed within 1 mon/);

      // A failed verification of this backup, then a passing one.
      await sql`insert into lifeboat.verification_runs (kind, backup_run_id, source, started_at, finished_at, success, checks_total, errors)
        values ('backup', ${b.id}, 'recoverable-test', now() - interval '50 minutes', now() - interval '49 minutes', false, 9, 1)`;
      r = await reasons(sql, now);
      assert.equal(r.backup_verified.ok, false);
      assert.match(r.backup_verified.detail, /failed with 1 errors/);
      await sql`insert into lifeboat.verification_runs (kind, backup_run_id, source, started_at, finished_at, success, checks_total)
        values ('backup', ${b.id}, 'recoverable-test', now() - interval '40 minutes', now() - interval '39 minutes', true, 9)`;
      r = await reasons(sql, now);
      assert.equal(r.backup_verified.ok, true);

      // A passing drill reported from CI, but of a backup older than the objective: not enough.
      const old = await reportAsService(sql, {
        backup_id: "20261001T000000Z-0000000a", backup_taken_at: new Date(Date.now() - 40 * 86400_000).toISOString(),
        success: true, finished_at: new Date(Date.now() - 86400_000).toISOString(), measured_rto_seconds: 120,
        ran_in: "ci", runner: "recoverable-test", restored_into: "scratch_database",
      });
      r = await reasons(sql, now);
      assert.equal(r.drill_passed.ok, false);
      assert.match(r.drill_passed.detail, new RegExp(`drill \\(?${old}.*restored a backup older than 1 mon`));

      // A passing drill of a recent backup, from a laptop: recoverable.
      const good = await reportAsService(sql, {
        backup_id: "20261001T000000Z-0000000b", backup_taken_at: new Date(Date.now() - 2 * 3600_000).toISOString(),
        success: true, finished_at: new Date(Date.now() - 600_000).toISOString(), measured_rto_seconds: 95,
        ran_in: "cli", runner: "recoverable-test", restored_into: "scratch_database",
      });
      r = await reasons(sql, now);
      assert.equal(r.drill_passed.ok, true, r.drill_passed.detail);
      assert.match(r.drill_passed.detail, new RegExp(`restore_test: drill ${good} \\(cli\\) passed`));
      const [s] = await sql`select lifeboat.status_report(${now.toISOString()}::timestamptz) as s`;
      assert.equal(s.s.recoverable, true);
      const listed = (s.s.drills as { id: number; ran_in: string }[]).find((d) => d.id === good);
      assert.equal(listed?.ran_in, "cli");
      assert.ok((s.s.drill_objectives as { name: string; met: boolean }[]).every((o) => o.met));

      // The RPO passes: the backup is too old.
      r = await reasons(sql, hours(24));
      assert.equal(r.backup_within_rpo.ok, false);
      assert.match(r.backup_within_rpo.detail, /old; the RPO is 24:00:00/);
      // A month on, the drill objective lapses too, and its alert fires (the dr_simulation one, quarterly, does not).
      const later = hours(24 * 40);
      r = await reasons(sql, later);
      assert.equal(r.drill_passed.ok, false);
      const keys = (await sql`select dedup_key from lifeboat.alert_conditions(${later.toISOString()}::timestamptz)
        where rule = 'drill_overdue'`).map((x) => x.dedup_key);
      assert.deepEqual(keys, ["drill_overdue:restore_test"]);
      const none = await sql`select 1 from lifeboat.alert_conditions(${now.toISOString()}::timestamptz) where rule = 'drill_overdue'`;
      assert.equal(none.length, 0);

      // A failed drill, the newest: restores do not work now, whatever passed before; drill_failed fires.
      const failedDrill = await reportAsService(sql, {
        backup_id: "20261001T000000Z-0000000c", success: false, finished_at: new Date().toISOString(), measured_rto_seconds: 30,
      });
      r = await reasons(sql, new Date());
      assert.equal(r.drill_passed.ok, false);
      assert.match(r.drill_passed.detail, new RegExp(`newest restore drill \\(${failedDrill}, cli\\) failed`));
      const failing = await sql`select 1 from lifeboat.alert_conditions() where rule = 'drill_failed'`;
      assert.equal(failing.length, 1);
    });
  } finally {
    await sql`update lifeboat.settings set value = default_value where key = 'verify.on_completion'`;
    await sql.end();
  }
});

Deno.test("report_drill refuses bad reports with a message that says what to fix", async () => {
  const sql = db();
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /backup_id must be a backup id/],
      [{ backup_id: "nope", success: true }, /backup_id must be a backup id/],
      [{ backup_id: "20261001T000000Z-0000000a", success: "yes" }, /success must be true or false/],
      [{ backup_id: "20261001T000000Z-0000000a", success: true, measured_rto_seconds: -1 }, /measured_rto_seconds/],
      [{ backup_id: "20261001T000000Z-0000000a", success: true, measured_rto_seconds: 1, ran_in: "moon" }, /ran_in must be/],
      [{ backup_id: "20261001T000000Z-0000000a", success: true, measured_rto_seconds: 1, finished_at: "soon" }, /ISO 8601/],
      [{ backup_id: "20261001T000000Z-0000000a", success: true, measured_rto_seconds: 1 }, /finished_at is required/],
    ];
    for (const [report, message] of cases) {
      await assert.rejects(reportAsService(sql, report), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, "22023", String(e.message));
        assert.match(String(e.message), message);
        return true;
      });
    }
  } finally {
    await sql.end();
  }
});

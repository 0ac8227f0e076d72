// `lifeboat drill` against real Postgres, through the real CLI: a drill restores the latest
// backup into a scratch database, verifies fingerprints, runs the user's pgTAP assertions,
// measures RTO against lifeboat.recovery_time_objectives, records the drill in lifeboat.drills
// and drops the scratch database; a failing assertion is recorded as a failed drill, and the
// scratch database is dropped all the same. The backup is a gzip one (`--compression gzip`),
// so Lifeboat's own restore of gzip backups is exercised here (the other restore tests use
// the default, zstd).
import assert from "node:assert/strict";
import { repoRoot } from "../../harness/stack.ts";
import { backup, client, databasesLike, lifeboat, makeKey, sourceUrl } from "../support/restore.ts";

const ASSERTIONS = `${repoRoot}/tests/fixtures/drill_assertions`;

async function lastDrill() {
  const sql = client();
  try {
    const [r] = await sql`select success, met_objective, extract(epoch from measured_rto)::float8 as rto,
      extract(epoch from objective)::float8 as objective, details, backup_run_id from lifeboat.drills order by id desc limit 1`;
    return r;
  } finally {
    await sql.end();
  }
}

Deno.test("drill: passing and failing assertions are recorded; the scratch database is always dropped", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-drill-" });
  const store = `${dir}/store`;
  const key = await makeKey(dir);
  const id = await backup(store, key.recipient, ["--compression", "gzip"]);
  try {
    await t.step("a drill of the latest backup passes, within the objective", async () => {
      const r = await lifeboat(["drill", "--store", store, "--identity", key.path, "--assertions", `${ASSERTIONS}/passing`, "--json"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const rep = JSON.parse(r.stdout);
      assert.equal(rep.backupId, id);
      assert.equal(rep.assertions.passed, 4);
      assert.equal(rep.dropped, true);
      assert.equal(rep.metObjective, true);
      assert.ok(rep.checks.some((c: { check: string; level: string }) => c.check === "fingerprints" && c.level === "ok"));
      const d = await lastDrill();
      assert.equal(d.success, true);
      assert.equal(d.met_objective, true);
      assert.equal(d.objective, 3600);
      assert.ok(d.rto > 0 && d.rto < 3600);
      assert.equal(d.details.backupId, id);
      assert.ok(d.backup_run_id !== null, "linked to the backup run");
      assert.deepEqual(await databasesLike("lifeboat_drill_"), []);
    });

    await t.step("a drill run elsewhere reports back: the project records it with where it ran", async () => {
      const r = await lifeboat(["drill", "--store", store, id, "--identity", key.path, "--report-to", sourceUrl(), "--ran-in", "ci",
        "--runner", "drill_run test"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const reported = Number(/reported to the project as drill (\d+)/.exec(r.stdout)?.[1]);
      assert.ok(reported > 0, r.stdout);
      const sql = client();
      try {
        const [d] = await sql`select * from lifeboat.drills where id = ${reported}`;
        assert.equal(d.success, true);
        assert.equal(d.ran_in, "ci");
        assert.equal(d.runner, "drill_run test");
        assert.equal(d.restored_into, "scratch_database");
        assert.equal(d.backup_id, id);
        assert.ok(d.backup_run_id !== null && d.backup_taken_at !== null, "linked to the backup and its age");
        const [s] = await sql`select lifeboat.status_report() -> 'drills' as drills`;
        assert.ok((s.drills as { id: number; ran_in: string }[]).some((x) => x.id === reported && x.ran_in === "ci"));
      } finally {
        await sql.end();
      }
    });

    await t.step("a failing user assertion is recorded as a failed drill", async () => {
      const r = await lifeboat(["drill", "--store", store, id, "--identity", key.path, "--assertions", `${ASSERTIONS}/failing`]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /ERROR +assertions .*1 of 2 assertions failed/);
      assert.match(r.stdout, /DRILL FAILED/);
      assert.match(r.stdout, /scratch database dropped/);
      const d = await lastDrill();
      assert.equal(d.success, false);
      assert.ok(d.details.findings.some((f: { check: string }) => f.check === "assertions"));
      assert.deepEqual(await databasesLike("lifeboat_drill_"), []);
    });

    await t.step("a drill that fails to restore still drops its scratch database", async () => {
      const other = await makeKey(dir, "other.txt");
      const r = await lifeboat(["drill", "--store", store, id, "--identity", other.path]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /not one of the backup's/);
      const d = await lastDrill();
      assert.equal(d.success, false);
      assert.deepEqual(await databasesLike("lifeboat_drill_"), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

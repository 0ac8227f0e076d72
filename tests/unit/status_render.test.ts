// Rendering of the status without a database: badge colours against the RPO, Prometheus
// label escaping checked by a real exposition parser, and HTML escaping of data.
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { badgeMessage, renderBadge } from "../../supabase/functions/_shared/status/mod.ts";
import { renderPrometheus } from "../../supabase/functions/_shared/status/mod.ts";
import { renderStatusPage } from "../../supabase/functions/_shared/status/mod.ts";
import type { StatusReport } from "../../supabase/functions/_shared/status/mod.ts";

function report(ageSeconds: number | null): StatusReport {
  return {
    generated_at: "2030-01-01T12:00:00+00:00",
    recoverable: ageSeconds !== null && ageSeconds <= 86400,
    reasons: [{ check: "backup_exists", ok: ageSeconds !== null, detail: "<b>x</b>" }],
    rpo: { seconds: 86400, warn_ratio: 0.8, setting: "backup.rpo" },
    rto: { system: "database", seconds: 3600 },
    data_classes: [],
    backups: {
      full: ageSeconds === null ? null : {
        id: 1, kind: "full", recovery_point: "2030-01-01T00:00:00+00:00", finished_at: "2030-01-01T00:01:00+00:00",
        age_seconds: ageSeconds, rpo_seconds: 86400, within_rpo: ageSeconds <= 86400, bytes: 1024, duration_seconds: 60, consistent: true,
      },
      tables: null,
    },
    backup_runs: { running: 0, failed_24h: 0, completed_24h: 1 },
    verification: { last: null, last_backup: null },
    drill: { last: null },
    drills: [],
    drill_objectives: [{ name: "restore_test", every_seconds: 2592000, requires_full: false, gates_recoverable: true, met: false,
      drill_id: null, drill_finished_at: null, ran_in: null, backup_taken_at: null, detail: "restore_test: no restore drill has passed within 1 mon" }],
    retention: { policy: { daily: 7 }, tiers: [] },
    cron: { jobs: [{ job: 'we"ird\\job\nname', schedule: "* * * * *", active: true, last_status: "failed", last_run_at: null, last_success_at: null, consecutive_failures: 2, healthy: false }], failing: 1 },
    trend: [],
    incidents: { open: [{ id: 1, severity: "high", title: "<script>alert(1)</script>", opened_at: "2030-01-01T00:00:00+00:00", source: "manual" }] },
    alerts: { firing: [] },
  };
}

Deno.test("badge: coloured by the backup's age against the RPO", () => {
  assert.deepEqual(badgeMessage(report(3 * 3600)), { message: "3h ago", color: "#4c1" });
  assert.deepEqual(badgeMessage(report(20 * 3600)), { message: "20h ago", color: "#dfb317" });
  assert.deepEqual(badgeMessage(report(30 * 3600)), { message: "30h ago", color: "#e05d44" });
  assert.deepEqual(badgeMessage(report(3 * 86400)), { message: "3d ago", color: "#e05d44" });
  assert.deepEqual(badgeMessage(report(null)), { message: "none", color: "#e05d44" });
  assert.match(renderBadge(report(3 * 3600)), /<title>backup: 3h ago<\/title>/);
});

Deno.test("prometheus: awkward label values survive a real parser", () => {
  const text = renderPrometheus(report(100));
  const fams = parsePrometheus(text) as { name: string; metrics: { labels?: Record<string, string>; value: string }[] }[];
  const job = fams.find((f) => f.name === "lifeboat_cron_job_healthy")!;
  assert.equal(job.metrics[0].labels?.job, 'we"ird\\job\nname');
  assert.equal(job.metrics[0].value, "0");
  assert.equal(fams.find((f) => f.name === "lifeboat_backup_age_seconds")!.metrics[0].value, "100");
  assert.equal(fams.find((f) => f.name === "lifeboat_last_drill_success")!.metrics[0].value, "0");
  assert.deepEqual(parsePrometheus(renderPrometheus(null)).map((f: { name: string }) => f.name), ["lifeboat_up"]);
});

Deno.test("html: data is escaped, charts say when there is no data", () => {
  const html = renderStatusPage(report(100));
  assert.ok(!html.includes("<script>alert(1)"), "an incident title cannot inject markup");
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.ok(html.includes("&lt;b&gt;x&lt;/b&gt;"));
  assert.equal(html.match(/no data yet/g)?.length, 4);
});

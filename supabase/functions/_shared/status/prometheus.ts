/**
 * The status in Prometheus' text exposition format (version 0.0.4): one gauge family per
 * measurement, HELP and TYPE first, label values escaped.
 * @module
 */
import type { StatusReport } from "./report.ts";
import { streamGauges } from "./stream.ts";

/** The Content-Type of the exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;
type Sample = [Labels, number];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

class Exposition {
  #lines: string[] = [];
  /** Adds a gauge family; families without samples are left out. */
  gauge(name: string, help: string, samples: Sample[]): void {
    if (samples.length === 0) return;
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    this.#lines.push(`# TYPE ${name} gauge`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
      this.#lines.push(`${name}${l ? `{${l}}` : ""} ${formatValue(value)}`);
    }
  }
  toString(): string {
    return this.#lines.join("\n") + "\n";
  }
}

const ts = (iso: string) => Date.parse(iso) / 1000;
const bool = (b: boolean | null | undefined) => (b ? 1 : 0);

/** Renders the report; `up` false gives only `lifeboat_up 0` (the database could not be read). */
export function renderPrometheus(report: StatusReport | null): string {
  const e = new Exposition();
  e.gauge("lifeboat_up", "Whether the backup status could be read from the database.", [[{}, bool(report !== null)]]);
  if (!report) return e.toString();

  e.gauge("lifeboat_recoverable", "1 if a full backup within the RPO exists, was verified, and the last drill passed.", [
    [{}, bool(report.recoverable)],
  ]);
  e.gauge(
    "lifeboat_recoverable_check",
    "Each condition of the recoverable verdict (1 = met).",
    report.reasons.map((r) => [{ check: r.check }, bool(r.ok)]),
  );
  e.gauge("lifeboat_rpo_seconds", "Recovery point objective backups are measured against.", [[{}, report.rpo.seconds]]);
  if (report.rto.seconds !== null) {
    e.gauge("lifeboat_rto_seconds", "Recovery time objective of a system.", [[{ system: report.rto.system }, report.rto.seconds]]);
  }
  const backups = Object.values(report.backups).filter((b) => b !== null);
  e.gauge("lifeboat_backup_age_seconds", "Age of the newest completed backup's recovery point.", backups.map((b) => [{ kind: b.kind }, b.age_seconds]));
  e.gauge("lifeboat_backup_within_rpo", "1 if the newest completed backup is within the RPO.", backups.map((b) => [{ kind: b.kind }, bool(b.within_rpo)]));
  e.gauge(
    "lifeboat_backup_last_success_timestamp_seconds",
    "When the newest completed backup finished (Unix time).",
    backups.map((b) => [{ kind: b.kind }, ts(b.finished_at)]),
  );
  e.gauge("lifeboat_backup_size_bytes", "Size of the newest completed backup.", backups.filter((b) => b.bytes !== null).map((b) => [{ kind: b.kind }, b.bytes!]));
  e.gauge(
    "lifeboat_backup_duration_seconds",
    "How long the newest completed backup took.",
    backups.filter((b) => b.duration_seconds !== null).map((b) => [{ kind: b.kind }, b.duration_seconds!]),
  );
  e.gauge("lifeboat_backup_runs_running", "Backup runs planned or running.", [[{}, report.backup_runs.running]]);
  e.gauge("lifeboat_backup_runs_failed_24h", "Backup runs that failed in the last 24 hours.", [[{}, report.backup_runs.failed_24h]]);

  const v = report.verification.last_backup;
  if (v) {
    e.gauge("lifeboat_last_verification_success", "1 if the newest backup verification passed.", [[{}, bool(v.success)]]);
    e.gauge("lifeboat_last_verification_timestamp_seconds", "When the newest backup verification finished (Unix time).", [[{}, ts(v.finished_at)]]);
  }
  const d = report.drill.last;
  e.gauge("lifeboat_last_drill_success", "1 if the newest restore drill succeeded within its RTO.", [
    [{}, bool(d?.success && d.met_objective !== false)],
  ]);
  if (d) {
    e.gauge("lifeboat_last_drill_timestamp_seconds", "When the newest restore drill finished (Unix time).", [[{}, ts(d.finished_at)]]);
    if (d.measured_rto_seconds !== null) {
      e.gauge("lifeboat_last_drill_rto_seconds", "Recovery time the newest drill measured.", [[{}, d.measured_rto_seconds]]);
    }
  }
  e.gauge("lifeboat_retention_slots", "GFS slots the retention policy keeps, per tier.", report.retention.tiers.map((t) => [{ tier: t.tier }, t.keep]));
  e.gauge("lifeboat_retention_slots_filled", "GFS slots filled by a completed backup, per tier.", report.retention.tiers.map((t) => [{ tier: t.tier }, t.filled]));
  e.gauge("lifeboat_cron_job_healthy", "1 if the pg_cron job is active and its last run succeeded.", report.cron.jobs.map((j) => [{ job: j.job }, bool(j.healthy)]));
  e.gauge(
    "lifeboat_cron_job_consecutive_failures",
    "Failed runs of the pg_cron job since its last success.",
    report.cron.jobs.map((j) => [{ job: j.job }, j.consecutive_failures]),
  );
  e.gauge("lifeboat_open_incidents", "Open incidents.", [[{}, report.incidents.open.length]]);
  const bySeverity: Record<string, number> = { critical: 0, warning: 0, info: 0 };
  for (const a of report.alerts.firing) bySeverity[a.severity] = (bySeverity[a.severity] ?? 0) + 1;
  e.gauge("lifeboat_alerts_firing", "Firing alerts, per severity.", Object.entries(bySeverity).map(([s, n]) => [{ severity: s }, n]));
  for (const [name, help, value] of streamGauges(report.stream)) e.gauge(name, help, [[{ slot: report.stream!.slot }, value]]);
  return e.toString();
}

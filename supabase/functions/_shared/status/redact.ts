/**
 * The status report as the read-only status token may see it. Alerts' dedup keys and
 * summaries, and the titles of the incidents they open, are built from a backup target or a
 * failure's message (`backup_export_stale:s3://bucket/prefix`, "… failed: <error>"), which can
 * name hosts or carry secrets; the token (meant for badges and dashboards, and sent in URLs)
 * sees the rule and severity instead. Service callers get the report unchanged.
 * @module
 */
import type { StatusReport } from "./report.ts";

/** The words shown in place of a redacted alert summary or incident title. */
export function redactedSummary(rule: string, severity: string): string {
  return `${severity} alert ${rule} (details need service credentials)`;
}

/** A copy of `report` without targets or failure messages, for token callers. */
export function redactForToken(report: StatusReport): StatusReport {
  return {
    ...report,
    alerts: {
      firing: report.alerts.firing.map((a) => ({
        ...a,
        dedup_key: a.rule,
        summary: redactedSummary(a.rule, a.severity),
      })),
    },
    incidents: {
      open: report.incidents.open.map((i) => ({
        ...i,
        title: `${i.severity} incident from ${i.source} (details need service credentials)`,
      })),
    },
  };
}

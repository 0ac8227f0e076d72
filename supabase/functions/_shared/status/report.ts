/**
 * The backup status: its shape and how it is loaded. All gathering happens in one SQL call,
 * `lifeboat.status_report(now)`, so the function, the page, the metrics and `lifeboat report`
 * always agree and a request costs one round trip.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { StreamStatus } from "./stream.ts";

/** The newest completed backup of a kind. */
export interface BackupStatus {
  id: number;
  kind: "full" | "tables";
  recovery_point: string;
  finished_at: string;
  age_seconds: number;
  rpo_seconds: number;
  within_rpo: boolean;
  bytes: number | null;
  duration_seconds: number | null;
  consistent: boolean;
}

/** A verification run, as the status shows it. */
export interface VerificationStatus {
  id: number;
  kind: string;
  backup_run_id: number | null;
  started_at: string;
  finished_at: string;
  success: boolean;
  checks_total: number;
  warnings: number;
  errors: number;
  age_seconds: number;
}

/** A restore drill, as the status shows it. */
export interface DrillStatus {
  id: number;
  system: string;
  backup_run_id: number | null;
  started_at: string;
  finished_at: string;
  success: boolean;
  met_objective: boolean | null;
  measured_rto_seconds: number | null;
  objective_seconds: number | null;
}

/** One reason behind the `recoverable` verdict. */
export interface Reason {
  check: "backup_exists" | "backup_within_rpo" | "backup_verified" | "drill_passed";
  ok: boolean;
  detail: string;
}

/** One point of the backup trend. */
export interface TrendPoint {
  id: number;
  finished_at: string;
  recovery_point: string;
  bytes: number | null;
  duration_seconds: number | null;
}

/** A GFS tier and which of its slots are filled. */
export interface RetentionTier {
  tier: "daily" | "weekly" | "monthly" | "yearly";
  /** Slots shown (for "all": every year since the oldest backup). */
  keep: number;
  /** True when the policy keeps every backup of this tier ("all"). */
  keep_all: boolean;
  filled: number;
  slots: { slot: string; backup_id: number | null; finished_at: string | null }[];
}

/** A watched pg_cron job. */
export interface CronJobStatus {
  job: string;
  schedule: string;
  active: boolean;
  last_status: "succeeded" | "failed" | null;
  last_run_at: string | null;
  last_success_at: string | null;
  consecutive_failures: number;
  healthy: boolean;
}

/** The whole status, as `lifeboat.status_report()` returns it. */
export interface StatusReport {
  generated_at: string;
  recoverable: boolean;
  reasons: Reason[];
  rpo: { seconds: number; warn_ratio: number; setting: string };
  rto: { system: string; seconds: number | null };
  data_classes: { data_class: string; rpo_seconds: number; met: boolean }[];
  backups: { full: BackupStatus | null; tables: BackupStatus | null };
  backup_runs: { running: number; failed_24h: number; completed_24h: number };
  verification: { last: VerificationStatus | null; last_backup: VerificationStatus | null };
  drill: { last: DrillStatus | null };
  drills: DrillStatus[];
  retention: { policy: Record<string, number | "all">; tiers: RetentionTier[] };
  cron: { jobs: CronJobStatus[]; failing: number };
  trend: TrendPoint[];
  /** Continuous capture (null: never enabled). */
  stream?: StreamStatus | null;
  incidents: { open: { id: number; severity: string; title: string; opened_at: string; source: string }[] };
  alerts: {
    firing: {
      rule: string;
      severity: string;
      dedup_key: string;
      summary: string;
      first_seen: string;
      last_seen: string;
      occurrences: number;
      incident_id: number | null;
    }[];
  };
}

/** Loads the status in one round trip; `now` injects the clock (tests, reports of the past). */
export async function loadStatusReport(sql: Sql, now?: Date): Promise<StatusReport> {
  const rows = now
    ? await sql`select lifeboat.status_report(${now.toISOString()}::timestamptz)::text as report,
        lifeboat.status_stream(${now.toISOString()}::timestamptz)::text as stream`
    : await sql`select lifeboat.status_report()::text as report, lifeboat.status_stream()::text as stream`;
  const report = JSON.parse(String(rows[0].report)) as StatusReport;
  report.stream = rows[0].stream === null ? null : JSON.parse(String(rows[0].stream)) as StreamStatus;
  return report;
}

/** How the newest full backup's age stands against the RPO: ok, warn (past 80%) or error. */
export function ageLevel(report: StatusReport): "ok" | "warn" | "error" {
  const b = report.backups.full;
  if (!b) return "error";
  if (b.age_seconds > report.rpo.seconds) return "error";
  if (b.age_seconds > report.rpo.seconds * report.rpo.warn_ratio) return "warn";
  return "ok";
}

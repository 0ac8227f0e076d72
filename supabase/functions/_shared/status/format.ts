/**
 * Human formatting for the status page, badge and CLI summary.
 * @module
 */

/** A duration in seconds as a short age: "45s", "12m", "3h", "2d". */
export function shortDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400 * 2) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A duration for a chart axis, with a decimal where it matters: "90s", "1.5m", "2h", "1.5d". */
export function axisDuration(seconds: number): string {
  const r = (x: number) => String(Math.round(x * 10) / 10);
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${r(seconds / 60)}m`;
  if (seconds < 172800) return `${r(seconds / 3600)}h`;
  return `${r(seconds / 86400)}d`;
}

/** A timestamp as "2026-11-22 03:40 UTC" (null: "never"). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? String(iso) : `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

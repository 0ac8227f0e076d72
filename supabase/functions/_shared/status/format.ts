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

/** A byte count as "512 B", "1.5 MB", "2.0 GB" (powers of 1024, as pg_size_pretty). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Escapes text for HTML and SVG (element content and attribute values). */
export function escapeXml(text: unknown): string {
  return String(text ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!
  );
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

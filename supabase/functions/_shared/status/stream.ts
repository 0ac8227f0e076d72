/**
 * The continuous-capture section of the status (`lifeboat.status_stream()`): achieved RPO, lag,
 * retained WAL, the point-in-time window; its HTML section and Prometheus samples.
 * @module
 */
import { escapeXml as h, formatBytes } from "../text/mod.ts";
import { formatTime, shortDuration } from "./format.ts";

/** The stream's status, as `lifeboat.status_stream()` returns it (null: never enabled). */
export interface StreamStatus {
  slot: string;
  enabled: boolean;
  running: boolean;
  enabled_at: string;
  dropped_at: string | null;
  drop_reason: string | null;
  /** now - the newest moment up to which every change is durably stored. */
  achieved_rpo_seconds: number | null;
  recovery_point: string | null;
  last_commit_at: string | null;
  last_run_at: string | null;
  lag_bytes: number | null;
  retained_bytes: number | null;
  wal_status: string | null;
  safe_wal_size: number | null;
  segments: number;
  segment_bytes: number;
  window: { earliest: string | null; latest: string | null } | null;
  last_error: boolean;
  /** The shipper's liveness (null without a running stream): no pass for stream.shipper_stale_after, and what its last scheduled call answered. */
  shipper?: { stale: boolean; last_call_status: number | null } | null;
}

/** The stream section of the status page ("" when no stream was ever enabled). */
export function streamSection(s: StreamStatus | null | undefined): string {
  if (!s) return "";
  const state = s.running ? `<span class="lvl-ok">running</span>` : s.dropped_at
    ? `<span class="lvl-error">dropped ${h(formatTime(s.dropped_at))}: ${h(s.drop_reason ?? "")}</span>`
    : `<span class="lvl-error">${s.enabled ? "enabled, slot missing" : "disabled"}</span>`;
  const rpo = s.achieved_rpo_seconds === null ? "–" : shortDuration(s.achieved_rpo_seconds);
  return `<section id="stream"><h2>Continuous protection</h2><div class="card">` +
    `<div class="big">achieved RPO ${h(rpo)}</div><div class="muted">stream ${h(s.slot)}: ${state}` +
    ` · lag ${h(formatBytes(s.lag_bytes))} · retained WAL ${h(formatBytes(s.retained_bytes))} (${h(s.wal_status ?? "–")})` +
    ` · ${s.segments} segments${s.last_error ? " · <span class=\"lvl-error\">last pass failed</span>" : ""}${shipperNote(s)}</div>` +
    `<div>point-in-time window: ${h(s.window?.earliest ? formatTime(s.window.earliest) : "no full backup covered yet")} → ` +
    `${h(formatTime(s.window?.latest))}</div></div></section>`;
}

/** " · shipper stopped (last call answered 401)" when no pass ran for stream.shipper_stale_after. */
function shipperNote(s: StreamStatus): string {
  if (!s.shipper?.stale) return "";
  const answer = s.shipper.last_call_status ? ` (last call answered ${s.shipper.last_call_status})` : "";
  return ` · <span class="lvl-error">shipper stopped${h(answer)}</span>`;
}

/** Prometheus samples of the stream: [name, help, value] (none without a stream). */
export function streamGauges(s: StreamStatus | null | undefined): [string, string, number][] {
  if (!s) return [];
  const out: [string, string, number][] = [
    ["lifeboat_stream_running", "1 if continuous capture is enabled and its slot exists.", s.running ? 1 : 0],
    ["lifeboat_stream_segments", "Stream segments stored.", s.segments],
  ];
  if (s.shipper) out.push(["lifeboat_stream_shipper_stale", "1 if no shipper pass ran for stream.shipper_stale_after.", s.shipper.stale ? 1 : 0]);
  if (s.achieved_rpo_seconds !== null) out.push(["lifeboat_stream_achieved_rpo_seconds", "Now minus the newest moment every change before which is durably stored.", s.achieved_rpo_seconds]);
  if (s.lag_bytes !== null) out.push(["lifeboat_stream_lag_bytes", "WAL between the current position and what the stream stored.", s.lag_bytes]);
  if (s.retained_bytes !== null) out.push(["lifeboat_stream_retained_wal_bytes", "WAL the stream slot retains (current - restart_lsn).", s.retained_bytes]);
  if (s.window?.earliest) out.push(["lifeboat_stream_window_earliest_timestamp_seconds", "Earliest restorable moment (Unix time).", Date.parse(s.window.earliest) / 1000]);
  if (s.window?.latest) out.push(["lifeboat_stream_window_latest_timestamp_seconds", "Latest restorable moment (Unix time).", Date.parse(s.window.latest) / 1000]);
  return out;
}

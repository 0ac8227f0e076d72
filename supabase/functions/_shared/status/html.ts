/**
 * The status page: one self-contained HTML document (inline CSS and SVG, no script, no
 * external asset; a Content-Security-Policy forbids loading any). Served by backup-status
 * with `?format=html` and written by `lifeboat report --html FILE`.
 * @module
 */
import { ageLevel, type StatusReport, type TrendPoint } from "./report.ts";
import { type ChartPoint, timeChart } from "./charts.ts";
import { escapeXml as h, formatBytes } from "../text/mod.ts";
import { axisDuration, formatTime, shortDuration } from "./format.ts";
import { streamSection } from "./stream.ts";

const CSS = `
:root{--ok:#1a7f37;--warn:#b08800;--bad:#cf222e;--muted:#6e7781;--line:#d0d7de;--bg:#f6f8fa;--fg:#1f2328;--accent:#0969da}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 10px}
.muted{color:var(--muted);fill:var(--muted)}
.verdict{border-radius:8px;padding:16px 20px;margin:16px 0;color:#fff}
.verdict.ok{background:var(--ok)}.verdict.bad{background:var(--bad)}
.verdict strong{font-size:20px;display:block}
.verdict ul{margin:8px 0 0;padding-left:20px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 16px}
.card .big{font-size:22px;font-weight:600}
.lvl-ok{color:var(--ok)}.lvl-warn{color:var(--warn)}.lvl-error{color:var(--bad)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}
figure.chart{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px}
figcaption{font-weight:600;margin-bottom:4px}
svg .grid{stroke:#eaeef2;stroke-width:1}svg .axis{font-size:11px;fill:var(--muted)}
svg .series{fill:none;stroke:var(--accent);stroke-width:2}
svg .point{fill:var(--accent)}svg .bar{fill:var(--accent)}svg .bad{fill:var(--bad)}
svg .reference{stroke:var(--bad);stroke-dasharray:6 4;stroke-width:1.5}svg .reference-label{font-size:11px;fill:var(--bad)}
table{width:100%;border-collapse:collapse;background:#fff}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line)}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase}
.slots{display:flex;flex-wrap:wrap;gap:3px;margin:4px 0 10px}.slot{width:16px;height:16px;border-radius:3px;background:#eaeef2;border:1px solid var(--line)}
.slot.filled{background:var(--ok);border-color:var(--ok)}
section{margin:20px 0}footer{margin-top:24px;font-size:12px}
`;

function level(ok: boolean | null | undefined): string {
  return ok ? "lvl-ok" : "lvl-error";
}

/**
 * Backup age over time (a sawtooth): it grows until the next backup lands and drops to that
 * backup's own lag. Markers are the peaks, the worst data loss each interval risked.
 */
export function ageSeries(trend: TrendPoint[], now: number, rpoSeconds: number): { points: ChartPoint[]; path: ChartPoint[] } {
  const sorted = trend.slice().sort((a, b) => Date.parse(a.finished_at) - Date.parse(b.finished_at));
  const points: ChartPoint[] = [], path: ChartPoint[] = [];
  let prevRp: number | null = null;
  for (const b of sorted) {
    const f = Date.parse(b.finished_at), rp = Date.parse(b.recovery_point);
    if (prevRp !== null) {
      const peak = (f - prevRp) / 1000;
      path.push({ t: f, v: peak });
      points.push({ t: f, v: peak, ok: peak <= rpoSeconds, label: `age reached ${shortDuration(peak)} before backup ${b.id}` });
    }
    path.push({ t: f, v: Math.max(0, (f - rp) / 1000) });
    prevRp = rp;
  }
  if (prevRp !== null) {
    const age = (now - prevRp) / 1000;
    path.push({ t: now, v: age });
    points.push({ t: now, v: age, ok: age <= rpoSeconds, label: `now: ${shortDuration(age)}` });
  }
  return { points, path };
}

function charts(r: StatusReport): string {
  const now = Date.parse(r.generated_at);
  const sizes = r.trend.filter((t) => t.bytes !== null).map((t) => ({ t: Date.parse(t.finished_at), v: t.bytes!, label: `backup ${t.id}: ${formatBytes(t.bytes)}` }));
  const durations = r.trend.filter((t) => t.duration_seconds !== null)
    .map((t) => ({ t: Date.parse(t.finished_at), v: t.duration_seconds!, label: `backup ${t.id}: ${t.duration_seconds} s` }));
  const age = ageSeries(r.trend, now, r.rpo.seconds);
  const drills = r.drills.filter((d) => d.measured_rto_seconds !== null).map((d) => ({
    t: Date.parse(d.finished_at),
    v: d.measured_rto_seconds!,
    ok: d.success && d.met_objective !== false,
    label: `drill ${d.id}: ${d.success ? "passed" : "failed"}, ${Math.round(d.measured_rto_seconds!)} s`,
  }));
  const secs = axisDuration;
  return `<div class="charts">` +
    timeChart({ id: "chart-size", title: "Backup size", points: sizes, style: "line", format: (v) => formatBytes(Math.round(v)) }) +
    timeChart({ id: "chart-duration", title: "Backup duration", points: durations, style: "line", format: secs }) +
    timeChart({
      id: "chart-age",
      title: "Backup age against the RPO",
      points: age.points,
      path: age.path,
      style: "line",
      format: secs,
      reference: { value: r.rpo.seconds, label: `RPO ${shortDuration(r.rpo.seconds)}` },
    }) +
    timeChart({
      id: "chart-drills",
      title: "Restore drills: measured RTO",
      points: drills,
      style: "bars",
      format: secs,
      reference: r.rto.seconds ? { value: r.rto.seconds, label: `RTO ${shortDuration(r.rto.seconds)}` } : undefined,
    }) +
    `</div>`;
}

function cards(r: StatusReport): string {
  const b = r.backups.full, v = r.verification.last_backup, d = r.drill.last;
  const lvl = ageLevel(r);
  return `<div class="grid">` +
    `<div class="card" id="card-backup"><h2>Last full backup</h2>` +
    (b
      ? `<div class="big lvl-${lvl}">${h(shortDuration(b.age_seconds))} ago</div><div class="muted">RPO ${h(shortDuration(r.rpo.seconds))} · ${h(formatBytes(b.bytes))} · took ${h(b.duration_seconds ?? "–")} s${b.consistent ? "" : " · not one snapshot"}</div>`
      : `<div class="big lvl-error">none</div><div class="muted">RPO ${h(shortDuration(r.rpo.seconds))}</div>`) +
    `</div><div class="card" id="card-verification"><h2>Last verification</h2>` +
    (v
      ? `<div class="big ${level(v.success)}">${v.success ? "passed" : "failed"}</div><div class="muted">${h(shortDuration(v.age_seconds))} ago · ${h(v.checks_total)} checks, ${h(v.errors)} errors, ${h(v.warnings)} warnings</div>`
      : `<div class="big lvl-error">never</div>`) +
    `</div><div class="card" id="card-drill"><h2>Last restore drill</h2>` +
    (d
      ? `<div class="big ${level(d.success && d.met_objective !== false)}">${d.success ? (d.met_objective === false ? "over RTO" : "passed") : "failed"}</div><div class="muted">RTO measured ${h(d.measured_rto_seconds === null ? "–" : shortDuration(d.measured_rto_seconds))} against ${h(d.objective_seconds === null ? "–" : shortDuration(d.objective_seconds))}</div>`
      : `<div class="big lvl-error">never</div>`) +
    `</div><div class="card" id="card-incidents"><h2>Incidents and alerts</h2><div class="big ${r.incidents.open.length ? "lvl-error" : "lvl-ok"}">${r.incidents.open.length} open</div>` +
    `<div class="muted">${r.alerts.firing.length} alerts firing · ${r.cron.failing} cron jobs failing</div></div></div>`;
}

function retention(r: StatusReport): string {
  return `<section id="retention"><h2>Retention (GFS)</h2><div class="card">` +
    r.retention.tiers.map((t) =>
      `<div><strong>${h(t.tier)}</strong> <span class="muted">${t.filled} of ${t.keep} slots filled</span></div><div class="slots">` +
      t.slots.map((s) => `<span class="slot${s.backup_id ? " filled" : ""}" title="${h(s.slot)}${s.backup_id ? `: backup ${s.backup_id}` : ": empty"}"></span>`).join("") +
      `</div>`
    ).join("") + `</div></section>`;
}

function lists(r: StatusReport): string {
  const rows = (cells: string[][]) => cells.map((c) => `<tr>${c.map((x) => `<td>${x}</td>`).join("")}</tr>`).join("");
  const alerts = r.alerts.firing.length
    ? `<table><tr><th>severity</th><th>alert</th><th>since</th><th>seen</th></tr>${
      rows(r.alerts.firing.map((a) => [h(a.severity), h(a.summary), h(formatTime(a.first_seen)), `${a.occurrences}×`]))
    }</table>`
    : `<p class="muted">No alert is firing.</p>`;
  const incidents = r.incidents.open.length
    ? `<table><tr><th>#</th><th>severity</th><th>title</th><th>opened</th></tr>${
      rows(r.incidents.open.map((i) => [String(i.id), h(i.severity), h(i.title), h(formatTime(i.opened_at))]))
    }</table>`
    : `<p class="muted">No open incident.</p>`;
  const cron = `<table><tr><th>job</th><th>schedule</th><th>last run</th><th>status</th><th>failures</th></tr>${
    rows(r.cron.jobs.map((j) => [
      h(j.job),
      `<code>${h(j.schedule)}</code>`,
      h(formatTime(j.last_run_at)),
      `<span class="${j.healthy ? "lvl-ok" : "lvl-error"}">${h(j.active ? (j.last_status ?? "not run yet") : "inactive")}</span>`,
      String(j.consecutive_failures),
    ]))
  }</table>`;
  return `<section id="alerts"><h2>Firing alerts</h2>${alerts}</section>` +
    `<section id="incidents"><h2>Open incidents</h2>${incidents}</section>` +
    `<section id="cron"><h2>Scheduled jobs (pg_cron)</h2>${cron}</section>`;
}

/** Renders the whole page for a report. */
export function renderStatusPage(r: StatusReport, title = "Lifeboat backup status"): string {
  const verdict = `<div class="verdict ${r.recoverable ? "ok" : "bad"}" id="verdict"><strong>${
    r.recoverable ? "Recoverable" : "Not recoverable"
  }</strong><ul>${r.reasons.map((x) => `<li>${x.ok ? "✓" : "✗"} ${h(x.detail)}</li>`).join("")}</ul></div>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">` +
    `<title>${h(title)}</title><style>${CSS}</style></head><body><main>` +
    `<h1>${h(title)}</h1><div class="muted">generated ${h(formatTime(r.generated_at))}</div>` +
    verdict + cards(r) + streamSection(r.stream) + `<section id="trends"><h2>Trends</h2>${charts(r)}</section>` + retention(r) + lists(r) +
    `<footer class="muted">Lifeboat · RPO ${h(shortDuration(r.rpo.seconds))} (setting ${h(r.rpo.setting)})` +
    (r.rto.seconds ? ` · RTO ${h(shortDuration(r.rto.seconds))} (${h(r.rto.system)})` : "") + `</footer>` +
    `</main></body></html>`;
}

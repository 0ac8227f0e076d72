/**
 * Small inline SVG time charts for the status page: no script, no external asset, sized by
 * viewBox so they scale with the page. Each data point is a `<circle class="point">` (or a
 * `<rect class="bar">`) carrying `data-t` and `data-v`, with a `<title>` tooltip.
 * @module
 */
import { escapeXml } from "../text/mod.ts";

/** One point of a chart: time (ms since epoch) and value. */
export interface ChartPoint {
  t: number;
  v: number;
  /** false draws the point in the failure colour. */
  ok?: boolean;
  /** Tooltip text. */
  label?: string;
}

/** Options for {@linkcode timeChart}. */
export interface ChartOptions {
  id: string;
  title: string;
  points: ChartPoint[];
  /** How to draw the series. */
  style: "line" | "bars";
  /** Formats a value for the axis. */
  format: (v: number) => string;
  /** A horizontal reference (an objective) drawn as a dashed line. */
  reference?: { value: number; label: string };
  /** Extra points that shape the line but carry no marker (e.g. the sawtooth of backup age). */
  path?: ChartPoint[];
  width?: number;
  height?: number;
}

const PAD = { left: 64, right: 16, top: 28, bottom: 36 };

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function dateLabel(t: number): string {
  return new Date(t).toISOString().slice(5, 10);
}

/** Renders a time chart, or a short "no data" figure when there are no points. */
export function timeChart(o: ChartOptions): string {
  const W = o.width ?? 640, H = o.height ?? 220;
  const iw = W - PAD.left - PAD.right, ih = H - PAD.top - PAD.bottom;
  const all = [...o.points, ...(o.path ?? [])];
  const head = `<figure class="chart" id="${escapeXml(o.id)}"><figcaption>${escapeXml(o.title)}</figcaption>`;
  if (o.points.length === 0) {
    return `${head}<svg class="chart-svg empty" viewBox="0 0 ${W} 60" width="100%" role="img" aria-label="${escapeXml(o.title)}: no data">` +
      `<text x="${W / 2}" y="34" text-anchor="middle" class="muted">no data yet</text></svg></figure>`;
  }
  let t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
  if (t1 === t0) {
    t0 -= 3600_000;
    t1 += 3600_000;
  }
  const vmax = niceMax(Math.max(...all.map((p) => p.v), o.reference?.value ?? 0) * 1.05);
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * iw;
  const y = (v: number) => PAD.top + ih - (v / vmax) * ih;
  const parts: string[] = [];
  // Grid and axis labels.
  for (let i = 0; i <= 4; i++) {
    const v = (vmax * i) / 4, yy = y(v).toFixed(1);
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${yy}" y2="${yy}"/>`);
    parts.push(`<text class="axis" x="${PAD.left - 6}" y="${yy}" dy="4" text-anchor="end">${escapeXml(o.format(v))}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    parts.push(`<text class="axis" x="${x(t).toFixed(1)}" y="${H - 12}" text-anchor="middle">${dateLabel(t)}</text>`);
  }
  if (o.reference) {
    const yy = y(o.reference.value).toFixed(1);
    parts.push(`<line class="reference" x1="${PAD.left}" x2="${W - PAD.right}" y1="${yy}" y2="${yy}"/>`);
    parts.push(`<text class="reference-label" x="${W - PAD.right}" y="${yy}" dy="-4" text-anchor="end">${escapeXml(o.reference.label)}</text>`);
  }
  if (o.style === "line") {
    const line = (o.path ?? o.points).slice().sort((a, b) => a.t - b.t);
    const d = line.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    parts.push(`<path class="series" d="${d}"/>`);
    for (const p of o.points) {
      parts.push(
        `<circle class="point${p.ok === false ? " bad" : ""}" cx="${x(p.t).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="3.5" data-t="${p.t}" data-v="${p.v}">` +
          `<title>${escapeXml(p.label ?? `${new Date(p.t).toISOString()}: ${o.format(p.v)}`)}</title></circle>`,
      );
    }
  } else {
    const bw = Math.max(3, Math.min(24, (iw / Math.max(o.points.length, 1)) * 0.6));
    for (const p of o.points) {
      const yy = y(p.v), h = Math.max(1, PAD.top + ih - yy);
      parts.push(
        `<rect class="bar${p.ok === false ? " bad" : ""}" x="${(x(p.t) - bw / 2).toFixed(1)}" y="${(PAD.top + ih - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" data-t="${p.t}" data-v="${p.v}">` +
          `<title>${escapeXml(p.label ?? `${new Date(p.t).toISOString()}: ${o.format(p.v)}`)}</title></rect>`,
      );
    }
  }
  return `${head}<svg class="chart-svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeXml(o.title)}">${parts.join("")}</svg></figure>`;
}

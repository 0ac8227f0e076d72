/**
 * A shields.io-style "flat" badge: "backup | 3h ago", green within 80% of the RPO, amber
 * up to the RPO, red past it or with no backup.
 * @module
 */
import { ageLevel, type StatusReport } from "./report.ts";
import { escapeXml } from "../text/mod.ts";
import { shortDuration } from "./format.ts";

const COLORS = { ok: "#4c1", warn: "#dfb317", error: "#e05d44", unknown: "#9f9f9f" } as const;

// Verdana 11px advance widths, approximated per character class (shields measures the
// same font; a few pixels of slack are invisible in a badge).
function textWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    if ("il.,:;|!'".includes(ch)) w += 3.5;
    else if ("fjrt() ".includes(ch)) w += 4.5;
    else if ("mwMW".includes(ch)) w += 10;
    else if (/[A-Z0-9]/.test(ch)) w += 7.5;
    else w += 6.6;
  }
  return Math.ceil(w);
}

/** The badge's right-hand text and colour for a report (null: the status is unavailable). */
export function badgeMessage(report: StatusReport | null): { message: string; color: string } {
  if (!report) return { message: "unknown", color: COLORS.unknown };
  const b = report.backups.full;
  if (!b) return { message: "none", color: COLORS.error };
  return { message: `${shortDuration(b.age_seconds)} ago`, color: COLORS[ageLevel(report)] };
}

/** Renders the badge SVG. */
export function renderBadge(report: StatusReport | null, label = "backup"): string {
  const { message, color } = badgeMessage(report);
  const lw = textWidth(label) + 10, mw = textWidth(message) + 10, w = lw + mw;
  const title = `${label}: ${message}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="20" role="img" aria-label="${escapeXml(title)}">` +
    `<title>${escapeXml(title)}</title>` +
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>` +
    `<clipPath id="r"><rect width="${w}" height="20" rx="3" fill="#fff"/></clipPath>` +
    `<g clip-path="url(#r)"><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${mw}" height="20" fill="${color}"/>` +
    `<rect width="${w}" height="20" fill="url(#s)"/></g>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">` +
    `<text x="${lw / 2}" y="15" fill="#010101" fill-opacity=".3">${escapeXml(label)}</text><text x="${lw / 2}" y="14">${escapeXml(label)}</text>` +
    `<text x="${lw + mw / 2}" y="15" fill="#010101" fill-opacity=".3">${escapeXml(message)}</text><text x="${lw + mw / 2}" y="14">${escapeXml(message)}</text>` +
    `</g></svg>`;
}

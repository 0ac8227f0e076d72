/**
 * The locations section of the status (issue 21): per location the newest verified copy, its
 * age, what waits to be copied and whether it meets its lag objective, and the 3-2-1 verdict,
 * as `lifeboat.location_status()` returns them; rendered for the page and for Prometheus.
 * @module
 */
import { escapeXml as h, formatBytes } from "../text/mod.ts";
import { formatTime, shortDuration } from "./format.ts";

/** One location's status. */
export interface LocationStatus {
  name: string;
  role: "primary" | "secondary" | "archive";
  kind: "file" | "s3" | "azure" | null;
  offsite: boolean;
  enabled: boolean;
  storage_class: string | null;
  locked: boolean;
  lag_objective_seconds: number;
  newest_backup_id: string | null;
  newest_finished_at: string | null;
  newest_age_seconds: number | null;
  verified_copies: number;
  pending_backups: number;
  /** Backups' objects and change segments waiting to be copied. */
  pending_objects: number;
  pending_bytes: number;
  /** Change segments waiting to be copied (counted in pending_objects too). */
  pending_segments: number;
  failing_attempts: number;
  within_objective: boolean;
}

/** The locations part of the report. */
export interface LocationsStatus {
  configured: boolean;
  problems: string[];
  locations: LocationStatus[];
  rule_321: { holds: boolean; copies: number; kinds: number; offsite: number; why_not: string[] };
}

/** The page's section: a table of locations and the 3-2-1 verdict (nothing when none are configured). */
export function locationsSection(s: LocationsStatus | undefined): string {
  if (!s?.configured) return "";
  const verdict = s.rule_321.holds
    ? `<p class="lvl-ok" id="rule-321"><strong>3-2-1 holds</strong>: ${s.rule_321.copies} verified copies, ${s.rule_321.kinds} kinds of storage, ${s.rule_321.offsite} off-site.</p>`
    : `<div class="lvl-error" id="rule-321"><strong>3-2-1 does not hold</strong><ul>${s.rule_321.why_not.map((w) => `<li>${h(w)}</li>`).join("")}</ul></div>`;
  const problems = s.problems.map((p) => `<p class="lvl-error">${h(p)}</p>`).join("");
  const rows = s.locations.map((l) =>
    `<tr><td>${h(l.name)}</td><td>${h(l.role)}</td><td>${h(l.kind ?? "?")}${l.offsite ? " · off-site" : ""}${l.locked ? " · locked" : ""}${
      l.storage_class ? ` · ${h(l.storage_class)}` : ""
    }</td>` +
    `<td>${l.newest_backup_id ? `${h(l.newest_backup_id)}<div class="muted">${h(formatTime(l.newest_finished_at))}</div>` : `<span class="lvl-error">none</span>`}</td>` +
    `<td class="${l.within_objective ? "lvl-ok" : "lvl-error"}">${l.newest_age_seconds === null ? "–" : h(shortDuration(l.newest_age_seconds))}` +
    `<div class="muted">objective ${h(shortDuration(l.lag_objective_seconds))}</div></td>` +
    `<td>${l.pending_objects ? `${pendingWhat(l)}, ${l.pending_objects} objects (${h(formatBytes(l.pending_bytes))})` : "0"}${
      l.failing_attempts ? `<div class="lvl-error">${l.failing_attempts} failed attempts</div>` : ""
    }</td></tr>`
  ).join("");
  return `<section id="locations"><h2>Locations</h2>${verdict}${problems}<table><tr><th>location</th><th>role</th><th>storage</th>` +
    `<th>newest verified copy</th><th>age</th><th>pending copy</th></tr>${rows}</table></section>`;
}

/** "2 backups", "3 change segments" or both. */
function pendingWhat(l: LocationStatus): string {
  const what = [];
  if (l.pending_backups) what.push(`${l.pending_backups} backups`);
  if (l.pending_segments) what.push(`${l.pending_segments} change segments`);
  return what.join(" and ");
}

type Sample = [Record<string, string>, number];

/** The Prometheus gauge families of the section: [name, help, samples]. */
export function locationFamilies(s: LocationsStatus | undefined): [string, string, Sample[]][] {
  if (!s?.configured) return [];
  const by = (f: (l: LocationStatus) => number | null): Sample[] =>
    s.locations.flatMap((l) => {
      const v = f(l);
      return v === null ? [] : [[{ location: l.name, role: l.role }, v] as Sample];
    });
  return [
    ["lifeboat_location_newest_copy_age_seconds", "Age of the newest verified copy at a location (by the backup's finish time).", by((l) => l.newest_age_seconds)],
    ["lifeboat_location_newest_copy_timestamp_seconds", "When the newest verified backup at a location finished (Unix time).",
      by((l) => (l.newest_finished_at ? Date.parse(l.newest_finished_at) / 1000 : null))],
    ["lifeboat_location_pending_objects", "Objects (of backups and change segments) waiting to be copied to a location.", by((l) => l.pending_objects)],
    ["lifeboat_location_pending_backups", "Backups waiting to be copied to a location.", by((l) => l.pending_backups)],
    ["lifeboat_location_pending_segments", "Change segments waiting to be copied to a location (also in pending_objects).", by((l) => l.pending_segments ?? 0)],
    ["lifeboat_location_failed_attempts", "Consecutive failed copy attempts to a location.", by((l) => l.failing_attempts)],
    ["lifeboat_location_within_objective", "1 if a location's newest verified copy meets its lag objective.", by((l) => (l.within_objective ? 1 : 0))],
    ["lifeboat_rule_321", "1 if the 3-2-1 rule holds (3 verified copies, 2 kinds of storage, 1 off-site).", [[{}, s.rule_321.holds ? 1 : 0]]],
  ];
}

/** One line for text summaries (`lifeboat report`): each location's newest copy age and the 3-2-1 verdict; null without locations. */
export function locationsSummary(s: LocationsStatus | undefined): string | null {
  if (!s?.configured) return null;
  const each = s.locations.map((l) =>
    `${l.name} ${l.newest_age_seconds === null ? "no copy" : shortDuration(l.newest_age_seconds)}${l.pending_objects ? ` (${l.pending_objects} objects pending)` : ""}`
  );
  const rule = s.rule_321.holds ? "3-2-1 holds" : `3-2-1 does not hold: ${s.rule_321.why_not.join("; ")}`;
  return `locations: ${each.join(", ")}; ${rule}`;
}

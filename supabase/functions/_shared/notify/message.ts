/**
 * The human wording of an alert notification, shared by every chat and email channel.
 * @module
 */
import type { AlertMessage, DeliveryKind } from "./types.ts";

/** Headline word per delivery kind. */
export function stateWord(kind: DeliveryKind): string {
  return kind === "resolved" ? "RESOLVED" : kind === "reminder" ? "STILL FIRING" : kind === "test" ? "TEST" : "FIRING";
}

/** A one-line title: "[FIRING] critical backup_age: the newest full backup is 2 days old". */
export function alertTitle(kind: DeliveryKind, a: AlertMessage): string {
  return `[${stateWord(kind)}] ${a.severity} ${a.rule}: ${a.summary}`;
}

/** The facts below the title, as label/value pairs. */
export function alertFacts(kind: DeliveryKind, a: AlertMessage): [string, string][] {
  const facts: [string, string][] = [
    ["alert", a.dedup_key],
    ["first seen", a.first_seen],
    ["occurrences", String(a.occurrences)],
  ];
  if (kind === "resolved" && a.resolved_at) facts.push(["resolved", a.resolved_at]);
  if (a.incident_id !== null) facts.push(["incident", `#${a.incident_id}`]);
  if (kind !== "resolved" && a.remediation) facts.push(["what to do", a.remediation]);
  return facts;
}

/** Plain-text body (email, logs). */
export function alertText(kind: DeliveryKind, a: AlertMessage): string {
  return `${alertTitle(kind, a)}\n\n${alertFacts(kind, a).map(([k, v]) => `${k}: ${v}`).join("\n")}\n`;
}

/**
 * The one check shape every Lifeboat report uses (the row shape of `lifeboat.health()` and the
 * other SQL suites, of verify, restore and drill reports), and helpers to build and summarise
 * lists of checks.
 * @module
 */

/** How bad a check's outcome is. */
export type Level = "ok" | "warn" | "error";

/** One check's outcome: what was checked, on which object, and what to do about it. */
export interface Check {
  check: string;
  level: Level;
  object: string;
  detail: string;
  remediation: string;
  metadata: Record<string, unknown>;
}

/** Builds a check; `remediation` defaults to "" (nothing to do). */
export function check(
  name: string,
  level: Level,
  object: string,
  detail: string,
  remediation = "",
  metadata: Record<string, unknown> = {},
): Check {
  return { check: name, level, object, detail, remediation, metadata };
}

/** Counts of a list of checks, and whether it passes (no error). */
export interface Summary {
  total: number;
  ok: number;
  warnings: number;
  errors: number;
  passed: boolean;
}

/** Summarises checks: a list passes when none is an error. An empty list never passes. */
export function summarize(checks: readonly Check[]): Summary {
  const errors = checks.filter((c) => c.level === "error").length;
  const warnings = checks.filter((c) => c.level === "warn").length;
  return {
    total: checks.length,
    ok: checks.length - errors - warnings,
    warnings,
    errors,
    passed: checks.length > 0 && errors === 0,
  };
}

/** The checks that need attention (warn or error). */
export function findings(checks: readonly Check[]): Check[] {
  return checks.filter((c) => c.level !== "ok");
}

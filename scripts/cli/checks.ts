/**
 * Checks rendered for a terminal (verify, restore, drill).
 * @module
 */
import type { Check, Level } from "../../supabase/functions/_shared/checks.ts";

/** Renders checks as aligned text lines for a terminal, problems first. */
export function formatChecks(checks: readonly Check[]): string {
  const order: Record<Level, number> = { error: 0, warn: 1, ok: 2 };
  const sorted = [...checks].sort((a, b) => order[a.level] - order[b.level]);
  const lines: string[] = [];
  for (const c of sorted) {
    const tag = c.level === "ok" ? "  ok " : c.level === "warn" ? " WARN" : "ERROR";
    lines.push(`${tag}  ${c.check.padEnd(22)} ${c.object}: ${c.detail}`);
    if (c.remediation) lines.push(`       ${"".padEnd(22)} fix: ${c.remediation}`);
  }
  return lines.join("\n");
}

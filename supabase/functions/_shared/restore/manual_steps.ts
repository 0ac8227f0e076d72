/**
 * What a backup cannot carry into a new project, reported with every restore that loads the
 * platform's rows instead of being left for the user to discover: the new project has its own
 * JWT secret and API keys, and secrets Lifeboat never reads (role passwords, auth provider
 * settings, edge function secrets). docs/runbooks.md lists how to redo each.
 * @module
 */
import type { Manifest } from "../format/mod.ts";
import { type Check, check } from "../checks.ts";

/** The things to redo by hand after a restore into a new project. */
export function notCarriedOver(m: Manifest): string[] {
  const roles = m.roles.passwordsNotExported;
  return [
    "the JWT secret and API keys (the new project has its own: update your apps' keys; sessions signed by the old secret end)",
    `role passwords${roles.length ? ` (${roles.join(", ")})` : ""}`,
    "auth provider settings (OAuth client ids and secrets, SMTP, redirect URLs, hooks: Dashboard → Authentication)",
    "edge function secrets (supabase secrets set …)",
    ...(m.platform && !m.platform.authSessions ? ["sessions and refresh tokens (users sign in again)"] : []),
  ];
}

/** A warning naming what must be redone by hand, for a restore that loads platform rows. */
export function manualStepsCheck(m: Manifest): Check {
  const items = notCarriedOver(m);
  return check("not_carried_over", "warn", "target", `not in the backup, redo by hand: ${items.join("; ")}`,
    "See docs/runbooks.md, 'After a restore into a new project'.", { items });
}

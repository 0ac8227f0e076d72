/**
 * Restore phase "preflight": what the plan will create, checked against the target before
 * anything is written (preflight.ts), plus the warnings a partial restore owes the user
 * (foreign keys left out, statement kinds skipped). Platform extensions the target cannot
 * create are left out of the plan, and pg_cron jobs become optional without pg_cron.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Manifest } from "../format/mod.ts";
import { type Check, check } from "../checks.ts";
import { RestoreAbort } from "./abort.ts";
import { display, keyOf, type QName } from "./names.ts";
import { extensionsCreated, preflight, type PreflightResult, rolesIn } from "./preflight.ts";
import type { RestorePlan } from "./selection_plan.ts";
import { checkPlatformVersions } from "./platform_versions.ts";

/** What pre-flight found, and the schemas the restore writes into. */
export interface PreflightOutcome {
  result: PreflightResult;
  /** Schemas the restored relations live in (checked for invalid indexes at the end). */
  targetSchemas: string[];
}

/**
 * Runs pre-flight for `plan` and records its checks; stops the restore on an error. Adjusts
 * `plan` for the extensions pre-flight says to skip.
 */
export async function runPreflight(
  target: Sql,
  m: Manifest,
  roles: string,
  plan: RestorePlan,
  opts: { jobs: number; clean: boolean },
  checks: Check[],
): Promise<PreflightOutcome> {
  const { partial, partialPlan, mapTarget, pre, post } = plan;
  const relations = new Map<string, QName>();
  const addRel = (q?: QName) => q && relations.set(keyOf(q), q);
  // Platform tables are never created or dropped: platform_rows.ts checks them instead.
  const platformKeys = new Set(plan.tasks.filter((t) => t.platform).map((t) => keyOf(t.target)));
  for (const t of plan.tables) if (!platformKeys.has(keyOf(mapTarget(t)))) addRel(mapTarget(t));
  for (const s of [...pre, ...post]) {
    if (!s.target) continue;
    const inSel = !partial || partialPlan.tables.some((t) => keyOf(t) === keyOf(s.target!)) ||
      partialPlan.sequences.some((t) => keyOf(t) === keyOf(s.target!));
    if (!inSel) continue;
    if (s.kind === "table" || s.kind === "sequence" || (!partial && (s.kind === "view" || s.kind === "matview"))) {
      addRel(mapTarget(s.target));
    }
  }
  const targetSchemas = new Set<string>([...relations.values()].map((r) => r.schema));
  // A platform extension's script creates its managed schema "if not exists" (vault for
  // supabase_vault): the project has that schema, and the restoring role need not create in it.
  const managed = new Set(m.excludedSchemas);
  if (!partial) {
    for (const s of pre) if (s.kind === "schema" && s.target && !managed.has(s.target.schema)) targetSchemas.add(s.target.schema);
  }
  const pf = await preflight(target, {
    manifest: m,
    extensions: extensionsCreated(partial ? pre.filter((s) => /^create\s/i.test(s.text)) : pre),
    roles: [...new Set([...rolesIn(roles), ...m.roles.passwordsNotExported])],
    schemas: [...targetSchemas],
    relations: [...relations.values()],
    statements: [...plan.planPre, ...plan.planPost].map((p) => p.sql),
    jobs: opts.jobs,
    clean: opts.clean,
  });
  checks.push(...pf.checks);
  for (const f of partialPlan.skippedFks) {
    checks.push(
      check(
        "fk_parent",
        "warn",
        display(mapTarget(f.table)),
        `foreign key to ${display(f.parent)} not created: ${f.reason}`,
        `Restore ${
          display(f.parent)
        } too (--table ${f.parent.schema}.${f.parent.name}), or check the rows by hand before copying them back.`,
        { parent: display(f.parent) },
      ),
    );
  }
  const skippedKinds = Object.entries(partialPlan.skipped).filter(([k]) =>
    ["view", "matview", "publication", "cron", "refresh"].includes(k)
  );
  if (partial && skippedKinds.length > 0) {
    checks.push(
      check(
        "partial_scope",
        "ok",
        "target",
        `a partial restore leaves out ${skippedKinds.map(([k, n]) => `${n} ${k}`).join(", ")} statements`,
        "",
        partialPlan.skipped,
      ),
    );
  }
  if (pf.checks.some((c) => c.level === "error")) throw new RestoreAbort("pre-flight failed");
  await checkPlatformVersions(target, m, new Set(plan.tasks.filter((t) => t.platform).map((t) => t.target.schema)), checks);
  // Skipped platform extensions: their CREATE EXTENSION is left out, and what uses them
  // (pg_cron jobs) is attempted but may fail softly.
  const skipExt = new Set(pf.skipExtensions);
  const extName = (sql: string) =>
    /^create\s+extension\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|\S+)/i.exec(sql)?.[1]?.replace(/^"|"$/g, "");
  plan.planPre = plan.planPre.filter((p) => !(p.kind === "extension" && skipExt.has(extName(p.sql) ?? "")));
  if (skipExt.has("pg_cron")) {
    for (const p of [...plan.planPre, ...plan.planPost, ...plan.planFin]) if (p.kind === "cron") p.optional = "pg_cron job";
  }
  return { result: pf, targetSchemas: [...targetSchemas] };
}

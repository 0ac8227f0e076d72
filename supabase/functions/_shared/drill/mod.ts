/**
 * In-project restore drills, the engine behind the `backup-drill` function: the newest backup
 * restored unit by unit into scratch schemas of the project's own database, resumable across
 * invocations, bounded (sampling, timeouts, kill switch, never beside an export), recorded in
 * `lifeboat.drills`. Code outside this folder imports only this module.
 * @module
 */
export { parseTap } from "./assertions.ts";
export { loadDrillConfig } from "./config.ts";
export type { DrillConfig } from "./config.ts";
export { DrillRefused, runDrillInvocation } from "./invocation.ts";
export type { DrillDeps, DrillReport } from "./invocation.ts";
export { planDrill, scratchSchema } from "./plan.ts";
export type { DrillPlan } from "./plan.ts";

/**
 * The resumable verification the `backup-verify` edge function runs on every completed
 * backup: request, settings, trusted keys, the queue in the database and one invocation.
 * Code outside this folder imports only this module.
 * @module
 */
export { loadVerifyConfig } from "./config.ts";
export type { VerifyConfig } from "./config.ts";
export { runVerifyInvocation } from "./invocation.ts";
export type { VerifyInvocationDeps, VerifyInvocationReport } from "./invocation.ts";
export { parseVerifyRequest } from "./request.ts";
export type { VerifyRequest } from "./request.ts";
export { projectTrust } from "./trust.ts";

/**
 * The chunked export driver that the `backup-export` edge function runs: request parsing, plan,
 * claim, worker, finalize and the continuation that calls the function again.
 * Code outside this folder imports only this module.
 * @module
 */
export { ConfigError } from "./config.ts";
export { selfCallFromEnv, triggerContinuation } from "./continuation.ts";
export { safeErrorMessage } from "./errors.ts";
export { JobError, runInvocation } from "./invocation.ts";
export type { InvocationDeps } from "./invocation.ts";
export { parseExportRequest } from "./request.ts";
export { storageFromEnv } from "./files.ts";
export { BudgetMeter, isolateCpuMs } from "./budget.ts";
export type { StopReason } from "./budget.ts";
export type { Budget } from "./config.ts";
export { signingKeyPem } from "./signing_key.ts";
export type { SelfCall } from "./continuation.ts";
export { checkEncryption, jobCodec, loadExportConfig } from "./config.ts";
export type { ExportConfig } from "./config.ts";
export { loadSigningKey, NO_SIGNING_KEY_MESSAGE } from "./signing_key.ts";

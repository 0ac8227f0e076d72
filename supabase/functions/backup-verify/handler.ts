/**
 * The `backup-verify` function: the project verifies every completed backup itself
 * (docs/backup-verify.md), resumable across invocations within the edge limits.
 *
 * `POST /functions/v1/backup-verify` with a service key (`apikey: sb_secret_…`, or the
 * service_role JWT as Bearer) and `{}` (whatever needs verifying, newest backup first) or
 * `{ "backup_run_id": <id> }`. Answers 200 with the outcome when a verification finished (or
 * `state: "idle"` when none was needed), 202 while one continues in another invocation.
 * Called by the completion trigger and the pg_cron sweep (lifeboat.verify_tick()).
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../_shared/db/mod.ts";
import { errorResponse, functionSubpath, jsonResponse, methodNotAllowed, readJsonBody } from "../_shared/http.ts";
import { publicKeysFromEnv, refuseNonService, type ServiceCredentials, serviceCredentialsFromEnv } from "../_shared/auth.ts";
import { ConfigError, safeErrorMessage, selfCallFromEnv, triggerContinuation } from "../_shared/jobs/mod.ts";
import { parseVerifyRequest, runVerifyInvocation, type VerifyInvocationDeps } from "../_shared/verify_job/mod.ts";

/** Settings of {@linkcode createBackupVerifyHandler}. */
export interface BackupVerifyOptions {
  credentials: ServiceCredentials;
  /** Keys that identify a caller who is not a service (publishable/anon): 403 rather than 401. */
  publicKeys: string[];
  connect: () => Sql;
  /** Overrides for tests (store, continuation, CPU clock). */
  deps?: Partial<Omit<VerifyInvocationDeps, "sql" | "worker">>;
}

/** This function's path under the project URL: where a continuation is sent. */
const SELF_PATH = "/functions/v1/backup-verify";

/** Creates the request handler. */
export function createBackupVerifyHandler(opts: BackupVerifyOptions): (req: Request) => Promise<Response> {
  return async (req: Request): Promise<Response> => {
    const sub = functionSubpath(req, "backup-verify");
    if (sub === null || sub !== "/") {
      return errorResponse(404, "not_found", "no such route: POST to /functions/v1/backup-verify");
    }
    if (req.method !== "POST") return methodNotAllowed(req.method, ["POST"]);
    const refusal = await refuseNonService(req, opts.credentials, opts.publicKeys, "verify backups");
    if (refusal) return errorResponse(refusal.status, refusal.code, refusal.message);

    const body = await readJsonBody(req, 'send {} or {"backup_run_id": <id>}');
    if (!body.ok) return jsonResponse({ error: "bad_request", field: "(body)", message: body.message }, 400);
    const parsed = parseVerifyRequest(body.value);
    if (!parsed.ok) {
      const { field, message } = parsed.problem;
      return jsonResponse({ error: "bad_request", field, message: `${field} ${message}` }, 400);
    }

    const sql = opts.connect();
    try {
      const worker = Deno.env.get("SB_EXECUTION_ID") || `edge-${crypto.randomUUID()}`;
      const selfCall = selfCallFromEnv(SELF_PATH);
      const report = await runVerifyInvocation(parsed.value, {
        sql,
        worker,
        continueRun: selfCall ? (b) => triggerContinuation(selfCall, b) : undefined,
        ...opts.deps,
      });
      return jsonResponse(report, report.state === "running" ? 202 : 200);
    } catch (err) {
      if (err instanceof ConfigError) return errorResponse(409, "not_configured", err.message);
      const code = (err as { code?: string })?.code;
      const message = typeof code === "string" && /^[0-9A-Z]{5}$|^[A-Z_]+$/.test(code) ? describeDbError(err) : safeErrorMessage(err);
      console.error(`backup-verify: ${message}`);
      return errorResponse(503, "verify_failed", `${message}; the verification keeps its progress and resumes on the next call`);
    } finally {
      await sql.end({ timeout: 5 }).catch(() => {});
    }
  };
}

/** The handler with its production dependencies, from the environment. */
export function handlerFromEnv(): (req: Request) => Promise<Response> {
  return createBackupVerifyHandler({
    credentials: serviceCredentialsFromEnv(),
    publicKeys: publicKeysFromEnv(),
    connect: () => connect(databaseUrlFromEnv(), { applicationName: "lifeboat backup-verify" }),
  });
}

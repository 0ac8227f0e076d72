/**
 * The `backup-drill` function: scheduled restore drills from inside the project
 * (docs/drills.md, in-project drills), resumable across invocations within the edge limits.
 *
 * `POST /functions/v1/backup-drill` with a service key (`apikey: sb_secret_…`, or the
 * service_role JWT as Bearer) and `{}` to start a drill (or join the running one) or
 * `{"resume": true}` to continue a running drill only. Answers 200 when the drill finished
 * (passed or not: `success`), 202 while it runs or waits for an export, 409 when it may not
 * start (switched off, not configured, an export running, the drill identity missing or wrong).
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../_shared/db/mod.ts";
import { errorResponse, functionSubpath, jsonResponse, methodNotAllowed } from "../_shared/http.ts";
import { publicKeysFromEnv, refuseNonService, type ServiceCredentials, serviceCredentialsFromEnv } from "../_shared/auth.ts";
import { ConfigError, safeErrorMessage, selfCallFromEnv, triggerContinuation } from "../_shared/jobs/mod.ts";
import { type DrillDeps, DrillRefused, runDrillInvocation } from "../_shared/drill/mod.ts";
import { StoreError } from "../_shared/store/mod.ts";

/** Settings of {@linkcode createBackupDrillHandler}. */
export interface BackupDrillOptions {
  credentials: ServiceCredentials;
  /** Keys that identify a caller who is not a service (publishable/anon): 403 rather than 401. */
  publicKeys: string[];
  databaseUrl: () => string;
  /** Overrides for tests. */
  deps?: Partial<Omit<DrillDeps, "sql" | "databaseUrl">>;
}

const MAX_BODY = 4 * 1024;
const SELF_PATH = "/functions/v1/backup-drill";

/** Parses the body: `{}` or `{"resume": true}`. */
export function parseDrillRequest(text: string): { ok: true; resume: boolean } | { ok: false; message: string } {
  if (text.length > MAX_BODY) return { ok: false, message: "the body is too large" };
  if (text.trim() === "") return { ok: true, resume: false };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, message: "the body is not valid JSON: send {} or {\"resume\": true}" };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { ok: false, message: "the body must be a JSON object: {} or {\"resume\": true}" };
  const extra = Object.keys(v).filter((k) => k !== "resume");
  if (extra.length) return { ok: false, message: `unknown field ${extra[0]}: send {} or {"resume": true}` };
  const resume = (v as { resume?: unknown }).resume;
  if (resume !== undefined && typeof resume !== "boolean") return { ok: false, message: "resume must be true or false" };
  return { ok: true, resume: resume === true };
}

/** Creates the request handler. */
export function createBackupDrillHandler(opts: BackupDrillOptions): (req: Request) => Promise<Response> {
  return async (req: Request): Promise<Response> => {
    const sub = functionSubpath(req, "backup-drill");
    if (sub === null || sub !== "/") return errorResponse(404, "not_found", "no such route: POST to /functions/v1/backup-drill");
    if (req.method !== "POST") return methodNotAllowed(req.method, ["POST"]);
    const refusal = await refuseNonService(req, opts.credentials, opts.publicKeys, "run drills");
    if (refusal) return errorResponse(refusal.status, refusal.code, refusal.message);

    const body = parseDrillRequest(await req.text());
    if (!body.ok) return jsonResponse({ error: "bad_request", field: "(body)", message: body.message }, 400);

    let sql: Sql | null = null;
    try {
      const databaseUrl = opts.databaseUrl();
      sql = connect(databaseUrl, { applicationName: "lifeboat backup-drill" });
      const selfCall = selfCallFromEnv(SELF_PATH);
      const report = await runDrillInvocation({ resume: body.resume }, {
        sql,
        databaseUrl,
        worker: Deno.env.get("SB_EXECUTION_ID") || `edge-${crypto.randomUUID()}`,
        continueJob: selfCall ? () => triggerContinuation(selfCall, { resume: true }) : undefined,
        ...opts.deps,
      });
      const status = report.state === "running" || report.state === "waiting" ? 202 : 200;
      return jsonResponse(report, status);
    } catch (err) {
      if (err instanceof DrillRefused) {
        return jsonResponse({ error: err.code, message: err.message, ...(err.drillId ? { drill: err.drillId } : {}) }, err.status);
      }
      if (err instanceof ConfigError) return errorResponse(409, "not_configured", err.message);
      if (err instanceof StoreError) return errorResponse(503, "store_unavailable", `the backup store: ${safeErrorMessage(err)}; the drill resumes later`);
      const code = (err as { code?: string })?.code;
      const message = typeof code === "string" && /^[0-9A-Z]{5}$|^[A-Z_]+$/.test(code) ? describeDbError(err) : safeErrorMessage(err);
      console.error(`backup-drill: ${message}`);
      return errorResponse(503, "drill_failed", `${message}; a running drill keeps its progress and resumes`);
    } finally {
      await sql?.end({ timeout: 5 }).catch(() => {});
    }
  };
}

/** The handler with its production dependencies, from the environment. */
export function handlerFromEnv(): (req: Request) => Promise<Response> {
  const publicKeys = publicKeysFromEnv();
  return createBackupDrillHandler({ credentials: serviceCredentialsFromEnv(), publicKeys, databaseUrl: () => databaseUrlFromEnv() });
}

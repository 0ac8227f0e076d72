/**
 * The `backup-export` function: off-site backups from inside Supabase, resumable across
 * invocations within the edge limits (docs/backup-export.md).
 *
 * `POST /functions/v1/backup-export` with a service key (`apikey: sb_secret_…`, or the
 * service_role JWT as Bearer) and `{ "mode": "full" | "tables", "tables"?, "label"?, "resume"? }`.
 * Answers 200 with the job's progress when it is completed, 202 while it is still running.
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../_shared/db/mod.ts";
import { errorResponse, functionSubpath, jsonResponse, methodNotAllowed } from "../_shared/http.ts";
import { publicKeysFromEnv, refusalResponse, type ServiceCredentials, serviceCredentialsFromEnv, serviceRefusal } from "../_shared/auth.ts";
import { SelectionError } from "../_shared/export/mod.ts";
import { ConfigError } from "../_shared/jobs/mod.ts";
import { selfCallFromEnv, triggerContinuation } from "../_shared/jobs/mod.ts";
import { safeErrorMessage } from "../_shared/jobs/mod.ts";
import { type InvocationDeps, JobError, runInvocation } from "../_shared/jobs/mod.ts";
import { parseExportRequest } from "../_shared/jobs/mod.ts";

/** Settings of {@linkcode createBackupExportHandler}. */
export interface BackupExportOptions {
  credentials: ServiceCredentials;
  /** Keys that identify a caller who is not a service (publishable/anon): 403 rather than 401. */
  publicKeys: string[];
  /** Opens the two connections an invocation uses. */
  connect: () => { sql: Sql; dataSql: Sql };
  /** Overrides for tests (store, clock, continuation). */
  deps?: Partial<Omit<InvocationDeps, "sql" | "dataSql" | "worker">>;
}

const MAX_BODY = 64 * 1024;
/** This function's path under the project URL: where a job's continuation is sent. */
const SELF_PATH = "/functions/v1/backup-export";

async function readJson(req: Request): Promise<{ ok: true; value: unknown } | { ok: false; message: string }> {
  const text = await req.text();
  if (text.length > MAX_BODY) return { ok: false, message: "the body is too large" };
  if (text.trim() === "") return { ok: false, message: 'the body is empty: send a JSON object like {"mode":"full"}' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, message: "the body is not valid JSON" };
  }
}

/** Creates the request handler. */
export function createBackupExportHandler(opts: BackupExportOptions): (req: Request) => Promise<Response> {
  return async (req: Request): Promise<Response> => {
    const sub = functionSubpath(req, "backup-export");
    if (sub === null || sub !== "/") {
      return errorResponse(404, "not_found", "no such route: POST to /functions/v1/backup-export");
    }
    if (req.method !== "POST") return methodNotAllowed(req.method, ["POST"]);

    const refusal = await serviceRefusal(req, opts.credentials, opts.publicKeys);
    if (refusal) return refusalResponse(refusal, "run backups");

    const body = await readJson(req);
    if (!body.ok) return jsonResponse({ error: "bad_request", field: "(body)", message: body.message }, 400);
    const parsed = parseExportRequest(body.value);
    if (!parsed.ok) {
      const { field, message } = parsed.problem;
      return jsonResponse({ error: "bad_request", field, message: `${field} ${message}` }, 400);
    }

    const { sql, dataSql } = opts.connect();
    // Not req.signal: a caller that hangs up (a continuation's trigger does) must not stop the work.
    try {
      const worker = Deno.env.get("SB_EXECUTION_ID") || `edge-${crypto.randomUUID()}`;
      const selfCall = selfCallFromEnv(SELF_PATH);
      const report = await runInvocation(parsed.value, {
        sql,
        dataSql,
        worker,
        continueJob: selfCall ? (b) => triggerContinuation(selfCall, b) : undefined,
        ...opts.deps,
      });
      const status = report.state === "running" ? 202 : report.state === "failed" ? 500 : 200;
      return jsonResponse(report, status);
    } catch (err) {
      if (err instanceof JobError) return errorResponse(err.status, err.code, err.message);
      if (err instanceof SelectionError) {
        return jsonResponse({ error: "bad_request", field: "tables", message: `tables: ${err.message}` }, 400);
      }
      if (err instanceof ConfigError) return errorResponse(409, "not_configured", err.message);
      const code = (err as { code?: string })?.code;
      const message = typeof code === "string" && /^[0-9A-Z]{5}$|^[A-Z_]+$/.test(code) ? describeDbError(err) : safeErrorMessage(err);
      console.error(`backup-export: ${message}`);
      return errorResponse(503, "export_failed", `${message}; the job keeps its progress and can be resumed`);
    } finally {
      await Promise.all([sql.end({ timeout: 5 }), dataSql.end({ timeout: 5 })]).catch(() => {});
    }
  };
}

/** The handler with its production dependencies, from the environment. */
export function handlerFromEnv(): (req: Request) => Promise<Response> {
  return createBackupExportHandler({
    credentials: serviceCredentialsFromEnv(),
    publicKeys: publicKeysFromEnv(),
    connect: () => {
      const url = databaseUrlFromEnv();
      return {
        sql: connect(url, { applicationName: "lifeboat backup-export" }),
        dataSql: connect(url, { applicationName: "lifeboat backup-export (snapshot)" }),
      };
    },
  });
}

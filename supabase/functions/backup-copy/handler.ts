/**
 * The `backup-copy` function: copies every backup and change segment on the primary location
 * to the other locations of `lifeboat.locations` (docs/locations.md), within the edge budget,
 * continuing itself in a fresh invocation while work is left; pg_cron calls it every 15 minutes
 * (schedule `copy`, once `copy.enabled` is set). Credentials come from the Vault secrets the
 * locations name.
 *
 * `POST /functions/v1/backup-copy` with a service key and `{}` (or `{"retention": false}`).
 * Answers 200 with the report when every due copy was made, 202 when it continues, 207 when a
 * location failed (retried with backoff), 409 when locations are not usable or another run is
 * in progress.
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../_shared/db/mod.ts";
import { errorResponse, functionSubpath, jsonResponse, methodNotAllowed } from "../_shared/http.ts";
import { isServiceCaller, presentedTokens, type ServiceCredentials, serviceCredentialsFromEnv } from "../_shared/auth.ts";
import { loadLocations, LocationError, openLocation, vaultSecrets } from "../_shared/locations/mod.ts";
import { COPY_TUNING, CopyBusyError, type CopyReport, runCopy, withCopyLock } from "../_shared/copy/mod.ts";
import { safeErrorMessage, selfCallFromEnv, triggerContinuation } from "../_shared/jobs/mod.ts";
import { StoreError } from "../_shared/store/mod.ts";

/** Settings of {@linkcode createBackupCopyHandler}. */
export interface BackupCopyOptions {
  credentials: ServiceCredentials;
  connect: () => Sql;
  /** Starts the next invocation when this one ran out of budget (default: a POST to itself). */
  continueRun?: () => Promise<unknown>;
  /** Wall-clock budget of one invocation, ms (default: setting copy.budget.wall_ms). */
  budgetMs?: number;
}

const SELF_PATH = "/functions/v1/backup-copy";

async function readBody(req: Request): Promise<{ retention: boolean } | string> {
  const text = await req.text();
  if (text.length > 4096) return "the body is too large";
  if (text.trim() === "") return { retention: true };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "the body is not valid JSON: send {} or {\"retention\": false}";
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "the body must be a JSON object";
  const { retention, ...rest } = v as Record<string, unknown>;
  delete rest.mode;
  delete rest.resume;
  const unknown = Object.keys(rest);
  if (unknown.length) return `unknown field '${unknown[0]}': the body takes only "retention"`;
  if (retention !== undefined && typeof retention !== "boolean") return "retention must be true or false";
  return { retention: retention ?? true };
}

/** Creates the request handler. */
export function createBackupCopyHandler(opts: BackupCopyOptions): (req: Request) => Promise<Response> {
  return async (req: Request): Promise<Response> => {
    const sub = functionSubpath(req, "backup-copy");
    if (sub === null || sub !== "/") return errorResponse(404, "not_found", "no such route: POST to /functions/v1/backup-copy");
    if (req.method !== "POST") return methodNotAllowed(req.method, ["POST"]);
    if (presentedTokens(req).length === 0) {
      return errorResponse(401, "unauthorized", "service credentials required: send the secret key in the apikey header");
    }
    if (!(await isServiceCaller(req, opts.credentials))) {
      return errorResponse(401, "unauthorized", "the credentials were not accepted: send the project's secret key in the apikey header");
    }
    const body = await readBody(req);
    if (typeof body === "string") return jsonResponse({ error: "bad_request", message: body }, 400);

    const sql = opts.connect();
    try {
      const started = Date.now();
      const budget = opts.budgetMs ?? Number((await sql`select lifeboat.setting('copy.budget.wall_ms') #>> '{}' as v`)[0].v);
      const locations = await loadLocations(sql);
      if (locations.filter((l) => l.enabled).length < 2) {
        return errorResponse(409, "not_configured", "nothing to copy to: add a secondary or archive location to lifeboat.locations");
      }
      const secrets = vaultSecrets(sql);
      const report: CopyReport = await withCopyLock(sql, () =>
        runCopy({ sql, locations, open: (l) => openLocation(l, secrets, { tuning: COPY_TUNING }), deadline: started + budget, retention: body.retention })
      );
      if (!report.done) {
        const [{ v }] = await sql`select lifeboat.setting('copy.continue') #>> '{}' as v`;
        const self = selfCallFromEnv(SELF_PATH);
        const next = v === "true"
          ? opts.continueRun ?? (self ? () => triggerContinuation(self, { mode: "copy", resume: "continue" }) : undefined)
          : undefined;
        await next?.();
        return jsonResponse({ ...report, continued: Boolean(next) }, 202);
      }
      const failing = report.locations.some((l) => l.failed.length > 0 || l.unreachable);
      return jsonResponse(report, failing ? 207 : 200);
    } catch (err) {
      if (err instanceof LocationError) return errorResponse(409, "locations_invalid", err.message);
      if (err instanceof CopyBusyError) return errorResponse(409, "copy_running", err.message);
      if (err instanceof StoreError) {
        return errorResponse(503, "primary_unavailable", `the primary location could not be read (${err.code}): ${safeErrorMessage(err)}`);
      }
      const message = describeDbError(err);
      console.error(`backup-copy: ${message}`);
      return errorResponse(503, "copy_failed", `${message}; the next run resumes`);
    } finally {
      await sql.end({ timeout: 5 }).catch(() => {});
    }
  };
}

/** The handler with its production dependencies, from the environment. */
export function handlerFromEnv(): (req: Request) => Promise<Response> {
  return createBackupCopyHandler({
    credentials: serviceCredentialsFromEnv(),
    connect: () => connect(databaseUrlFromEnv(), { applicationName: "lifeboat backup-copy", max: 3 }),
  });
}

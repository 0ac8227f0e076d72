/**
 * The `backup-stream` function: one pass of the stream shipper inside the edge budgets
 * (docs/pitr.md). pg_cron calls it every few seconds (`lifeboat.invoke('backup-stream')`, the
 * stream-ship schedule); a pass that does not finish within `stream.budget.*` stops at a
 * record boundary and the next call resumes. Single-flight: while one pass holds the stream,
 * another answers 200 `{"state":"busy"}` at once.
 *
 * `POST /functions/v1/backup-stream` with a service key (`apikey: sb_secret_…`, or the
 * service_role JWT as Bearer), body `{}` or empty. Answers 200 with what the pass did.
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../_shared/db/mod.ts";
import { errorResponse, functionSubpath, jsonResponse, methodNotAllowed } from "../_shared/http.ts";
import { publicKeysFromEnv, refusalResponse, type ServiceCredentials, serviceCredentialsFromEnv, serviceRefusal } from "../_shared/auth.ts";
import { ConfigError, safeErrorMessage } from "../_shared/jobs/mod.ts";
import { openStore, type Store } from "../_shared/store/mod.ts";
import { loadStreamConfig, shipOnce } from "../_shared/stream/mod.ts";

/** Settings of {@linkcode createBackupStreamHandler}. */
export interface BackupStreamOptions {
  credentials: ServiceCredentials;
  /** Keys that identify a caller who is not a service (publishable/anon): 403 rather than 401. */
  publicKeys: string[];
  connect: () => Sql;
  /** Opens the store at export.target (tests inject a faulty one). */
  openStore?: (target: string) => Store;
}

const MAX_BODY = 4096;

/** Creates the request handler. */
export function createBackupStreamHandler(opts: BackupStreamOptions): (req: Request) => Promise<Response> {
  return async (req: Request): Promise<Response> => {
    const sub = functionSubpath(req, "backup-stream");
    if (sub === null || sub !== "/") return errorResponse(404, "not_found", "no such route: POST to /functions/v1/backup-stream");
    if (req.method !== "POST") return methodNotAllowed(req.method, ["POST"]);
    const refusal = await serviceRefusal(req, opts.credentials, opts.publicKeys);
    if (refusal) return refusalResponse(refusal, "run the stream");

    const text = await req.text();
    if (text.length > MAX_BODY) return jsonResponse({ error: "bad_request", field: "(body)", message: "the body is too large" }, 400);
    if (text.trim() !== "") {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return jsonResponse({ error: "bad_request", field: "(body)", message: "the body is not valid JSON: send {} or nothing" }, 400);
      }
      if (typeof body !== "object" || body === null || Array.isArray(body) || Object.keys(body).length > 0) {
        return jsonResponse({ error: "bad_request", field: "(body)", message: "backup-stream takes no options: send {} or nothing" }, 400);
      }
    }

    const sql = opts.connect();
    try {
      const config = await loadStreamConfig(sql);
      const store = (opts.openStore ?? ((t: string) => openStore(t)))(config.target);
      const owner = `edge-${Deno.env.get("SB_EXECUTION_ID") || crypto.randomUUID()}`;
      const r = await shipOnce({ sql, store, owner, seal: config.seal, signingKey: config.signingKey, limits: config.limits });
      return jsonResponse({
        state: r.state,
        slot: r.slot,
        segments: r.segments.map((m) => ({ seq: m.seq, transactions: m.transactions, changes: m.changes, bytes: m.bytes, lastCommitAt: m.lastCommitAt })),
        rows: r.rows,
        caught_up: r.caughtUp,
        stopped_by: r.stoppedBy,
        wall_ms: r.wallMs,
        cpu_ms: r.cpuMs,
        peak_rss_bytes: r.peakRssBytes,
      });
    } catch (err) {
      if (err instanceof ConfigError) return errorResponse(409, "not_configured", err.message);
      // Lifeboat's own "not enabled / slot dropped" errors: their text is ours and says what to do.
      if ((err as { code?: string })?.code === "55000") return errorResponse(409, "stream_not_running", (err as Error).message);
      const code = (err as { code?: string })?.code;
      const message = typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? describeDbError(err) : safeErrorMessage(err);
      console.error(`backup-stream: ${message}`);
      return errorResponse(503, "stream_failed", `${message}; the stream resumes from what it stored on the next call`);
    } finally {
      await sql.end({ timeout: 5 }).catch(() => {});
    }
  };
}

/** The handler with its production dependencies, from the environment. */
export function handlerFromEnv(): (req: Request) => Promise<Response> {
  return createBackupStreamHandler({
    credentials: serviceCredentialsFromEnv(),
    publicKeys: publicKeysFromEnv(),
    connect: () => connect(databaseUrlFromEnv(), { max: 2, applicationName: "lifeboat backup-stream" }),
  });
}

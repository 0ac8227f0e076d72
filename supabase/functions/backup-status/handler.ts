/**
 * The `backup-status` function: can this project recover right now?
 *
 * - `GET /backup-status` JSON status (default), `?format=prometheus` text exposition
 *   (also `GET /backup-status/metrics`), `?format=html` self-contained status page.
 * - `GET /backup-status/badge.svg` a shields-style badge ("backup 3h ago", coloured by RPO).
 * - `POST /backup-status/notify` (or `POST /backup-status` with `{"action":"notify"}`, which
 *   is what `lifeboat.invoke` sends) sends due notifications; service credentials only.
 *
 * Reads need service credentials or the read-only status token (LIFEBOAT_STATUS_TOKEN) as
 * `Authorization: Bearer …` or `?token=…` (for embedding the badge and page). CORS origins
 * come from LIFEBOAT_STATUS_CORS_ORIGINS (comma list, `*` for any).
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../_shared/db/mod.ts";
import { errorResponse, functionSubpath, jsonResponse, methodNotAllowed } from "../_shared/http.ts";
import { isServiceCaller, type ServiceCredentials, serviceCredentialsFromEnv, timingSafeEqual } from "../_shared/auth.ts";
import { cachedSingleFlight } from "../_shared/single_flight.ts";
import { loadStatusReport, type StatusReport } from "../_shared/status/mod.ts";
import { redactForToken } from "../_shared/status/mod.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../_shared/status/mod.ts";
import { renderBadge } from "../_shared/status/mod.ts";
import { renderStatusPage } from "../_shared/status/mod.ts";
import { dispatchNotifications, type DispatchSummary } from "../_shared/notify/mod.ts";
import { numberFromEnv } from "../_shared/env.ts";

const NAME = "backup-status";
const READ_METHODS = ["GET", "HEAD", "OPTIONS"] as const;
const ROOT_METHODS = ["GET", "HEAD", "POST", "OPTIONS"] as const;
const NOTIFY_METHODS = ["POST", "OPTIONS"] as const;
const FORMATS = new Set(["json", "prometheus", "html"]);

/** A status load: the report, or why there is none. */
type Loaded = { ok: true; report: StatusReport } | { ok: false; reason: string };

/** Settings for {@linkcode createStatusHandler}. */
export interface StatusOptions {
  credentials: ServiceCredentials;
  /** The read-only status token; empty disables token access. */
  statusToken: string;
  /** Allowed CORS origins (`*` = any). */
  corsOrigins: string[];
  loadReport: () => Promise<StatusReport>;
  notify: () => Promise<DispatchSummary>;
  cacheTtlMs: number;
}

type Caller = "service" | "token" | "public";

async function callerOf(req: Request, url: URL, o: StatusOptions): Promise<Caller> {
  if (await isServiceCaller(req, o.credentials)) return "service";
  if (!o.statusToken) return "public";
  const presented: string[] = [];
  const q = url.searchParams.get("token");
  if (q) presented.push(q);
  const m = req.headers.get("authorization")?.match(/^Bearer\s+(.+)$/i);
  if (m) presented.push(m[1].trim());
  let ok = false;
  for (const t of presented) ok = (await timingSafeEqual(t, o.statusToken)) || ok;
  return ok ? "token" : "public";
}

function corsHeaders(req: Request, o: StatusOptions): Record<string, string> | null {
  const origin = req.headers.get("origin");
  if (!origin || !(o.corsOrigins.includes("*") || o.corsOrigins.includes(origin))) return null;
  return {
    "access-control-allow-origin": o.corsOrigins.includes("*") ? "*" : origin,
    "access-control-allow-methods": "GET, HEAD, POST, OPTIONS",
    "access-control-allow-headers": "authorization, apikey, content-type, x-client-info",
    "access-control-max-age": "600",
    vary: "Origin",
  };
}

function withHeaders(res: Response, extra: Record<string, string> | null): Response {
  if (!extra) return res;
  const h = new Headers(res.headers);
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  return new Response(res.body, { status: res.status, headers: h });
}

function text(body: string | null, contentType: string, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": contentType, "cache-control": "no-store", "x-content-type-options": "nosniff", ...extra },
  });
}

const unauthorized = () =>
  errorResponse(401, "unauthorized", "send the status token (Authorization: Bearer <token> or ?token=) or service credentials (apikey: <secret key>)", {
    "www-authenticate": 'Bearer realm="lifeboat-status"',
  });

/** Creates the request handler; all I/O goes through `o`, so tests can drive it directly. */
export function createStatusHandler(o: StatusOptions): (req: Request) => Promise<Response> {
  const cached = cachedSingleFlight<Loaded>(
    () => o.loadReport().then((report) => ({ ok: true as const, report }), (err) => ({ ok: false as const, reason: describeDbError(err) })),
    { ttlMs: o.cacheTtlMs },
  );

  async function read(req: Request, view: "json" | "prometheus" | "html" | "badge", caller: Caller): Promise<Response> {
    const shared = await cached();
    // The token's view never shows targets or failure messages (see status/redact.ts).
    const loaded: Loaded = shared.ok && caller !== "service" ? { ok: true, report: redactForToken(shared.report) } : shared;
    const head = req.method === "HEAD";
    if (view === "badge") {
      // A broken image in a README helps nobody: an unavailable status is a grey badge.
      return text(head ? null : renderBadge(loaded.ok ? loaded.report : null), "image/svg+xml; charset=utf-8", 200, {
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
      });
    }
    if (view === "prometheus") {
      // Scrapers alert on lifeboat_up 0 rather than on a failed scrape.
      return text(head ? null : renderPrometheus(loaded.ok ? loaded.report : null), PROMETHEUS_CONTENT_TYPE);
    }
    if (!loaded.ok) return errorResponse(503, "status_unavailable", `the backup status could not be read: ${loaded.reason}`);
    if (view === "html") {
      return text(head ? null : renderStatusPage(loaded.report), "text/html; charset=utf-8", 200, {
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
      });
    }
    const res = jsonResponse(loaded.report);
    return head ? new Response(null, { status: res.status, headers: res.headers }) : res;
  }

  async function notify(caller: Caller, bodyText: string | null): Promise<Response> {
    if (caller === "public") return unauthorized();
    if (caller !== "service") return errorResponse(403, "forbidden", "the status token is read-only: sending notifications needs service credentials");
    if (bodyText !== null && bodyText.trim() !== "") {
      let body: unknown;
      try {
        body = JSON.parse(bodyText);
      } catch {
        return errorResponse(400, "invalid_body", 'the body must be JSON: {"action": "notify"}');
      }
      const action = (body as { action?: unknown })?.action;
      if (typeof body !== "object" || body === null || Array.isArray(body) || (action !== undefined && action !== "notify")) {
        return errorResponse(400, "invalid_action", `unknown action ${JSON.stringify(action ?? null).slice(0, 40)}: the only action is "notify"`);
      }
    }
    try {
      return jsonResponse({ action: "notify", ...(await o.notify()) });
    } catch (err) {
      return errorResponse(503, "notify_failed", `notifications could not be dispatched: ${describeDbError(err)}`);
    }
  }

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const sub = functionSubpath(req, NAME);
    const cors = corsHeaders(req, o);
    const route = sub === "/" ? "root" : sub === "/badge.svg" ? "badge" : sub === "/metrics" ? "metrics" : sub === "/notify" ? "notify" : null;
    if (!route) {
      return withHeaders(errorResponse(404, "not_found", "unknown path: use /backup-status, /backup-status/badge.svg, /backup-status/metrics or /backup-status/notify"), cors);
    }
    const allowed = route === "root" ? ROOT_METHODS : route === "notify" ? NOTIFY_METHODS : READ_METHODS;
    if (!(allowed as readonly string[]).includes(req.method)) return withHeaders(methodNotAllowed(req.method, allowed), cors);
    if (req.method === "OPTIONS") {
      if (req.headers.get("origin") && !cors) {
        return errorResponse(403, "origin_not_allowed", "this origin is not allowed: add it to LIFEBOAT_STATUS_CORS_ORIGINS");
      }
      return new Response(null, { status: 204, headers: { allow: allowed.join(", "), ...(cors ?? {}) } });
    }
    const caller = await callerOf(req, url, o);
    if (req.method === "POST") return withHeaders(await notify(caller, await req.text()), cors);

    const format = url.searchParams.get("format") ?? (route === "metrics" ? "prometheus" : "json");
    if (!FORMATS.has(format)) {
      return withHeaders(errorResponse(400, "invalid_format", `unknown format '${format.slice(0, 40)}': use format=json, format=prometheus or format=html`), cors);
    }
    if (route === "metrics" && format !== "prometheus") {
      return withHeaders(errorResponse(400, "invalid_format", "/metrics is always format=prometheus"), cors);
    }
    if (caller === "public") return withHeaders(unauthorized(), cors);
    const view = route === "badge" ? "badge" : (format as "json" | "prometheus" | "html");
    return withHeaders(await read(req, view, caller), cors);
  };
}

/** The handler wired to the environment. */
export function handlerFromEnv(): (req: Request) => Promise<Response> {
  let sql: Sql | undefined;
  const client = () =>
    sql ??= connect(databaseUrlFromEnv(), { max: 3, applicationName: "lifeboat-backup-status", statementTimeoutMs: 15_000 });
  return createStatusHandler({
    credentials: serviceCredentialsFromEnv(),
    statusToken: Deno.env.get("LIFEBOAT_STATUS_TOKEN") ?? "",
    corsOrigins: (Deno.env.get("LIFEBOAT_STATUS_CORS_ORIGINS") ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    loadReport: () => loadStatusReport(client()),
    notify: () => dispatchNotifications(client(), { env: Deno.env, timeoutMs: numberFromEnv("LIFEBOAT_NOTIFY_TIMEOUT_MS", 10_000, { allowZero: true }) }),
    cacheTtlMs: numberFromEnv("LIFEBOAT_STATUS_CACHE_TTL_MS", 1000, { allowZero: true }),
  });
}

/** The handler `index.ts` serves. */
export const handler: (req: Request) => Promise<Response> = handlerFromEnv();

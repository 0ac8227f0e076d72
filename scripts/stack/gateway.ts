/**
 * The local stand-in for Supabase's API gateway in front of edge functions and Storage.
 *
 * Behaves as hosted Supabase does for functions:
 * - `/functions/v1/<name>/rest?q` reaches the function as `/<name>/rest?q`;
 * - `verify_jwt` (default true, per `[functions.<name>]` in supabase/config.toml) requires
 *   `Authorization: Bearer <JWT>` signed with the project's JWT secret, rejects `sb_…` API
 *   keys, and answers 401 `{"code":401,"message":…}` before the function runs; OPTIONS skips it;
 * - functions with `enabled = false` are not served;
 * - a function that does not answer within 150 s gets 504 (the hosted idle limit).
 *
 * Each function runs as its own Deno process (started by scripts/stack.sh); the map of
 * function name to loopback port is in LIFEBOAT_FUNCTIONS_MAP.
 *
 * CORS on both routes as the Supabase CLI's Kong `cors` plugin answers it (cors.ts).
 *
 * And as the Supabase CLI's gateway does for Storage: `/storage/v1/<rest>` (REST and the S3
 * protocol at `/storage/v1/s3/…`) reaches the Storage server (LIFEBOAT_STORAGE_PORT) as
 * `/<rest>`, with the project's API keys translated to the JWTs Storage checks (api_keys.ts)
 * and the forwarded host and prefix that S3 signatures are verified against. Bodies stream
 * through both ways, never buffered (uploads through node:http, see upstream.ts).
 * @module
 */
import { parse as parseToml } from "smol-toml";
import { jwtVerify } from "jose";
import { loadApiKeys, translateAuthorization } from "./api_keys.ts";
import { isPreflight, preflightResponse, withCors } from "./cors.ts";
import { forwardWithBody } from "./upstream.ts";

const ROOT = new URL("../..", import.meta.url);
const PORT = Number(Deno.env.get("LIFEBOAT_API_PORT") ?? "54321");
const READ_TIMEOUT_MS = 150_000;

interface FunctionConfig {
  enabled: boolean;
  verifyJwt: boolean;
}

function loadConfig(): Map<string, FunctionConfig> {
  const path = Deno.env.get("LIFEBOAT_CONFIG_TOML") ?? new URL("supabase/config.toml", ROOT);
  const text = Deno.readTextFileSync(path);
  const toml = parseToml(text) as { functions?: Record<string, { enabled?: boolean; verify_jwt?: boolean }> };
  const out = new Map<string, FunctionConfig>();
  for (const [name, c] of Object.entries(toml.functions ?? {})) {
    out.set(name, { enabled: c.enabled ?? true, verifyJwt: c.verify_jwt ?? true });
  }
  return out;
}

const config = loadConfig();
const ports = new Map<string, number>(Object.entries(JSON.parse(
  Deno.readTextFileSync(Deno.env.get("LIFEBOAT_FUNCTIONS_MAP") ?? ".lifeboat/functions.json"),
)));
const storagePort = Number(Deno.env.get("LIFEBOAT_STORAGE_PORT") ?? "0");
const apiKeys = loadApiKeys();
const STORAGE_PREFIX = "/storage/v1";
const jwtSecret = new TextEncoder().encode(Deno.env.get("LIFEBOAT_JWT_SECRET") ?? "");

function platformError(status: number, message: string): Response {
  return new Response(JSON.stringify({ code: status, message }), {
    status,
    headers: { "content-type": "application/json", "sb-error-code": String(status) },
  });
}

async function verifyJwt(req: Request): Promise<Response | null> {
  const auth = req.headers.get("authorization");
  if (!auth) return platformError(401, "Missing authorization header");
  const m = auth.match(/^Bearer\s+(\S+)$/i);
  if (!m || m[1].startsWith("sb_")) return platformError(401, "Invalid JWT");
  try {
    await jwtVerify(m[1], jwtSecret, { algorithms: ["HS256"] });
    return null;
  } catch {
    return platformError(401, "Invalid JWT");
  }
}

/** Storage behind `/storage/v1/`, as the Supabase CLI's Kong route `storage-v1-all` serves it. */
async function proxyStorage(req: Request, url: URL): Promise<Response> {
  if (!storagePort) return platformError(503, "Storage is not running in this stack");
  const auth = translateAuthorization(req.headers, apiKeys);
  if (auth.refused) return platformError(401, "Invalid API key");
  const headers = new Headers(req.headers);
  if (auth.authorization === null) headers.delete("authorization");
  else headers.set("authorization", auth.authorization);
  // Kong's forwarding headers: Storage checks S3 signatures against the host the client used.
  headers.set("x-forwarded-host", url.hostname);
  headers.set("x-forwarded-port", url.port || "80");
  headers.set("x-forwarded-proto", "http");
  headers.set("x-forwarded-prefix", STORAGE_PREFIX);
  const rest = url.pathname.slice(STORAGE_PREFIX.length) || "/";
  const target = `http://127.0.0.1:${storagePort}${rest}${url.search}`;
  try {
    // Uploads go through node:http (upstream.ts says why); both ways the body is streamed.
    if (req.body) return await forwardWithBody(target, req.method, headers, req.body, req.signal);
    return await fetch(target, { method: req.method, headers, redirect: "manual", signal: req.signal });
  } catch {
    return platformError(502, "Storage is not available");
  }
}

async function handle(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const isStorage = url.pathname === STORAGE_PREFIX || url.pathname.startsWith(`${STORAGE_PREFIX}/`);
  const isFunction = url.pathname.startsWith("/functions/v1/");
  if (!isStorage && !isFunction) return platformError(404, "no route matched: use /functions/v1/<name> or /storage/v1/");
  // Kong's cors plugin runs before its key and JWT checks.
  if (isPreflight(req)) return preflightResponse(req);
  return withCors(req, isStorage ? await proxyStorage(req, url) : await proxyFunction(req, url));
}

async function proxyFunction(req: Request, url: URL): Promise<Response> {
  const m = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
  if (!m) return platformError(404, "no route matched: use /functions/v1/<name> or /storage/v1/");
  const name = decodeURIComponent(m[1]);
  const cfg = config.get(name) ?? { enabled: true, verifyJwt: true };
  const port = ports.get(name);
  if (!port || !cfg.enabled) return platformError(404, "Requested function was not found");
  if (cfg.verifyJwt && req.method !== "OPTIONS") {
    const denied = await verifyJwt(req);
    if (denied) return denied;
  }
  const target = `http://127.0.0.1:${port}/${m[1]}${m[2] ?? ""}${url.search}`;
  const headers = new Headers(req.headers);
  headers.set("x-forwarded-host", url.host);
  headers.set("x-forwarded-proto", "http");
  try {
    return await fetch(target, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
      signal: AbortSignal.any([req.signal, AbortSignal.timeout(READ_TIMEOUT_MS)]),
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "TimeoutError") {
      return platformError(504, "Function did not respond in time");
    }
    return platformError(502, "Function is not available");
  }
}

Deno.serve({ hostname: "127.0.0.1", port: PORT, onListen: () => {} }, handle);

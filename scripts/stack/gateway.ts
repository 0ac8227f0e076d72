/**
 * The local stand-in for Supabase's API gateway in front of edge functions.
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
 * @module
 */
import { parse as parseToml } from "smol-toml";
import { jwtVerify } from "jose";

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
const ports: Record<string, number> = JSON.parse(
  Deno.readTextFileSync(Deno.env.get("LIFEBOAT_FUNCTIONS_MAP") ?? ".lifeboat/functions.json"),
);
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

async function handle(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const m = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
  if (!m) return platformError(404, "no route matched: functions live under /functions/v1/<name>");
  const name = decodeURIComponent(m[1]);
  const cfg = config.get(name) ?? { enabled: true, verifyJwt: true };
  const port = ports[name];
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

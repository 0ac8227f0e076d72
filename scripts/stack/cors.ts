/**
 * CORS as the Supabase CLI's Kong answers it on `/storage/v1/` and `/functions/v1/` (the
 * `cors` plugin with its defaults, Kong 2.8): a preflight (OPTIONS with `Origin` and
 * `Access-Control-Request-Method`) is answered by the gateway itself with 200, before any key
 * or JWT check, allowing any origin, the plugin's default methods and the headers the browser
 * asked for; every other request that carries an `Origin` gets `Access-Control-Allow-Origin: *`
 * on its response. An OPTIONS without those headers is not a preflight and goes upstream.
 * @module
 */

/** The cors plugin's default `methods`. */
export const CORS_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";

/** Whether a request is a CORS preflight (the gateway answers it). */
export function isPreflight(req: Request): boolean {
  return req.method === "OPTIONS" && req.headers.has("origin") && req.headers.has("access-control-request-method");
}

/** The gateway's answer to a preflight. */
export function preflightResponse(req: Request): Response {
  const headers = new Headers({
    "access-control-allow-origin": "*",
    "access-control-allow-methods": CORS_METHODS,
    "content-length": "0",
  });
  const asked = req.headers.get("access-control-request-headers");
  if (asked) headers.set("access-control-allow-headers", asked);
  return new Response(null, { status: 200, headers });
}

/**
 * Adds `Access-Control-Allow-Origin: *` to the upstream's answer to a request from a browser
 * (one with `Origin`); the body stays the upstream's stream.
 */
export function withCors(req: Request, res: Response): Response {
  if (!req.headers.has("origin")) return res;
  const headers = new Headers(res.headers);
  headers.set("access-control-allow-origin", "*");
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

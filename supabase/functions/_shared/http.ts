/**
 * JSON responses and errors shared by every Lifeboat edge function. Error bodies carry a
 * stable code and a message that says what to do; never a stack trace, hostname or secret.
 * @module
 */

/** A JSON response with `Cache-Control: no-store` (backup state must never be cached by a proxy). */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers: HeadersInit = {},
  contentType = "application/json",
): Response {
  const h = new Headers(headers);
  h.set("content-type", `${contentType}; charset=utf-8`);
  h.set("cache-control", "no-store");
  return new Response(JSON.stringify(body), { status, headers: h });
}

/** A JSON error `{ error, message }` with the given status. */
export function errorResponse(
  status: number,
  error: string,
  message: string,
  headers: HeadersInit = {},
): Response {
  return jsonResponse({ error, message }, status, headers);
}

/** 405 with an `Allow` header listing what the route accepts. */
export function methodNotAllowed(method: string, allowed: readonly string[]): Response {
  return errorResponse(
    405,
    "method_not_allowed",
    `method ${method} is not allowed here; use ${allowed.join(", ")}`,
    { allow: allowed.join(", ") },
  );
}

/**
 * The sub-path of a function request: Supabase hands a function `/<name>/rest`, so strip the
 * leading `/<name>`. Returns null when the path does not belong to the function.
 */
export function functionSubpath(req: Request, name: string): string | null {
  const path = new URL(req.url).pathname;
  if (path === `/${name}` || path === `/${name}/`) return "/";
  if (path.startsWith(`/${name}/`)) return path.slice(name.length + 1);
  return null;
}

/**
 * Reads a JSON request body of at most `maxBytes` characters; `emptyHint` says what to send
 * when it is empty. Returns the value, or a message for a 400.
 */
export async function readJsonBody(
  req: Request,
  emptyHint: string,
  maxBytes = 64 * 1024,
): Promise<{ ok: true; value: unknown } | { ok: false; message: string }> {
  const text = await req.text();
  if (text.length > maxBytes) return { ok: false, message: "the body is too large" };
  if (text.trim() === "") return { ok: false, message: `the body is empty: ${emptyHint}` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, message: "the body is not valid JSON" };
  }
}

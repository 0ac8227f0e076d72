/**
 * Caller authentication for Lifeboat's functions, following Supabase's contract: service
 * callers present a secret key (`sb_secret_…`) in the `apikey` header, or the legacy
 * service_role JWT as `Authorization: Bearer …`. Keys come from SUPABASE_SECRET_KEYS (a JSON
 * object of name → key) and SUPABASE_SERVICE_ROLE_KEY.
 * @module
 */
/** The credentials that grant service access, read from the environment. */
export interface ServiceCredentials {
  /** Accepted secret keys (values of SUPABASE_SECRET_KEYS). */
  secretKeys: string[];
  /** The legacy service_role JWT, if set. */
  serviceRoleJwt?: string;
}

/** Reads service credentials from the environment; tolerates either source being absent. */
export function serviceCredentialsFromEnv(
  env: { get(name: string): string | undefined } = Deno.env,
): ServiceCredentials {
  const secretKeys: string[] = [];
  const raw = env.get("SUPABASE_SECRET_KEYS");
  if (raw) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed && typeof parsed === "object") {
        for (const v of Object.values(parsed)) if (typeof v === "string" && v) secretKeys.push(v);
      }
    } catch {
      // A malformed variable grants nothing; the caller is then simply not a service caller.
    }
  }
  const serviceRoleJwt = env.get("SUPABASE_SERVICE_ROLE_KEY") || undefined;
  return { secretKeys, serviceRoleJwt };
}

const encoder = new TextEncoder();

/**
 * Compares two strings in time independent of where they differ, by comparing their
 * SHA-256 digests (so length differences do not leak either).
 */
export async function timingSafeEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  const x = new Uint8Array(da), y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** The token a request presents: the `apikey` header, else the Bearer token. */
export function presentedTokens(req: Request): string[] {
  const out: string[] = [];
  const apikey = req.headers.get("apikey");
  if (apikey) out.push(apikey.trim());
  const auth = req.headers.get("authorization");
  const m = auth?.match(/^Bearer\s+(.+)$/i);
  if (m) out.push(m[1].trim());
  return out;
}

/** True if the request carries a secret key or the service_role JWT. */
export async function isServiceCaller(req: Request, creds: ServiceCredentials): Promise<boolean> {
  const accepted = [...creds.secretKeys];
  if (creds.serviceRoleJwt) accepted.push(creds.serviceRoleJwt);
  if (accepted.length === 0) return false;
  let ok = false;
  // Compare against every accepted key, without short-circuiting, to keep timing flat.
  for (const token of presentedTokens(req)) {
    for (const key of accepted) ok = (await timingSafeEqual(token, key)) || ok;
  }
  return ok;
}

/** Keys that identify a public (publishable or anon) caller: SUPABASE_PUBLISHABLE_KEYS and SUPABASE_ANON_KEY. */
export function publicKeysFromEnv(env: { get(name: string): string | undefined } = Deno.env): string[] {
  const keys: string[] = [];
  try {
    const pk = JSON.parse(env.get("SUPABASE_PUBLISHABLE_KEYS") ?? "{}") as Record<string, unknown>;
    for (const v of Object.values(pk)) if (typeof v === "string" && v) keys.push(v);
  } catch {
    // none
  }
  const anon = env.get("SUPABASE_ANON_KEY");
  if (anon) keys.push(anon);
  return keys;
}

/** Why a caller may not use a service-only function, or null when it may. */
export interface CallerRefusal {
  status: 401 | 403;
  code: "unauthorized" | "forbidden";
  message: string;
}

/**
 * Admits service callers only: 401 without credentials or with unknown ones, 403 for a public
 * key (`what` says what the key may not do, e.g. "run backups").
 */
export async function refuseNonService(
  req: Request,
  creds: ServiceCredentials,
  publicKeys: readonly string[],
  what: string,
): Promise<CallerRefusal | null> {
  const tokens = presentedTokens(req);
  if (tokens.length === 0) {
    return { status: 401, code: "unauthorized", message: "service credentials required: send the secret key in the apikey header" };
  }
  if (await isServiceCaller(req, creds)) return null;
  let isPublic = false;
  for (const t of tokens) for (const k of publicKeys) isPublic = (await timingSafeEqual(t, k)) || isPublic;
  return isPublic
    ? { status: 403, code: "forbidden", message: `this key may not ${what}: use the project's secret key (service role)` }
    : { status: 401, code: "unauthorized", message: "the credentials were not accepted: send the project's secret key in the apikey header" };
}

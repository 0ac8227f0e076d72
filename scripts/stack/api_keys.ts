/**
 * The project's API keys as Supabase's local gateway translates them for the services behind
 * it (the Supabase CLI's Kong `request-transformer`, its `BearerToken` expression): a request
 * keeps its `Authorization` unless there is none or it carries an `sb_` key; then the `apikey`
 * header decides: a secret key (`sb_secret_…`) becomes `Bearer <service_role JWT>`, a
 * publishable key (`sb_publishable_…`) `Bearer <anon JWT>`, and any other value is passed as it
 * is (a legacy JWT). An `sb_` key the project does not have is refused, as hosted Supabase does.
 * @module
 */

/** The outcome for one request: the `Authorization` to send upstream (null: none), or refused. */
export type Translation = { refused: false; authorization: string | null } | { refused: true };

/**
 * Maps each of the project's `sb_` keys to the legacy JWT it stands for, from the environment
 * the stack writes (`SUPABASE_SECRET_KEYS` and `SUPABASE_PUBLISHABLE_KEYS` are JSON objects of
 * key name to key). Missing variables give no keys, so every `sb_` key is then refused.
 */
export function loadApiKeys(env: { get(name: string): string | undefined } = Deno.env): Map<string, string> {
  const keys = new Map<string, string>();
  const add = (json: string | undefined, jwt: string | undefined) => {
    if (!json || !jwt) return;
    for (const key of Object.values(JSON.parse(json) as Record<string, string>)) keys.set(key, jwt);
  };
  add(env.get("SUPABASE_SECRET_KEYS"), env.get("SUPABASE_SERVICE_ROLE_KEY"));
  add(env.get("SUPABASE_PUBLISHABLE_KEYS"), env.get("SUPABASE_ANON_KEY"));
  return keys;
}

/** The `Authorization` the gateway sends upstream for a request with these headers. */
export function translateAuthorization(headers: Headers, keys: Map<string, string>): Translation {
  const apikey = headers.get("apikey");
  if (apikey?.startsWith("sb_") && !keys.has(apikey)) return { refused: true };
  const authorization = headers.get("authorization");
  const bearerKey = authorization?.match(/^Bearer\s+(sb_\S*)$/i)?.[1];
  if (authorization && bearerKey === undefined) return { refused: false, authorization };
  const key = apikey ?? bearerKey;
  if (key === undefined) return { refused: false, authorization: null };
  const jwt = keys.get(key);
  if (jwt !== undefined) return { refused: false, authorization: `Bearer ${jwt}` };
  if (key.startsWith("sb_")) return { refused: true };
  return { refused: false, authorization: key };
}

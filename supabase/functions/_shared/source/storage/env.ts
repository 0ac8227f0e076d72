/**
 * The project's Storage key from the environment, as the CLI and the edge functions find it.
 * @module
 */

/** LIFEBOAT_STORAGE_KEY, then SUPABASE_SECRET_KEYS' `default`, then SUPABASE_SERVICE_ROLE_KEY; "" when none is set. */
export function storageKeyFromEnv(env: { get(name: string): string | undefined } = Deno.env): string {
  const direct = env.get("LIFEBOAT_STORAGE_KEY");
  if (direct) return direct;
  const keys = env.get("SUPABASE_SECRET_KEYS");
  if (keys) {
    try {
      const k = JSON.parse(keys)?.default;
      if (typeof k === "string" && k) return k;
    } catch { /* not JSON: fall through */ }
  }
  return env.get("SUPABASE_SERVICE_ROLE_KEY") ?? "";
}

/**
 * Continuing a job in a fresh invocation when this one's budget runs out: a POST of
 * `{"mode", "resume": <job id>}` to the function's own URL (SUPABASE_URL and the path the
 * function gives) with the service key, registered with `EdgeRuntime.waitUntil` where the
 * runtime has it. We wait only until the request is delivered (a short window), not for
 * the continuation's answer, so invocations do not chain their wall clocks; the
 * continuation ignores a caller that hangs up. If the call is lost, the pg_cron safety net
 * (lifeboat.export_tick, every 5 minutes) resumes the job.
 * @module
 */

/** How to reach the function itself. */
export interface SelfCall {
  /** The function's own URL (SUPABASE_URL and its path). */
  url: string;
  /** A service key: an `sb_secret_…` key (sent as apikey) or the service_role JWT. */
  key: string;
  /** How long to wait for delivery before letting go (ms). */
  deliveryMs?: number;
}

/**
 * Reads the self-call settings from the environment, or null when they are missing. `path`
 * is the calling function's own path under the project URL (`/functions/v1/<name>`).
 */
export function selfCallFromEnv(path: string, env: { get(name: string): string | undefined } = Deno.env): SelfCall | null {
  const baseUrl = env.get("SUPABASE_URL");
  let key: string | undefined;
  try {
    const keys = JSON.parse(env.get("SUPABASE_SECRET_KEYS") ?? "{}") as Record<string, unknown>;
    key = Object.values(keys).find((v): v is string => typeof v === "string" && v.length > 0);
  } catch {
    key = undefined;
  }
  key ??= env.get("SUPABASE_SERVICE_ROLE_KEY") || undefined;
  return baseUrl && key ? { url: `${baseUrl.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`, key } : null;
}

/** Fires the continuation; resolves to "triggered" once it is on its way (or "failed"). */
export function triggerContinuation(call: SelfCall, body: Record<string, unknown>): Promise<"triggered" | "failed"> {
  const headers: Record<string, string> = { "content-type": "application/json", apikey: call.key };
  if (!call.key.startsWith("sb_")) headers.authorization = `Bearer ${call.key}`;
  const ac = new AbortController();
  const deliveryMs = call.deliveryMs ?? 2_000;
  const p = new Promise<"triggered" | "failed">((resolve) => {
    const timer = setTimeout(() => {
      // Delivered (or at least sent): stop waiting for the continuation's own answer.
      resolve("triggered");
      ac.abort();
    }, deliveryMs);
    fetch(call.url, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: ac.signal,
    }).then(async (res) => {
      clearTimeout(timer);
      await res.body?.cancel().catch(() => {});
      resolve(res.ok || res.status === 202 ? "triggered" : "failed");
    }, () => {
      clearTimeout(timer);
      resolve(ac.signal.aborted ? "triggered" : "failed");
    });
  });
  // Keep the worker alive until the request is out (Supabase edge runtime).
  const er = (globalThis as { EdgeRuntime?: { waitUntil?: (p: Promise<unknown>) => void } }).EdgeRuntime;
  er?.waitUntil?.(p);
  return p;
}

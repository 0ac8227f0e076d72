/**
 * `lifeboat outbox`: the outbox worker. Where pg_net is not installed (plain Postgres), or where
 * a project chooses durable delivery (`invoke.transport = 'outbox'`: pg_net keeps responses in
 * unlogged tables and never retries), `lifeboat.invoke(function, body)` queues edge-function calls in
 * `lifeboat.outbox`; this worker delivers them over HTTP to
 * `$SUPABASE_URL/functions/v1/<function>` with the project's secret key, records each
 * response, and retries failures with exponential backoff (the policy lives in SQL:
 * `lifeboat.outbox_record()`).
 *
 * Delivery is at least once: a message whose worker dies mid-request is delivered again
 * after its lease. Receivers can deduplicate on the `x-lifeboat-outbox-id` header.
 *
 * Wake-ups come from LISTEN `lifeboat_outbox` (a trigger notifies on insert, payload = the
 * queue) and from the due time of the next retry, with a slow poll as a safety net.
 *
 * Environment: SUPABASE_DB_URL, SUPABASE_URL, SUPABASE_SECRET_KEYS and/or
 * SUPABASE_SERVICE_ROLE_KEY; optional LIFEBOAT_OUTBOX_QUEUE (default "default"),
 * LIFEBOAT_OUTBOX_POLL_MS (15000), LIFEBOAT_OUTBOX_TIMEOUT_MS (30000).
 * Logs are JSON lines without keys, URLs or hostnames. SIGTERM/SIGINT stop it cleanly.
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../../supabase/functions/_shared/db/mod.ts";

type Env = { get(name: string): string | undefined };

/** What the worker needs to know, read once at start. */
export interface WorkerConfig {
  /** `<SUPABASE_URL>/functions/v1`, without a trailing slash. */
  functionsUrl: string;
  /** Headers sent with every delivery (content type and credentials). */
  headers: Record<string, string>;
  /** The outbox queue this worker drains. */
  queue: string;
  /** Messages claimed per round trip. */
  batch: number;
  /** Longest sleep between checks when nothing is due (ms). */
  pollMs: number;
  /** Per-request timeout (ms). */
  requestTimeoutMs: number;
}

/** Reads the worker's configuration; throws with what to set when something is missing. */
export function configFromEnv(env: Env = Deno.env): WorkerConfig {
  const base = env.get("SUPABASE_URL");
  if (!base) throw new Error("SUPABASE_URL is not set: set it to the project URL that serves /functions/v1");
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new Error("SUPABASE_URL is not a URL: set it to the project URL (e.g. https://<ref>.supabase.co)");
  }
  const secretKey = pickSecretKey(env.get("SUPABASE_SECRET_KEYS"));
  const serviceRoleJwt = env.get("SUPABASE_SERVICE_ROLE_KEY") || undefined;
  if (!secretKey && !serviceRoleJwt) {
    throw new Error("no service credentials: set SUPABASE_SECRET_KEYS or SUPABASE_SERVICE_ROLE_KEY");
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  // Service callers present the secret key in `apikey`. Functions with verify_jwt also need
  // a JWT in Authorization, which an sb_secret_ key is not, so the legacy service_role JWT
  // goes there when the environment has one.
  headers["apikey"] = secretKey ?? serviceRoleJwt!;
  if (serviceRoleJwt) headers["authorization"] = `Bearer ${serviceRoleJwt}`;
  return {
    functionsUrl: `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}/functions/v1`,
    headers,
    queue: env.get("LIFEBOAT_OUTBOX_QUEUE") || "default",
    batch: 10,
    pollMs: positiveInt(env.get("LIFEBOAT_OUTBOX_POLL_MS"), 15_000),
    requestTimeoutMs: positiveInt(env.get("LIFEBOAT_OUTBOX_TIMEOUT_MS"), 30_000),
  };
}

/** The secret key to send: the one named "default" in SUPABASE_SECRET_KEYS, else the first. */
export function pickSecretKey(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  try {
    const keys: unknown = JSON.parse(raw);
    if (!keys || typeof keys !== "object") return undefined;
    const map = keys as Record<string, unknown>;
    if (typeof map.default === "string" && map.default) return map.default;
    return Object.values(map).find((v): v is string => typeof v === "string" && v !== "");
  } catch {
    return undefined;
  }
}

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** One claimed outbox message. */
export interface OutboxMessage {
  id: string;
  function_name: string;
  body: unknown;
  attempts: number;
}

/** The outcome of one HTTP attempt, as `lifeboat.outbox_record()` takes it. */
export interface Attempt {
  status: number | null;
  response: string | null;
  error: string | null;
  durationMs: number;
}

const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * A description of a failed request that is safe to store and log: fetch's own messages
 * name the URL and host, so only the kind of failure is kept.
 */
export function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: unknown };
  if (e?.name === "TimeoutError") return "request timed out";
  if (e?.name === "AbortError") return "request aborted (worker stopping)";
  // Deno says "fetch failed" and puts the reason in `cause`; only keywords are read from it.
  const text = `${e?.message ?? err} ${e?.cause ?? ""}`;
  if (/refused/i.test(text)) return "connection refused";
  if (/dns|lookup|resolve/i.test(text)) return "host name did not resolve";
  if (/certificate|tls|ssl/i.test(text)) return "TLS handshake failed";
  if (/reset|closed|broken pipe/i.test(text)) return "connection closed by the server";
  return "network error";
}

async function readLimited(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_RESPONSE_BYTES) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all.subarray(0, MAX_RESPONSE_BYTES));
}

/** POSTs one message to its function and reports what came back (never throws). */
export async function deliver(msg: OutboxMessage, cfg: WorkerConfig, stop: AbortSignal): Promise<Attempt> {
  const started = performance.now();
  try {
    const res = await fetch(`${cfg.functionsUrl}/${encodeURIComponent(msg.function_name)}`, {
      method: "POST",
      headers: {
        ...cfg.headers,
        "x-lifeboat-outbox-id": String(msg.id),
        "x-lifeboat-attempt": String(msg.attempts),
      },
      body: JSON.stringify(msg.body ?? {}),
      signal: AbortSignal.any([stop, AbortSignal.timeout(cfg.requestTimeoutMs)]),
      redirect: "manual",
    });
    const response = await readLimited(res);
    return { status: res.status, response, error: null, durationMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { status: null, response: null, error: describeFetchError(err), durationMs: Math.round(performance.now() - started) };
  }
}

/** Logs one JSON line; callers pass only ids, names, statuses and safe descriptions. */
function log(level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  if (level === "info") console.log(line);
  else console.error(line);
}

/** A sleep that ends early when woken. */
class Waker {
  #wake: (() => void) | null = null;
  #pending = false;

  /** Ends the current (or next) sleep. */
  wake(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Sleeps up to ms, or until woken. */
  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = null;
        this.#pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

/** Claims, delivers and records one batch; returns how many messages it handled. */
export async function drainOnce(sql: Sql, cfg: WorkerConfig, stop: AbortSignal): Promise<number> {
  const rows = await sql<OutboxMessage[]>`
    select o.id, o.function_name, o.body, o.attempts
    from lifeboat.outbox_claim(${cfg.queue}, ${cfg.batch}) o`;
  for (const msg of rows) {
    const attempt = await deliver(msg, cfg, stop);
    const [{ outcome }] = await sql<{ outcome: string }[]>`
      select lifeboat.outbox_record(${msg.id}, ${msg.attempts}, ${attempt.status}, ${attempt.response},
        ${attempt.error}, ${attempt.durationMs}) as outcome`;
    log(outcome === "delivered" ? "info" : "warn", "outbox attempt", {
      id: String(msg.id),
      function: msg.function_name,
      attempt: msg.attempts,
      status: attempt.status,
      error: attempt.error ?? undefined,
      outcome,
      ms: attempt.durationMs,
    });
  }
  return rows.length;
}

/** Milliseconds until the next pending message of the queue is due (null: none pending). */
async function msUntilNextDue(sql: Sql, queue: string): Promise<number | null> {
  const [row] = await sql<{ ms: number | null }[]>`
    select (extract(epoch from lifeboat.outbox_next_due(${queue}) - clock_timestamp()) * 1000)::float8 as ms`;
  return row?.ms ?? null;
}

const USAGE = `usage: lifeboat outbox

Delivers lifeboat.outbox messages to the project's edge functions until SIGTERM or SIGINT.
Environment: SUPABASE_DB_URL, SUPABASE_URL, SUPABASE_SECRET_KEYS and/or SUPABASE_SERVICE_ROLE_KEY;
optional LIFEBOAT_OUTBOX_QUEUE (default "default"), LIFEBOAT_OUTBOX_POLL_MS (15000),
LIFEBOAT_OUTBOX_TIMEOUT_MS (30000).`;

/** Runs the worker until SIGTERM or SIGINT; returns the exit status. */
export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  if (args.length > 0) {
    console.error(`lifeboat outbox: unexpected argument '${args[0]}'\n\n${USAGE}`);
    return 2;
  }
  let cfg: WorkerConfig;
  let dbUrl: string;
  try {
    cfg = configFromEnv();
    dbUrl = databaseUrlFromEnv();
  } catch (err) {
    log("error", (err as Error).message);
    return 2;
  }
  const sql = connect(dbUrl, { max: 2, applicationName: "lifeboat-outbox-worker" });
  const waker = new Waker();
  const stopController = new AbortController();
  let stopping = false;
  const stop = () => {
    if (stopping) return stopController.abort();
    stopping = true;
    log("info", "stopping");
    waker.wake();
    // Give an in-flight request a moment; an aborted one is retried after its lease.
    setTimeout(() => stopController.abort(), 5_000);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);

  let listening = false;
  let failures = 0;
  log("info", "started", { queue: cfg.queue });
  while (!stopping) {
    try {
      if (!listening) {
        // postgres.js re-listens by itself after a reconnect once this has succeeded.
        await sql.listen("lifeboat_outbox", (payload) => {
          if (!payload || payload === cfg.queue) waker.wake();
        });
        listening = true;
      }
      const handled = await drainOnce(sql, cfg, stopController.signal);
      failures = 0;
      if (handled >= cfg.batch) continue;
      const due = await msUntilNextDue(sql, cfg.queue);
      const wait = due === null ? cfg.pollMs : Math.min(cfg.pollMs, Math.max(due, 0) + 50);
      await waker.sleep(wait);
    } catch (err) {
      failures++;
      const wait = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
      log("error", "outbox round failed; retrying", { reason: describeDbError(err), retryInMs: wait });
      await waker.sleep(wait);
    }
  }
  await sql.end({ timeout: 5 }).catch(() => {});
  log("info", "stopped");
  Deno.removeSignalListener("SIGTERM", stop);
  Deno.removeSignalListener("SIGINT", stop);
  return 0;
}

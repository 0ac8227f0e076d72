/**
 * The notification engine: queues what the alerts call for, claims due deliveries, sends
 * each over HTTP and records the outcome (delivered, retried with backoff, or dead) in
 * `lifeboat.notification_deliveries` / `notification_attempts`. Deliveries of one channel
 * go out in order (a job's start ping before its success ping); channels run in parallel.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { buildRequest } from "./channels.ts";
import { resolveRef, SecretRefError, type SecretSources } from "./secrets.ts";
import type { Delivery } from "./types.ts";

/** Options for {@linkcode dispatchNotifications}. */
export interface DispatchOptions {
  /** Where env: references are read. */
  env: SecretSources["env"];
  /** HTTP client (tests may wrap it; it is the real fetch by default). */
  fetch?: typeof fetch;
  /** Deliveries claimed per round. */
  batch?: number;
  /** Per-request timeout (ms). */
  timeoutMs?: number;
  /** Stop claiming new rounds after this long (ms); keeps an invocation within edge limits. */
  budgetMs?: number;
  /** Clock for the database (claim, backoff); injectable for tests. */
  now?: () => Date;
}

/** What one dispatch did. */
export interface DispatchSummary {
  queued: number;
  claimed: number;
  delivered: number;
  retry: number;
  dead: number;
  stale: number;
}

/** The outcome of one attempt: an HTTP status, or an error safe to store (no URL, no secret). */
interface AttemptResult {
  status: number | null;
  error: string | null;
  ms: number;
}

async function send(d: Delivery, sql: Sql, o: DispatchOptions): Promise<AttemptResult> {
  const started = performance.now();
  const done = (status: number | null, error: string | null) => ({ status, error, ms: Math.round(performance.now() - started) });
  const sources: SecretSources = {
    env: o.env,
    vault: async (name) => String((await sql`select lifeboat.vault_secret(${name}) as v`)[0].v),
  };
  let req;
  try {
    const target = await resolveRef(d.target, sources);
    const secret = d.secret_ref ? await resolveRef(d.secret_ref, sources) : undefined;
    req = await buildRequest(d, { target, secret }, new Date());
  } catch (err) {
    return done(null, err instanceof SecretRefError ? err.message : `could not build the request: ${(err as Error).message}`);
  }
  try {
    const res = await (o.fetch ?? fetch)(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: "manual",
      signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
    });
    // Response bodies are not kept: a receiver may echo what it got.
    await res.body?.cancel();
    return done(res.status, res.ok ? null : `HTTP ${res.status}`);
  } catch (err) {
    const name = (err as Error)?.name;
    return done(null, name === "TimeoutError" || name === "AbortError" ? "timed out" : "network error (connection failed)");
  }
}

async function record(sql: Sql, d: Delivery, r: AttemptResult, now: Date): Promise<string> {
  const rows = await sql`select lifeboat.record_notification(${d.id}, ${d.attempt}, ${r.status}, ${r.error},
    ${r.ms}, ${now.toISOString()}::timestamptz) as outcome`;
  return String(rows[0].outcome);
}

/** Queues, claims, sends and records until nothing is due or the budget is spent. */
export async function dispatchNotifications(sql: Sql, o: DispatchOptions): Promise<DispatchSummary> {
  const now = o.now ?? (() => new Date());
  const summary: DispatchSummary = { queued: 0, claimed: 0, delivered: 0, retry: 0, dead: 0, stale: 0 };
  const q = await sql`select lifeboat.queue_notifications(${now().toISOString()}::timestamptz)
    + lifeboat.queue_job_pings(${now().toISOString()}::timestamptz) as n`;
  summary.queued = Number(q[0].n);
  const deadline = Date.now() + (o.budgetMs ?? 20_000);
  while (Date.now() < deadline) {
    const batch = await sql<Delivery[]>`select id::int as id, attempt, kind, event, created_at, channel_name, channel_kind,
        target, secret_ref, config
      from lifeboat.claim_notifications(${o.batch ?? 20}, ${now().toISOString()}::timestamptz)`;
    if (batch.length === 0) break;
    summary.claimed += batch.length;
    const byChannel = new Map<string, Delivery[]>();
    for (const d of batch) byChannel.set(d.channel_name, [...(byChannel.get(d.channel_name) ?? []), d]);
    await Promise.all([...byChannel.values()].map(async (list) => {
      for (const d of list) {
        const outcome = await record(sql, d, await send(d, sql, o), now());
        if (outcome in summary) summary[outcome as keyof DispatchSummary]++;
      }
    }));
  }
  return summary;
}

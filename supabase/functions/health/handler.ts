/**
 * The `health` function: answers uptime monitors (Uptime Kuma, Better Stack, UptimeRobot,
 * healthchecks.io) in the IETF health-check draft's `application/health+json` shape.
 *
 * - `?probe=liveness` answers without touching the database.
 * - `?probe=readiness` (the default) checks database reachability and latency plus
 *   `lifeboat.health()`. The probe is cached for a short TTL with single-flight, so a flood of
 *   monitor requests costs at most one database round trip per TTL, and a hanging database
 *   yields `fail` within a bounded time.
 * - Public callers see the status and check names; service callers also see values and output.
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../_shared/db/mod.ts";
import { errorResponse, methodNotAllowed } from "../_shared/http.ts";
import { isServiceCaller, type ServiceCredentials, serviceCredentialsFromEnv } from "../_shared/auth.ts";
import { cachedSingleFlight, withTimeout } from "../_shared/single_flight.ts";
import type { Check } from "../_shared/checks.ts";
import { numberFromEnv } from "../_shared/env.ts";

/** A check's status in the health-check draft. */
export type HealthStatus = "pass" | "warn" | "fail";

/** One entry of a `checks` array in the health-check draft. */
export interface HealthCheck {
  componentType?: string;
  observedValue?: unknown;
  observedUnit?: string;
  status: HealthStatus;
  time: string;
  output?: string;
}

/** A full health report: overall status plus checks keyed `component:measurement`. */
export interface HealthReport {
  status: HealthStatus;
  checks: Record<string, HealthCheck[]>;
}

/** A row of `lifeboat.health()` as the probe selects it: a {@link Check} without the remediation. */
type HealthRow = Omit<Check, "remediation" | "metadata"> & { metadata: Check["metadata"] | null };

/** Settings for {@linkcode createHealthHandler}. */
export interface HealthOptions {
  /** Runs `lifeboat.health()` and returns its rows; rejects on any database failure. */
  queryHealth: () => Promise<HealthRow[]>;
  /** Called when a probe timed out, so the caller can drop a wedged connection. */
  onTimeout?: () => void;
  credentials: ServiceCredentials;
  /** How long a readiness result is served from cache (ms). */
  cacheTtlMs: number;
  /** Upper bound on a readiness probe (ms); past it the report is `fail`. */
  timeoutMs: number;
  /** Latency above which the database check warns (ms). */
  latencyWarnMs: number;
  now?: () => number;
}

const ALLOWED = ["GET", "HEAD", "OPTIONS"] as const;
const PROBES = new Set(["liveness", "readiness"]);
const LEVEL_TO_STATUS: Record<HealthRow["level"], HealthStatus> = { ok: "pass", warn: "warn", error: "fail" };
const RANK: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 };

function worst(statuses: Iterable<HealthStatus>): HealthStatus {
  let w: HealthStatus = "pass";
  for (const s of statuses) if (RANK[s] > RANK[w]) w = s;
  return w;
}

/** Overall status of a set of checks: the worst of them. */
export function overallStatus(checks: Record<string, HealthCheck[]>): HealthStatus {
  return worst(Object.values(checks).flat().map((c) => c.status));
}

/** The public view: status and check names (each with its status), no values or output. */
export function publicView(report: HealthReport): HealthReport {
  const checks: Record<string, HealthCheck[]> = {};
  for (const [name, list] of Object.entries(report.checks)) {
    checks[name] = list.map((c) => ({ status: c.status }) as HealthCheck);
  }
  return { status: report.status, checks };
}

/** Builds the readiness report from one `lifeboat.health()` round trip. */
async function readiness(opts: HealthOptions): Promise<HealthReport> {
  const now = opts.now ?? Date.now;
  const started = performance.now();
  const time = () => new Date(now()).toISOString();
  const probe = opts.queryHealth().then(
    (rows) => ({ ok: true as const, rows, ms: performance.now() - started }),
    (err) => ({ ok: false as const, reason: describeDbError(err), ms: performance.now() - started }),
  );
  const result = await withTimeout(probe, opts.timeoutMs, () => {
    opts.onTimeout?.();
    return { ok: false as const, reason: `no answer within ${opts.timeoutMs} ms`, ms: opts.timeoutMs };
  });
  const checks: Record<string, HealthCheck[]> = {};
  if (!result.ok) {
    checks["database:responseTime"] = [{
      componentType: "datastore",
      observedValue: Math.round(result.ms),
      observedUnit: "ms",
      status: "fail",
      time: time(),
      output: result.reason,
    }];
    return { status: "fail", checks };
  }
  const latency = Math.round(result.ms * 10) / 10;
  checks["database:responseTime"] = [{
    componentType: "datastore",
    observedValue: latency,
    observedUnit: "ms",
    status: latency > opts.latencyWarnMs ? "warn" : "pass",
    time: time(),
    ...(latency > opts.latencyWarnMs ? { output: `round trip above ${opts.latencyWarnMs} ms` } : {}),
  }];
  for (const row of result.rows) {
    const key = `database:${row.check}`;
    const status = LEVEL_TO_STATUS[row.level] ?? "fail";
    (checks[key] ??= []).push({
      componentType: "datastore",
      observedValue: row.metadata?.observed_value,
      observedUnit: row.metadata?.observed_unit as string | undefined,
      status,
      time: time(),
      ...(status === "pass" ? {} : { output: row.detail }),
    });
  }
  return { status: overallStatus(checks), checks };
}

/** Creates the request handler; all I/O goes through `opts`, so tests can inject a clock. */
export function createHealthHandler(opts: HealthOptions): (req: Request) => Promise<Response> {
  const cachedReadiness = cachedSingleFlight(() => readiness(opts), {
    ttlMs: opts.cacheTtlMs,
    now: opts.now,
  });
  const now = opts.now ?? Date.now;

  // Serialized bodies are memoized per report: with a warm cache a request costs a lookup,
  // not a JSON.stringify (monitors poll hard; see bench/health).
  const bodies = new WeakMap<HealthReport, { full: string; public: string }>();
  const serialize = (report: HealthReport, full: boolean): string => {
    let b = bodies.get(report);
    if (!b) {
      b = {
        full: JSON.stringify({ description: "Lifeboat health", ...report }),
        public: JSON.stringify({ description: "Lifeboat health", ...publicView(report) }),
      };
      bodies.set(report, b);
    }
    return full ? b.full : b.public;
  };

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname !== "/health" && url.pathname !== "/health/") {
      return errorResponse(404, "not_found", "unknown path: the health endpoint is /functions/v1/health");
    }
    if (!(ALLOWED as readonly string[]).includes(req.method)) return methodNotAllowed(req.method, ALLOWED);
    if (req.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: { allow: ALLOWED.join(", ") } });
    }
    const probe = url.searchParams.get("probe") ?? "readiness";
    if (!PROBES.has(probe)) {
      return errorResponse(
        400,
        "invalid_probe",
        `unknown probe '${probe.slice(0, 40)}': use probe=liveness or probe=readiness`,
      );
    }
    const report: HealthReport = probe === "liveness"
      ? {
        status: "pass",
        checks: { "process:uptime": [{ componentType: "system", status: "pass", time: new Date(now()).toISOString() }] },
      }
      : await cachedReadiness();
    const full = await isServiceCaller(req, opts.credentials);
    const status = report.status === "fail" ? 503 : 200;
    const headers = {
      "content-type": "application/health+json; charset=utf-8",
      "cache-control": "no-store",
    };
    return new Response(req.method === "HEAD" ? null : serialize(report, full), { status, headers });
  };
}

/** The handler wired to the environment: SUPABASE_DB_URL and the service credentials. */
export function handlerFromEnv(): (req: Request) => Promise<Response> {
  const timeoutMs = numberFromEnv("LIFEBOAT_HEALTH_TIMEOUT_MS", 1800);
  let sql: Sql | undefined;
  // The client is created lazily and thrown away after a timeout: a wedged connection must
  // not queue every later probe behind it.
  const client = () =>
    sql ??= connect(databaseUrlFromEnv(), {
      max: 1,
      connectTimeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
      applicationName: "lifeboat-health",
      statementTimeoutMs: timeoutMs,
    });
  return createHealthHandler({
    queryHealth: async () =>
      await client()<HealthRow[]>`select "check", level, object, detail, metadata from lifeboat.health()`,
    onTimeout: () => {
      const old = sql;
      sql = undefined;
      old?.end({ timeout: 0 }).catch(() => {});
    },
    credentials: serviceCredentialsFromEnv(),
    cacheTtlMs: numberFromEnv("LIFEBOAT_HEALTH_CACHE_TTL_MS", 2000),
    timeoutMs,
    latencyWarnMs: numberFromEnv("LIFEBOAT_HEALTH_LATENCY_WARN_MS", 1000),
  });
}

/** The handler `index.ts` serves. */
export const handler: (req: Request) => Promise<Response> = handlerFromEnv();

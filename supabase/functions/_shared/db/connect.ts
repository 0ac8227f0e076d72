/**
 * Postgres connections for Lifeboat's functions and CLI, through postgres.js. One place
 * decides driver options and how database errors are described, so no hostname, password
 * or server detail reaches a response or a log.
 * @module
 */
import postgres from "postgres";
import { type CopyOutSocket, copyOutSocketFactory, type SslMode } from "./copy_out/socket.ts";
import { guardDriverCrashes } from "./driver_guard.ts";

/** A postgres.js client. */
export type Sql = postgres.Sql<Record<string, unknown>>;

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /** Pool size. */
  max?: number;
  /** Seconds to wait for a connection before failing. */
  connectTimeoutSeconds?: number;
  /** Seconds before an idle connection is closed. */
  idleTimeoutSeconds?: number;
  /** application_name shown in pg_stat_activity. */
  applicationName?: string;
  /** Server-side statement_timeout in milliseconds (0 = none). */
  statementTimeoutMs?: number;
  /** Read `COPY … TO STDOUT` in bulk (see copy_out/socket.ts); for exporters. */
  bulkCopyOut?: boolean;
  /** Other session settings sent at connection start (e.g. lock_timeout, synchronous_commit). */
  settings?: Record<string, string>;
}

const bulkSockets = new WeakMap<object, Set<CopyOutSocket>>();

/** The bulk COPY sockets of a client opened with `bulkCopyOut`, else undefined. */
export function copyOutRegistry(sql: Sql): Set<CopyOutSocket> | undefined {
  return bulkSockets.get(sql);
}

/** The TLS mode a connection string asks for, as postgres.js reads it (sslmode, else PGSSL). */
function sslModeOf(url: string): SslMode {
  let mode: string | null = null;
  try {
    mode = new URL(url).searchParams.get("sslmode");
  } catch {
    mode = null; // postgres.js reports malformed URLs itself
  }
  mode ??= Deno.env.get("PGSSL") ?? null;
  if (!mode || mode === "disable" || mode === "false") return false;
  if (mode === "verify-ca" || mode === "verify-full") return "verify-full";
  if (mode === "prefer" || mode === "allow") return mode;
  return "require";
}

/** The database URL a function uses: SUPABASE_DB_URL, as on hosted Supabase. */
export function databaseUrlFromEnv(env: { get(name: string): string | undefined } = Deno.env): string {
  const url = env.get("SUPABASE_DB_URL");
  if (!url) throw new Error("SUPABASE_DB_URL is not set: set it to the project's Postgres connection string");
  return url;
}

/**
 * A connection string that cannot be used as given (the message never quotes it: it may hold
 * a password). postgres.js would throw a bare `URIError` from its own URL parsing instead.
 */
export class DatabaseUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseUrlError";
  }
}

/** Why `url` cannot be parsed as a connection string, or null when it can. */
export function databaseUrlProblem(url: string): string | null {
  const authority = url.replace(/^[a-z]+:\/\//i, "");
  for (const m of authority.matchAll(/%(.{0,2})/g)) {
    if (!/^[0-9a-fA-F]{2}$/.test(m[1])) {
      return "the database URL has a malformed % escape (write a literal % in a password as %25)";
    }
  }
  try {
    decodeURIComponent(authority);
  } catch {
    return "the database URL has a % escape that is not valid UTF-8 (write a literal % in a password as %25)";
  }
  return null;
}

/**
 * Opens a postgres.js client with Lifeboat's defaults (no prepared statements: poolers).
 * Throws {@link DatabaseUrlError} for a connection string that cannot be parsed.
 */
export function connect(url: string, opts: ConnectOptions = {}): Sql {
  const problem = databaseUrlProblem(url);
  if (problem) throw new DatabaseUrlError(problem);
  // A database outage must be an error the caller handles, not a dead process (driver_guard.ts).
  guardDriverCrashes();
  const connection: Record<string, string> = {
    application_name: opts.applicationName ?? "lifeboat",
  };
  if (opts.statementTimeoutMs) connection.statement_timeout = String(opts.statementTimeoutMs);
  Object.assign(connection, opts.settings ?? {});
  const registry = opts.bulkCopyOut ? new Set<CopyOutSocket>() : undefined;
  const sql = postgres(url, {
    max: opts.max ?? 1,
    connect_timeout: opts.connectTimeoutSeconds ?? 10,
    idle_timeout: opts.idleTimeoutSeconds ?? 30,
    prepare: false,
    onnotice: () => {},
    connection,
    // The bulk socket negotiates TLS itself, below the layer that reads COPY rows.
    ...(registry ? { socket: copyOutSocketFactory(sslModeOf(url), registry) as never, ssl: false } : {}),
  }) as Sql;
  if (registry) bulkSockets.set(sql, registry);
  return sql;
}

/**
 * Whether `err` means the database could not be reached or went away (refused, reset, closed,
 * shutting down or starting up), as opposed to an error in what was asked: worth retrying
 * once the server is back.
 */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return [
    "ECONNREFUSED",
    "ECONNRESET",
    "EPIPE",
    "ETIMEDOUT",
    "CONNECT_TIMEOUT",
    "CONNECTION_CLOSED",
    "CONNECTION_ENDED",
    "CONNECTION_DESTROYED",
  ].includes(code) || /^(08...|57P0[1-3])$/.test(code);
}

/**
 * A description of a database error that is safe to show: the SQLSTATE class and a generic
 * reason, never the server's address, user name or message text that could quote data.
 */
export function describeDbError(err: unknown): string {
  if (err instanceof DatabaseUrlError) return err.message;
  const e = err as { code?: string; errno?: string; name?: string };
  const code = typeof e?.code === "string" ? e.code : undefined;
  if (code === "ECONNREFUSED") return "database refused the connection";
  if (code === "CONNECT_TIMEOUT" || code === "ETIMEDOUT") return "database connection timed out";
  if (code === "CONNECTION_CLOSED" || code === "CONNECTION_ENDED" || code === "ECONNRESET") {
    return "database connection was closed";
  }
  if (code === "28P01" || code === "28000") return "database rejected the credentials";
  if (code === "3D000") return "database does not exist";
  if (code === "42883" || code === "3F000") return "Lifeboat is not installed in this database (run the migrations)";
  if (code === "57014") return "database query was cancelled (statement timeout)";
  if (code && /^[0-9A-Z]{5}$/.test(code)) return `database error (SQLSTATE ${code})`;
  return "database unreachable";
}

// Shared helpers for the restore, verify and drill tests: run the real `lifeboat` CLI, make
// age keys, take real backups of the stack's database, and create and drop scratch databases.
import postgres from "postgres";
import { applyPlatformStandIn } from "../../supabase/functions/_shared/restore/mod.ts";
import { denoBin, repoRoot, stackEnv } from "../../harness/stack.ts";
import { signingEnv } from "./signing.ts";

/** Output of a CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `lifeboat <args>` as a user would. */
export async function lifeboat(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const out = await new Deno.Command(denoBin, {
    args: ["run", "--quiet", "-A", `${repoRoot}/scripts/lifeboat.ts`, ...args],
    env: { SUPABASE_DB_URL: sourceUrl(), PGSSLMODE: "disable", ...signingEnv, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The stack's main database (the backup source). */
export function sourceUrl(): string {
  return stackEnv("SUPABASE_DB_URL");
}

/** URL of another database on the stack's server. */
export function urlOf(db: string): string {
  const u = new URL(sourceUrl());
  u.pathname = `/${db}`;
  return u.toString();
}

/** A postgres.js client (close it). */
export function client(url = sourceUrl()): postgres.Sql {
  return postgres(url, { max: 2, onnotice: () => {}, prepare: false });
}

/**
 * Creates an empty database with a unique name and returns the name. Like a new Supabase
 * project (and like a drill's scratch database) it has the platform's auth and storage
 * schemas, made by the engine's stand-in from the stack's own (`platform: false` for a bare one).
 */
export async function createDb(prefix: string, opts: { platform?: boolean } = {}): Promise<string> {
  const name = `${prefix}_${crypto.randomUUID().slice(0, 8)}`;
  const sql = client();
  try {
    await sql.unsafe(`create database ${name}`);
    if (opts.platform !== false) {
      const target = client(urlOf(name));
      try {
        await applyPlatformStandIn(sql, target);
      } finally {
        await target.end();
      }
    }
  } finally {
    await sql.end();
  }
  return name;
}

/** Drops a database if it exists. */
export async function dropDb(name: string): Promise<void> {
  const sql = client();
  try {
    await sql.unsafe(`drop database if exists ${name} with (force)`);
  } finally {
    await sql.end();
  }
}

/** Names of the databases on the server that start with `prefix`. */
export async function databasesLike(prefix: string): Promise<string[]> {
  const sql = client();
  try {
    const rows = await sql`select datname from pg_database where datname like ${prefix + "%"}`;
    return rows.map((r) => r.datname as string);
  } finally {
    await sql.end();
  }
}

/** Runs SQL as the cluster's superuser over the private socket (test setup only). */
export async function superSql(sqlText: string, db = "postgres"): Promise<void> {
  const dir = stackEnv("LIFEBOAT_STACK_DIR");
  const out = await new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
      "-h", `${dir}/pg/run`, "-p", stackEnv("LIFEBOAT_DB_PORT"), "-U", "supabase_admin", "-d", db, "-c", sqlText],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`superuser psql failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** A fresh age identity file in `dir`; returns its path and recipient. */
export async function makeKey(dir: string, name = "key.txt"): Promise<{ path: string; recipient: string }> {
  const path = `${dir}/${name}`;
  const out = await new Deno.Command("age-keygen", { args: ["-o", path], stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error("age-keygen failed");
  const recipient = /age1[0-9a-z]+/.exec(await Deno.readTextFile(path))![0];
  return { path, recipient };
}

/** Loads the hardest-schema fixture into the source database (idempotent). */
export async function loadHardSchema(): Promise<void> {
  const out = await new Deno.Command("psql", {
    args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", `${repoRoot}/tests/fixtures/hard_schema.sql`, sourceUrl()],
    env: { PGSSLMODE: "disable" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`loading hard_schema.sql failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Takes a full backup with the real CLI; returns its id. */
export async function backup(store: string, recipient: string, extra: string[] = [], env: Record<string, string> = {}): Promise<string> {
  const r = await lifeboat(["backup", "--store", store, "--recipient", recipient, "--json", ...extra], env);
  if (r.code !== 0) throw new Error(`lifeboat backup failed (${r.code}): ${r.stderr}${r.stdout}`);
  const m = /"id":"([0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})"/.exec(r.stdout) ?? /backup ([0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})/.exec(r.stdout + r.stderr);
  if (!m) throw new Error(`no backup id in the backup output: ${r.stdout}`);
  return m[1];
}

/** Copies a directory tree (a local store), so a test can damage its own copy. */
export async function copyTree(from: string, to: string): Promise<void> {
  const out = await new Deno.Command("cp", { args: ["-a", from, to] }).output();
  if (!out.success) throw new Error(`cp -a ${from} ${to} failed`);
}

/** Count of user tables in a database outside system and platform (auth, storage) schemas. */
export async function userTableCount(db: string): Promise<number> {
  const sql = client(urlOf(db));
  try {
    const [r] = await sql`select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r','p') and n.nspname not in ('pg_catalog','information_schema','auth','storage') and n.nspname !~ '^pg_'`;
    return r.n as number;
  } finally {
    await sql.end();
  }
}

/** Fingerprints of every table of `schemas` in the source (with lifeboat.fingerprint). */
export async function sourceFingerprints(schemas: string[]): Promise<Map<string, string>> {
  const sql = client();
  try {
    const rows = await sql`select format('%I.%I', n.nspname, c.relname) as t,
        lifeboat.fingerprint(c.oid::regclass)->>'fingerprint' as f
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'r' and n.nspname = any(${schemas})`;
    return new Map(rows.map((r) => [r.t as string, r.f as string]));
  } finally {
    await sql.end();
  }
}

/** Fingerprints of the same tables in another database, with a temporary copy of the function. */
export async function targetFingerprints(db: string, tables: string[]): Promise<Map<string, string>> {
  const { temporaryFingerprintSql } = await import("../../supabase/functions/_shared/restore/fingerprint.ts");
  const sql = postgres(urlOf(db), { max: 1, onnotice: () => {}, prepare: false });
  try {
    for (const s of await temporaryFingerprintSql()) await sql.unsafe(s);
    const out = new Map<string, string>();
    for (const t of tables) {
      const [r] = await sql.unsafe(`select pg_temp.fingerprint($1::regclass)->>'fingerprint' as f`, [t]);
      out.set(t, r.f as string);
    }
    return out;
  } finally {
    await sql.end();
  }
}

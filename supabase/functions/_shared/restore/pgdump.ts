/**
 * Restoring a `pg_dump -Fc` archive through pg_restore, with the same pre-flight (server
 * version, extensions, existing objects, connections) and the same checks afterwards that
 * are possible without a manifest: invalid indexes, row counts, and, given the source,
 * fingerprints of every restored table compared with the source's.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { type Check, check, summarize } from "../checks.ts";
import { fingerprintAlgorithm, Fingerprinter, sameFingerprint } from "./fingerprint.ts";
import { display, keyOf, type QName } from "./names.ts";
import { existingRelations } from "./preflight.ts";

/** Whether a file is a pg_dump custom-format archive (starts with "PGDMP"). */
export async function isPgDumpArchive(path: string): Promise<boolean> {
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(path, { read: true });
    const buf = new Uint8Array(5);
    const n = await f.read(buf);
    return n === 5 && new TextDecoder().decode(buf) === "PGDMP";
  } catch {
    return false;
  } finally {
    f?.close();
  }
}

/** What `pg_restore -l` says about an archive. */
export interface ArchiveToc {
  serverVersion: string;
  serverMajor: number;
  tables: QName[];
  extensions: string[];
  owners: string[];
}

async function runTool(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Reads an archive's table of contents. */
export async function readToc(path: string): Promise<ArchiveToc> {
  const r = await runTool("pg_restore", ["-l", path]);
  if (r.code !== 0) throw new Error(`pg_restore cannot read the archive: ${r.stderr.trim().split("\n")[0]}`);
  const ver = /Dumped from database version: (\S+)/.exec(r.stdout)?.[1] ?? "unknown";
  const toc: ArchiveToc = { serverVersion: ver, serverMajor: parseInt(ver, 10) || 0, tables: [], extensions: [], owners: [] };
  const owners = new Set<string>();
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith(";") || !line.trim()) continue;
    // "<id>; <classid> <oid> <TYPE> <schema> <name> <owner>"
    const m = /^\d+; \d+ \d+ (TABLE DATA|TABLE ATTACH|TABLE|EXTENSION|SCHEMA|SEQUENCE|VIEW|MATERIALIZED VIEW|[A-Z ]+?) (\S+) (.+?)(?: (\S+))?$/.exec(line);
    if (!m) continue;
    if (m[1] === "TABLE" && m[4]) toc.tables.push({ schema: m[2], name: m[3] });
    if (m[1] === "EXTENSION") toc.extensions.push(m[3].trim().split(" ")[0]);
    if (m[4] && m[1] !== "EXTENSION" && m[1] !== "COMMENT" && m[1] !== "ACL") owners.add(m[4]);
  }
  toc.owners = [...owners].sort();
  return toc;
}

/** Options for {@linkcode restorePgDump}. */
export interface PgDumpRestoreOptions {
  path: string;
  targetUrl: string;
  target: Sql;
  /** Source database for fingerprint comparison. */
  compareWith?: Sql | null;
  schemas?: string[];
  tables?: QName[];
  clean?: boolean;
  jobs?: number;
  preflightOnly?: boolean;
}

/** Connection settings for libpq tools, with the password in the environment, not argv. */
export function libpqEnv(url: string): { env: Record<string, string>; dbname: string } {
  const u = new URL(url);
  const env: Record<string, string> = {};
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  u.password = "";
  return { env, dbname: u.toString() };
}

/** Restores a pg_dump archive and checks the result. */
export async function restorePgDump(o: PgDumpRestoreOptions) {
  const checks: Check[] = [];
  const toc = await readToc(o.path);
  const chosen = (o.tables?.length || o.schemas?.length)
    ? toc.tables.filter((t) => o.schemas?.includes(t.schema) || o.tables?.some((x) => keyOf(x) === keyOf(t)))
    : toc.tables;
  // Pre-flight.
  const [srv] = await o.target<{ num: number; version: string }[]>`
    select current_setting('server_version_num')::int as num, current_setting('server_version') as version`;
  const major = Math.floor(srv.num / 10000);
  checks.push(major < toc.serverMajor
    ? check("server_version", "error", "target", `the archive comes from PostgreSQL ${toc.serverVersion}, the target runs ${srv.version}`, `Restore into PostgreSQL ${toc.serverMajor} or newer.`)
    : check("server_version", "ok", "target", `target PostgreSQL ${srv.version}, archive from ${toc.serverVersion}`));
  const avail = new Set((await o.target<{ name: string }[]>`select name from pg_catalog.pg_available_extensions`).map((r) => r.name));
  const missingExt = toc.extensions.filter((e) => !avail.has(e));
  checks.push(missingExt.length
    ? check("extension_available", "error", "target", `extensions not available on the target: ${missingExt.join(", ")}`, "Install them on the target server, or restore elsewhere.")
    : check("extension_available", "ok", "target", `${toc.extensions.length} extensions of the archive are available`));
  const roles = new Set((await o.target<{ rolname: string }[]>`select rolname from pg_catalog.pg_roles`).map((r) => r.rolname));
  const missingRoles = toc.owners.filter((r) => !roles.has(r));
  checks.push(missingRoles.length
    ? check("roles", "warn", "target", `owners missing on the target: ${missingRoles.join(", ")}; their objects will be owned by the restoring role`, "Create the roles first if ownership matters, then restore again.")
    : check("roles", "ok", "target", `all ${toc.owners.length} owners exist`));
  const existing = await existingRelations(o.target, chosen);
  checks.push(existing.length && !o.clean
    ? check("target_empty", "error", "target", `${existing.length} tables of the archive already exist (e.g. ${display(existing[0])})`, "Restore into an empty database, or pass --clean.")
    : check("target_empty", "ok", "target", existing.length ? `${existing.length} tables will be replaced (--clean)` : `none of the ${chosen.length} tables exists in the target`));
  const [conn] = await o.target<{ free: number }[]>`
    select (current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
      - (select count(*) from pg_catalog.pg_stat_activity a where a.backend_type = 'client backend'))::int as free`;
  const jobs = o.jobs ?? 2;
  checks.push(conn.free < jobs + 1
    ? check("connections", "error", "target", `${conn.free} free connections, pg_restore -j ${jobs} needs ${jobs + 1}`, "Lower --jobs.")
    : check("connections", "ok", "target", `${conn.free} free connections`));
  const timings: Record<string, number> = {};
  let wrote = false;
  if (!checks.some((c) => c.level === "error") && !o.preflightOnly) {
    const { env, dbname } = libpqEnv(o.targetUrl);
    const args = ["-d", dbname, "-j", String(jobs), "--exit-on-error", "--no-password"];
    if (o.clean) args.push("--clean", "--if-exists");
    for (const s of o.schemas ?? []) args.push("-n", s);
    for (const t of o.tables ?? []) args.push("-n", t.schema, "-t", t.name);
    args.push(o.path);
    const t0 = performance.now();
    wrote = true;
    const r = await runTool("pg_restore", args, env);
    timings["pg_restore"] = Math.round(performance.now() - t0);
    if (r.code !== 0) {
      checks.push(check("pg_restore", "error", "target", `pg_restore failed: ${r.stderr.trim().split("\n").slice(0, 3).join(" ")}`,
        "Fix the cause, then restore again with --clean."));
    } else {
      checks.push(check("pg_restore", "ok", "target", `restored ${chosen.length} tables with pg_restore -j ${jobs}`));
      const schemas = [...new Set(chosen.map((t) => t.schema))];
      const bad = await o.target<{ name: string }[]>`
        select n.nspname || '.' || c.relname as name from pg_catalog.pg_index i
        join pg_catalog.pg_class c on c.oid = i.indexrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where not i.indisvalid and n.nspname = any(${schemas}::text[])`;
      checks.push(bad.length ? check("invalid_indexes", "error", bad[0].name, `${bad.length} invalid indexes`, "reindex them.")
        : check("invalid_indexes", "ok", "target", "no invalid index"));
      await compare(o, chosen, checks);
    }
  }
  const summary = summarize(checks);
  return { passed: summary.passed, wrote, summary, checks, timings, tables: chosen.map(display) };
}

async function compare(o: PgDumpRestoreOptions, tables: QName[], checks: Check[]) {
  if (!o.compareWith) {
    let total = 0;
    for (const t of tables) {
      const [r] = await o.target.unsafe(`select count(*)::bigint as n from "${t.schema.replaceAll('"', '""')}"."${t.name.replaceAll('"', '""')}"`);
      total += Number(r.n);
    }
    checks.push(check("row_counts", "ok", "target", `${tables.length} tables restored, ${total} rows (pass --compare-with <source url> to compare fingerprints)`, "", { rows: total }));
    return;
  }
  const src = new Fingerprinter(o.compareWith), dst = new Fingerprinter(o.target);
  try {
    await src.open();
    await dst.open();
    let bad = 0;
    for (const t of tables) {
      // The target computes with the algorithm the source's fingerprint names.
      const a = await src.of(t);
      const b = await dst.of(t, fingerprintAlgorithm(a));
      if (!sameFingerprint(a, b)) {
        bad++;
        checks.push(check("fingerprint", "error", display(t), "the restored table differs from the source", "Compare the rows; the source may have changed since the dump."));
      }
    }
    if (bad === 0) checks.push(check("fingerprints", "ok", "target", `all ${tables.length} tables match the source's fingerprints`));
  } catch (err) {
    checks.push(check("fingerprints", "error", "target", `fingerprints cannot be computed: ${(err as Error).message}`, "Check that Lifeboat is installed in the source."));
  } finally {
    src.close();
    dst.close();
  }
}

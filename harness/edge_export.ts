/**
 * Helpers for the backup-export tests: export settings, a test schema larger than a tiny
 * budget, waiting on jobs, and the documented restore path (`age -d -i key | zstd -d | psql`,
 * `| gunzip |` for a gzip backup) into a scratch database.
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { openStore, type Store } from "../supabase/functions/_shared/store/mod.ts";
import type { Compression } from "../supabase/functions/_shared/format/mod.ts";
import { emptyStore } from "./empty_store.ts";
import { standardRestoreScript } from "./export_env.ts";
import { db, dbUrl, run, secretKey, stackEnv, waitFor } from "./stack.ts";

/** Settings of the export function, written to lifeboat.settings. */
export interface ExportSettings {
  target: string;
  recipients: string[];
  budgetBytes?: number;
  budgetCpuMs?: number;
  budgetWallMs?: number;
  chunkBytes?: number;
  partLease?: string;
  staleAfter?: string;
  maxAttempts?: number;
  continueJobs?: boolean;
  /** export.compression; null (the default) = zstd where the runtime has it. */
  compression?: Compression | null;
}

/** Writes the export settings (the defaults of the migration for anything left out). */
export async function configureExport(sql: postgres.Sql, s: ExportSettings): Promise<void> {
  const values: Record<string, unknown> = {
    "export.target": s.target,
    "export.recipients": s.recipients,
    "export.unencrypted": false,
    "export.budget.bytes": s.budgetBytes ?? 268435456,
    "export.budget.cpu_ms": s.budgetCpuMs ?? 1500,
    "export.budget.wall_ms": s.budgetWallMs ?? 120000,
    "export.chunk_bytes": s.chunkBytes ?? 16777216,
    "export.part_lease": s.partLease ?? "10 minutes",
    "export.stale_after": s.staleAfter ?? "30 minutes",
    "export.max_attempts": s.maxAttempts ?? 5,
    "export.continue": s.continueJobs ?? true,
    "export.prune_after_backup": true,
    "export.compression": s.compression ?? null,
  };
  for (const [key, value] of Object.entries(values)) {
    await sql`insert into lifeboat.settings (key, value) values (${key}, ${JSON.stringify(value)}::text::jsonb)
              on conflict (key) do update set value = excluded.value`;
  }
}

/** A fresh store prefix on the stack's RGW bucket, and the store opened on it. */
export function testTarget(name: string): { target: string; store: Store } {
  const bucket = stackEnv("LIFEBOAT_S3_BUCKET");
  const target = `s3://${bucket}/${name}-${crypto.randomUUID().slice(0, 8)}/`;
  const env: Record<string, string> = {};
  for (const k of ["LIFEBOAT_S3_ENDPOINT", "LIFEBOAT_S3_REGION", "LIFEBOAT_S3_ACCESS_KEY_ID", "LIFEBOAT_S3_SECRET_ACCESS_KEY"]) {
    env[k] = stackEnv(k);
  }
  const store = openStore(target, { env });
  madeTargets.push(store);
  return { target, store };
}

const madeTargets: Store[] = [];

/**
 * Deletes every object under the targets this process's tests made with {@link testTarget},
 * so that test runs do not fill a long-lived dev stack's RGW. Call it in a test's `finally`;
 * a failure to clean up is reported, not thrown (it must not hide the test's own error).
 */
export async function removeTestTargets(): Promise<void> {
  for (const store of madeTargets.splice(0)) {
    try {
      await emptyStore(store);
    } catch (err) {
      console.warn(`test cleanup: could not empty ${store.describe()}: ${(err as Error).message}`);
    }
  }
}

/** A generated age identity (Debian's age-keygen) in a temp file, with its recipient. */
export async function ageKey(): Promise<{ keyFile: string; recipient: string }> {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-age-" });
  const keyFile = `${dir}/key.txt`;
  const r = await run("age-keygen", ["-o", keyFile]);
  if (r.code !== 0) throw new Error(`age-keygen failed: ${r.stderr}`);
  const y = await run("age-keygen", ["-y", keyFile]);
  return { keyFile, recipient: y.stdout.trim() };
}

/** Creates `schema` with tables worth about `mb` MB of COPY text (several shapes). */
export async function makeTestSchema(sql: postgres.Sql, schema: string, mb: number): Promise<void> {
  const rows = Math.ceil((mb * 1024 * 1024) / 400);
  await sql.unsafe(`
    drop schema if exists ${schema} cascade;
    create schema ${schema};
    create table ${schema}.events (id bigint primary key, at timestamptz not null, kind text, payload jsonb, note text);
    insert into ${schema}.events
      select i, timestamptz '2026-01-01' + i * interval '1 second', 'k' || (i % 7),
             jsonb_build_object('i', i, 'tags', array['a', 'b\\tc'], 'v', md5(i::text)),
             repeat(md5(i::text), 8) || case when i % 100 = 0 then E'\\nnew\\\\line' else '' end
      from generate_series(1, ${rows}) i;
    create table ${schema}.pairs (a int, b text, val numeric, primary key (a, b));
    insert into ${schema}.pairs select i / 10, 'b' || (i % 10), i * 1.5 from generate_series(1, ${Math.ceil(rows / 4)}) i;
    create table ${schema}.nokey (x text, y int);
    insert into ${schema}.nokey select md5(i::text), i from generate_series(1, 500) i;
    create table ${schema}.empty (id int primary key);
    analyze ${schema}.events, ${schema}.pairs, ${schema}.nokey;
  `);
}

/** `lifeboat.fingerprint` of every table in `schema`, keyed by name. */
export async function fingerprints(sql: postgres.Sql, schema: string): Promise<Record<string, unknown>> {
  const rows = await sql`
    select c.relname as name, lifeboat.fingerprint(c.oid::regclass) as f
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relkind = 'r' order by 1`;
  return Object.fromEntries(rows.map((r) => [r.name, r.f]));
}

/**
 * Installs the source's `lifeboat.fingerprint` (both overloads and `fingerprint_sql`, which
 * read only the catalog) into a restored copy that lacks it (a `tables` backup holds only the
 * requested tables' schemas).
 */
export async function installFingerprint(source: postgres.Sql, copy: postgres.Sql): Promise<void> {
  const defs = await source`
    select pg_get_functiondef(p.oid) as def from pg_proc p
    where p.pronamespace = 'lifeboat'::regnamespace and p.proname like 'fingerprint%' order by p.oid`;
  await copy.unsafe(`create schema if not exists lifeboat`);
  for (const d of defs) await copy.unsafe(String(d.def));
}

/** Polls a job until it reaches one of `states`; returns its row. */
export async function waitForJob(sql: postgres.Sql, uuid: string, states: string[], ms: number) {
  let row: postgres.Row | undefined;
  await waitFor(async () => {
    [row] = await sql`select * from lifeboat.backup_runs where run_uuid = ${uuid}`;
    return !!row && states.includes(row.state);
  }, ms, `job ${uuid} to reach ${states.join("/")}`);
  return row!;
}

/** POSTs to the function (gateway URL or a process URL) as a service caller. */
export async function callExport(url: string, body: unknown, headers: Record<string, string> = { apikey: secretKey() }) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, text };
}

/**
 * Restores a backup the documented way: download the objects, then for each in order
 * `age -d -i key <object> | zstd -d | psql -v ON_ERROR_STOP=1 <db>` (`| gunzip |` when the
 * manifest says gzip). Returns the scratch database's URL; drop it with {@link dropDatabase}.
 */
export async function restoreWithPsql(store: Store, backupId: string, keyFile: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-restore-" });
  for await (const o of store.list(`${backupId}/`)) {
    const rel = o.key.slice(`${backupId}/`.length);
    const path = `${dir}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, await store.getBytes(o.key));
  }
  const name = `lb_edge_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(dbUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = dbUrl().replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
  const script = standardRestoreScript(manifest.compression);
  const r = await run("bash", ["-c", script, "restore", dir, keyFile, url], { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", PGSSLMODE: "disable" });
  await Deno.remove(dir, { recursive: true });
  if (r.code !== 0) throw new Error(`psql restore failed: ${r.stderr.slice(-2000)}`);
  return url;
}

/** Drops a scratch database made by {@link restoreWithPsql}. */
export async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = postgres(dbUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
}

/**
 * Restores a backup with {@link restoreWithPsql} into a scratch database and asserts that
 * every table of `schema` there has the fingerprint in `expected` (the source's, from
 * {@link fingerprints}); the scratch database is dropped either way.
 */
export async function assertPsqlRestoreMatches(
  source: postgres.Sql, store: Store, backupId: string, keyFile: string, schema: string,
  expected: Record<string, unknown>,
): Promise<void> {
  const url = await restoreWithPsql(store, backupId, keyFile);
  try {
    const copy = db(url);
    try {
      await installFingerprint(source, copy);
      assert.deepEqual(await fingerprints(copy, schema), expected);
    } finally {
      await copy.end();
    }
  } finally {
    await dropDatabase(url);
  }
}

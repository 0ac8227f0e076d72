/**
 * Helpers for the export tests: scratch databases made by the owner role, running the
 * `lifeboat` CLI, restoring a backup exactly as docs/format.md tells a human to
 * (`age -d -i key | zstd -d | psql`, or `| gunzip |` for gzip), and a tiny verifier of stored objects against the
 * manifest's sizes and sha256.
 * @module
 */
import { createHash } from "node:crypto";
import { type Compression, type Manifest, parseManifest } from "../supabase/functions/_shared/format/mod.ts";
import type { Store } from "../supabase/functions/_shared/store/mod.ts";
import { db, dbUrl, repoRoot, run, stackEnv } from "./stack.ts";
import { signingEnv } from "../tests/support/signing.ts";

/** A database created for one test and dropped after it. */
export interface ScratchDb {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A URL of the stack's server for database `name`. */
export function urlFor(name: string): string {
  const u = new URL(dbUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Creates an empty database owned by `postgres`. With `supabaseLike`, it also gets what a
 * Supabase project has before any user schema: the `extensions` schema with pgcrypto.
 */
export async function scratchDb(prefix: string, opts: { supabaseLike?: boolean } = {}): Promise<ScratchDb> {
  const name = `${prefix}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = db();
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = urlFor(name);
  if (opts.supabaseLike) {
    await psql(url, ["-c", "create schema if not exists extensions; create extension if not exists pgcrypto schema extensions;"]);
  }
  return {
    name,
    url,
    async drop() {
      const a = db();
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** Runs psql with ON_ERROR_STOP against `url`; throws with its stderr on failure. */
export async function psql(url: string, args: string[]): Promise<string> {
  const r = await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, ...args], { PGPASSWORD: "postgres" });
  if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.stderr.slice(0, 2000)}`);
  return r.stdout;
}

/** Applies every migration in supabase/migrations to `url`, in order (as `supabase db push` does). */
export async function applyMigrations(url: string): Promise<void> {
  const dir = `${repoRoot}/supabase/migrations`;
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".sql")).sort();
  for (const f of files) await psql(url, ["-f", `${dir}/${f}`]);
}

/** Runs `scripts/lifeboat <args>` with the stack's environment plus `env`. */
export function lifeboat(args: string[], env: Record<string, string> = {}) {
  return run(`${repoRoot}/scripts/lifeboat`, args, s3Env({ ...signingEnv, ...env }));
}

/** The stack's S3 settings (for CLI children), merged under `extra`. */
export function s3Env(extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ["LIFEBOAT_S3_ENDPOINT", "LIFEBOAT_S3_REGION", "LIFEBOAT_S3_ACCESS_KEY_ID", "LIFEBOAT_S3_SECRET_ACCESS_KEY"]) {
    try {
      out[k] = stackEnv(k);
    } catch {
      // no S3 in this stack
    }
  }
  return { ...out, ...extra };
}

/** Whether the stack has S3 (scripts/test.sh --no-s3 sets LIFEBOAT_SKIP_S3=1). */
export function hasS3(): boolean {
  if (Deno.env.get("LIFEBOAT_SKIP_S3") === "1") return false;
  try {
    stackEnv("LIFEBOAT_S3_ENDPOINT");
    return true;
  } catch {
    return false;
  }
}

/**
 * The documented restore loop of docs/format.md for `codec`, word for word but quiet: the
 * shell script takes the backup directory, the key file and the target URL as $1..$3.
 */
export function standardRestoreScript(codec: Compression): string {
  const [decompress, ext] = codec === "zstd" ? ["zstd -d", "zst"] : ["gunzip", "gz"];
  return `
set -euo pipefail
B="$1"; KEY="$2"; TARGET_URL="$3"
restore() { age -d -i "$KEY" "$1" | ${decompress} | psql -X -q -v ON_ERROR_STOP=1 "$TARGET_URL" >/dev/null; }
restore "$B/roles.sql.${ext}.age"
restore "$B/schema/pre-data.sql.${ext}.age"
for part in $(find "$B/data" -name 'part-*' | sort); do restore "$part"; done
restore "$B/schema/post-data.sql.${ext}.age"
restore "$B/schema/finalize.sql.${ext}.age"
`;
}

/**
 * Restores a backup in a local directory with nothing but age, `gunzip` or `zstd -d` (by the
 * backup's codec) and psql, in the order docs/format.md documents (the same shell loop).
 */
export async function restoreWithStandardTools(backupDir: string, keyFile: string, targetUrl: string, codec: Compression): Promise<void> {
  const r = await run("bash", ["-c", standardRestoreScript(codec), "restore", backupDir, keyFile, targetUrl], { PGPASSWORD: "postgres" });
  const tool = codec === "zstd" ? "zstd -d" : "gunzip";
  if (r.code !== 0) throw new Error(`restore with age | ${tool} | psql failed (${r.code}): ${r.stderr.slice(0, 4000)}`);
}

/** Reads and validates a backup's manifest. */
export async function readManifest(store: Store, id: string): Promise<Manifest> {
  return parseManifest(JSON.parse(new TextDecoder().decode(await store.getBytes(`${id}/manifest.json`))));
}

/** A stored object that does not match its manifest entry. */
export interface ObjectProblem {
  key: string;
  problem: "missing" | "size" | "sha256";
}

/**
 * Re-reads every object of a backup and compares size and sha256 of the stored bytes with
 * the manifest (the integrity half of `verify`, enough for these tests).
 */
export async function verifyObjects(store: Store, id: string, manifest: Manifest): Promise<ObjectProblem[]> {
  const problems: ObjectProblem[] = [];
  for (const o of manifest.objects) {
    let stream: ReadableStream<Uint8Array>;
    try {
      stream = await store.get(`${id}/${o.key}`);
    } catch {
      problems.push({ key: o.key, problem: "missing" });
      continue;
    }
    const h = createHash("sha256");
    let size = 0;
    for await (const c of stream) {
      h.update(c);
      size += c.length;
    }
    if (size !== o.size) problems.push({ key: o.key, problem: "size" });
    else if (h.digest("hex") !== o.sha256) problems.push({ key: o.key, problem: "sha256" });
  }
  return problems;
}

/** pg_dump --schema-only of `url`, normalized for comparing two databases. */
export async function schemaDump(url: string, schemas: string[]): Promise<string> {
  const args = ["--schema-only", "-d", url, ...schemas.flatMap((s) => ["-n", s])];
  const r = await run("pg_dump", args, { PGPASSWORD: "postgres" });
  if (r.code !== 0) throw new Error(`pg_dump failed: ${r.stderr.slice(0, 2000)}`);
  return r.stdout
    .split("\n")
    .filter((l) => !l.startsWith("--") && !/^\\(un)?restrict /.test(l) && l.trim() !== "")
    .join("\n");
}

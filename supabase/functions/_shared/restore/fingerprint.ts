/**
 * Fingerprints of restored tables, compared with those the manifest recorded at backup time.
 *
 * The target may not have Lifeboat installed (a scratch drill database, a fresh project). Then
 * the same SQL is used without installing anything: the `lifeboat.fingerprint` function
 * (and any lifeboat helper it calls) is read from the migration that defines it and created
 * as a temporary function in `pg_temp` of one reserved session, which disappears when the
 * session ends. Nothing persists in the target and the algorithm is the one the export used.
 * @module
 */
import type { Sql } from "../db.ts";
import { type QName, qualified } from "./names.ts";
import { splitSql } from "./sql_split.ts";

/** Where the CLI finds the migrations (the edge runtime passes the SQL in instead). */
const MIGRATIONS = new URL("../../../migrations/", import.meta.url);

/**
 * The `create function lifeboat.*` statements of the migration that defines
 * `lifeboat.fingerprint`, rewritten to create temporary functions in `pg_temp`.
 */
export async function temporaryFingerprintSql(dir: URL = MIGRATIONS): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(".sql")) files.push(e.name);
  files.sort();
  for (const f of files) {
    const text = await Deno.readTextFile(new URL(f, dir));
    if (!/function\s+lifeboat\.fingerprint\s*\(/i.test(text)) continue;
    // Only the function itself: it reads nothing but pg_catalog, so a pg_temp copy is complete.
    const fns = splitSql(text).map((s) => s.text)
      .filter((t) => /^create\s+(or\s+replace\s+)?function\s+lifeboat\.fingerprint\s*\(/i.test(t));
    return fns.map((t) => t.replace(/\blifeboat\.fingerprint\s*\(/gi, "pg_temp.fingerprint("));
  }
  throw new Error("no migration defines lifeboat.fingerprint: the fingerprint function is needed to verify a restore");
}

/** Computes fingerprints on a target, with the installed function or a temporary copy. */
export class Fingerprinter {
  #sql: Sql;
  #reserved: Awaited<ReturnType<Sql["reserve"]>> | null = null;
  #fn = "lifeboat.fingerprint";

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Prepares a session: uses lifeboat.fingerprint when the target has it, else a pg_temp copy. */
  async open(): Promise<"installed" | "temporary"> {
    this.#reserved = await this.#sql.reserve();
    const [r] = await this.#reserved<{ f: string | null }[]>`select to_regprocedure('lifeboat.fingerprint(regclass)')::text as f`;
    if (r.f) return "installed";
    for (const stmt of await temporaryFingerprintSql()) await this.#reserved.unsafe(stmt);
    this.#fn = "pg_temp.fingerprint";
    return "temporary";
  }

  /** The fingerprint of one table, as jsonb (parsed). */
  async of(table: QName): Promise<unknown> {
    if (!this.#reserved) throw new Error("Fingerprinter.open() was not called");
    const rows = await this.#reserved.unsafe(`select ${this.#fn}($1::regclass) as f`, [qualified(table)]);
    return rows[0].f;
  }

  /** Releases the session (dropping the temporary functions with it). */
  close(): void {
    this.#reserved?.release();
    this.#reserved = null;
  }
}

/** Stable JSON for comparing jsonb values: object keys sorted. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
}

/**
 * Whether two fingerprints describe the same rows. Keys naming the relation (a restore may
 * put it in another schema) are ignored; everything else must be equal.
 */
export function sameFingerprint(expected: unknown, actual: unknown): boolean {
  const strip = (v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const { table: _t, relation: _r, schema: _s, name: _n, regclass: _c, computed_at: _a, at: _b, ...rest } =
        v as Record<string, unknown>;
      return rest;
    }
    return v;
  };
  return canonicalJson(strip(expected)) === canonicalJson(strip(actual));
}

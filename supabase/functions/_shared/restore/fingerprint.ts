/**
 * Fingerprints of restored tables, compared with those the manifest recorded at backup time.
 *
 * The target may not have Lifeboat installed (a scratch drill database, a fresh project). Then
 * the same SQL is used without installing anything: the newest definitions of
 * `lifeboat.fingerprint` (every overload) and of the lifeboat helpers they call are read from
 * the migrations and created as temporary functions in `pg_temp` of one reserved session,
 * which disappear when the session ends. Nothing persists in the target.
 *
 * A manifest names the algorithm of each fingerprint (`"algorithm": "lifeboat-fp-v1"`); the
 * restored table is fingerprinted with that algorithm, so backups taken before v2 still verify.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { type QName, qualified } from "./names.ts";
import { splitSql } from "./sql_split.ts";

/** Where the CLI finds the migrations (the edge runtime passes the SQL in instead). */
const MIGRATIONS = new URL("../../../migrations/", import.meta.url);

const CREATE_FUNCTION = /^create\s+(?:or\s+replace\s+)?function\s+lifeboat\.([a-z_][a-z0-9_]*)\s*\(/i;
const CALL = /\blifeboat\.([a-z_][a-z0-9_]*)\s*\(/gi;

/** The argument list of a `create function name(` statement, whitespace-normalized, for keying overloads. */
function argumentList(stmt: string, open: number): string {
  let depth = 0;
  for (let i = open; i < stmt.length; i++) {
    if (stmt[i] === "(") depth++;
    else if (stmt[i] === ")" && --depth === 0) return stmt.slice(open + 1, i).replace(/\s+/g, " ").trim().toLowerCase();
  }
  return stmt.slice(open + 1);
}

/**
 * The `create function` statements for `lifeboat.fingerprint` (every overload, each as its
 * newest migration defines it) and for every lifeboat function they call, directly or not,
 * rewritten to create temporary functions in `pg_temp`; callees come before their callers.
 */
export async function temporaryFingerprintSql(dir: URL = MIGRATIONS): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(".sql")) files.push(e.name);
  files.sort();
  // name → (argument list → statement); a later migration replaces an earlier definition.
  const defs = new Map<string, Map<string, string>>();
  for (const f of files) {
    const text = await Deno.readTextFile(new URL(f, dir));
    if (!/function\s+lifeboat\.fingerprint/i.test(text)) continue;
    for (const { text: stmt } of splitSql(text)) {
      const m = CREATE_FUNCTION.exec(stmt);
      if (!m) continue;
      const name = m[1].toLowerCase();
      if (!defs.has(name)) defs.set(name, new Map());
      defs.get(name)!.set(argumentList(stmt, m[0].length - 1), stmt);
    }
  }
  if (!defs.has("fingerprint")) {
    throw new Error("no migration defines lifeboat.fingerprint: the fingerprint function is needed to verify a restore");
  }
  // Only these functions: they read nothing but pg_catalog and the table, so pg_temp copies are complete.
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string) => {
    if (order.includes(name) || visiting.has(name) || !defs.has(name)) return;
    visiting.add(name);
    for (const stmt of defs.get(name)!.values()) for (const c of stmt.matchAll(CALL)) visit(c[1].toLowerCase());
    order.push(name);
  };
  visit("fingerprint");
  const names = new RegExp(`\\blifeboat\\.(${order.join("|")})\\s*\\(`, "gi");
  return order.flatMap((name) => [...defs.get(name)!.values()].map((t) => t.replace(names, "pg_temp.$1(")));
}

/** The algorithm a recorded fingerprint names (`algorithm` of the jsonb), if any. */
export function fingerprintAlgorithm(fingerprint: unknown): string | undefined {
  if (fingerprint && typeof fingerprint === "object" && !Array.isArray(fingerprint)) {
    const a = (fingerprint as Record<string, unknown>).algorithm;
    if (typeof a === "string" && a !== "") return a;
  }
  return undefined;
}

/** Computes fingerprints on a target, with the installed function or a temporary copy. */
export class Fingerprinter {
  #sql: Sql;
  #reserved: Awaited<ReturnType<Sql["reserve"]>> | null = null;
  #fn = "lifeboat.fingerprint";

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * Prepares a session: uses lifeboat.fingerprint when the target has the version that takes
   * an algorithm, else pg_temp copies of this version's functions (a target with an older
   * Lifeboat may know only v1).
   */
  async open(): Promise<"installed" | "temporary"> {
    this.#reserved = await this.#sql.reserve();
    const [r] = await this.#reserved<{ f: string | null }[]>`select to_regprocedure('lifeboat.fingerprint(regclass, text)')::text as f`;
    if (r.f) return "installed";
    for (const stmt of await temporaryFingerprintSql()) await this.#reserved.unsafe(stmt);
    this.#fn = "pg_temp.fingerprint";
    return "temporary";
  }

  /**
   * The fingerprint of one table, as jsonb (parsed): with `algorithm` (the one a manifest
   * recorded, see {@link fingerprintAlgorithm}), else with the current one.
   */
  async of(table: QName, algorithm?: string): Promise<unknown> {
    if (!this.#reserved) throw new Error("Fingerprinter.open() was not called");
    const rows = algorithm === undefined
      ? await this.#reserved.unsafe(`select ${this.#fn}($1::regclass) as f`, [qualified(table)])
      : await this.#reserved.unsafe(`select ${this.#fn}($1::regclass, $2::text) as f`, [qualified(table), algorithm]);
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

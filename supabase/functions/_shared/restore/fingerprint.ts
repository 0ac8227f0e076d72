/**
 * Fingerprints of restored tables, compared with those the manifest recorded at backup time.
 *
 * The target may not have Lifeboat installed (a scratch drill database, a fresh project). Then
 * the same SQL is used without installing anything: the definitions of `lifeboat.fingerprint`
 * (every overload) and of the helper it runs, from format/fingerprint.ts, are created as
 * temporary functions in `pg_temp` of one reserved session, which disappear when the session
 * ends. Nothing persists in the target.
 *
 * A manifest names the algorithm of each fingerprint (`"algorithm": "lifeboat-fp-v1"`); the
 * restored table is fingerprinted with that algorithm, so backups taken before v2 still verify.
 * @module
 */
import { reserveWatched, type Sql, type WatchedConnection } from "../db/mod.ts";
import { FINGERPRINT_FUNCTIONS } from "../format/mod.ts";
import { type QName, qualified } from "./names.ts";

/**
 * The `create function` statements of the fingerprint (format/fingerprint.ts), rewritten to
 * create temporary functions in `pg_temp` that call each other there; callees come first.
 */
export function temporaryFingerprintSql(): string[] {
  const names = [...new Set(FINGERPRINT_FUNCTIONS.map((f) => f.name))];
  const calls = new RegExp(`\\blifeboat\\.(${names.join("|")})\\s*\\(`, "gi");
  return FINGERPRINT_FUNCTIONS.map((f) => f.sql.replace(calls, "pg_temp.$1("));
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
  #watched: WatchedConnection | null = null;
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
    // Watched: a query sent after the target went away would never settle (db/reserve.ts).
    const w = this.#watched = await reserveWatched(this.#sql);
    const [r] = await w.guard(w.sql<{ f: string | null }[]>`select to_regprocedure('lifeboat.fingerprint(regclass, text)')::text as f`);
    if (r.f) return "installed";
    for (const stmt of temporaryFingerprintSql()) await w.guard(w.sql.unsafe(stmt));
    this.#fn = "pg_temp.fingerprint";
    return "temporary";
  }

  /**
   * The fingerprint of one table, as jsonb (parsed): with `algorithm` (the one a manifest
   * recorded, see {@link fingerprintAlgorithm}), else with the current one.
   */
  async of(table: QName, algorithm?: string): Promise<unknown> {
    const w = this.#watched;
    if (!w) throw new Error("Fingerprinter.open() was not called");
    const rows = await w.guard(
      algorithm === undefined
        ? w.sql.unsafe(`select ${this.#fn}($1::regclass) as f`, [qualified(table)])
        : w.sql.unsafe(`select ${this.#fn}($1::regclass, $2::text) as f`, [qualified(table), algorithm]),
    );
    return rows[0].f;
  }

  /** Releases the session (dropping the temporary functions with it). */
  close(): void {
    this.#watched?.release();
    this.#watched = null;
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

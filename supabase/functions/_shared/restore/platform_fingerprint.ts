/**
 * The fingerprint of the rows a restore wrote into a platform table, not of the whole table.
 *
 * A platform table (auth.users, storage.objects…) of a target project may hold rows that are
 * not the backup's: the project's own users, or (with `--clean`) everything but the replaced
 * keys. Its whole-table fingerprint then differs from the manifest's although every restored
 * row is right. So, inside the load's transaction, right after the insert, the fingerprint
 * query of the manifest's algorithm (`lifeboat.fingerprint_sql`, or its `pg_temp` copy, as
 * fingerprint.ts sets up) runs over the target's rows whose primary keys are the staged rows'
 * keys, with the settings `lifeboat.fingerprint` pins: the same `{algorithm, rows, hash_sum,
 * fingerprint}` the manifest has, of exactly the rows written. A table without a primary key,
 * or a query that fails, gives undefined, and the whole-table fingerprint is compared instead.
 * @module
 */
import { temporaryFingerprintSql } from "./fingerprint.ts";
import { type QName, qualified } from "./names.ts";

type Conn = { unsafe: (query: string, params?: unknown[]) => Promise<Record<string, unknown>[]> };

/** The settings lifeboat.fingerprint runs with (format/fingerprint.ts), as `set local`. */
const PINNED = [
  "set local search_path = ''",
  "set local row_security = off",
  "set local timezone = 'UTC'",
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  "set local extra_float_digits = 1",
  "set local bytea_output = 'hex'",
  "set local lc_monetary = 'C'",
  "set local jit = off",
];

/**
 * Fingerprints the rows of `target` whose key (`keyColumns`, quoted and comma-separated) is
 * in the staging table `stage`, within the caller's open transaction (a savepoint keeps a
 * failure from touching the load). Call after the insert, before the commit.
 */
export async function restoredRowsFingerprint(
  conn: Conn,
  target: QName,
  keyColumns: string,
  stage: string,
  algorithm: string,
): Promise<unknown> {
  if (!keyColumns) return undefined;
  await conn.unsafe("savepoint lifeboat_restored_fp");
  try {
    const [installed] = await conn.unsafe("select to_regprocedure('lifeboat.fingerprint_sql(regclass, text)')::text as f");
    let fn = "lifeboat.fingerprint_sql";
    if (!installed.f) {
      for (const stmt of temporaryFingerprintSql()) await conn.unsafe(stmt);
      fn = "pg_temp.fingerprint_sql";
    }
    const [q] = await conn.unsafe(`select ${fn}($1::regclass, $2::text) as q`, [qualified(target), algorithm]);
    for (const s of PINNED) await conn.unsafe(s);
    const [r] = await conn.unsafe(
      `${q.q} where (${keyColumns}) in (select ${keyColumns} from pg_temp.${stage})`,
    );
    const values = Object.values(r);
    const rows = Number(values[0]);
    const sum = String(values[1]);
    await conn.unsafe("release savepoint lifeboat_restored_fp");
    const v = algorithm === "lifeboat-fp-v1" ? "v1" : "v2";
    return { algorithm, rows, hash_sum: sum, fingerprint: `${v}:${rows}:${sum}` };
  } catch {
    await conn.unsafe("rollback to savepoint lifeboat_restored_fp").catch(() => {});
    return undefined;
  }
}

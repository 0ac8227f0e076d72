/**
 * Table fingerprints (`lifeboat.fingerprint`, row count and content hash) read in the
 * export's snapshot, so a restore can prove it holds exactly the rows that were backed up.
 * Both drivers read them here and key them the same way.
 * @module
 */
import type { Tx } from "../db/mod.ts";
import type { TableInfo } from "./catalog.ts";

/** Fingerprints by {@link fingerprintKey}. */
export type Fingerprints = Record<string, unknown>;

/** A table's key in {@link Fingerprints}: the JSON of [schema, name] (jsonb cannot hold NUL). */
export function fingerprintKey(schema: string, name: string): string {
  return JSON.stringify([schema, name]);
}

/** The fingerprint recorded for a table, or null. */
export function fingerprintOf(fingerprints: Fingerprints, schema: string, name: string): unknown {
  return fingerprints[fingerprintKey(schema, name)] ?? null;
}

/**
 * Reads the fingerprint of every table in the snapshot of `tx`. `ifInstalled`: return none
 * when `lifeboat.fingerprint` does not exist (instead of failing). `stopped` is asked before
 * each table; when it says so, the fingerprints read so far are returned.
 */
export async function readFingerprints(
  tx: Tx,
  tables: readonly TableInfo[],
  opts: { ifInstalled?: boolean; signal?: AbortSignal; stopped?: () => boolean } = {},
): Promise<Fingerprints> {
  const out: Fingerprints = {};
  if (opts.ifInstalled) {
    const [fp] = await tx`select pg_catalog.to_regprocedure('lifeboat.fingerprint(regclass)') is not null as has`;
    if (!fp.has) return out;
  }
  for (const t of tables) {
    if (opts.stopped?.()) return out;
    opts.signal?.throwIfAborted();
    const [f] = await tx`select lifeboat.fingerprint(${t.oid}::oid::regclass) as f`;
    out[fingerprintKey(t.schema, t.name)] = f.f;
  }
  return out;
}

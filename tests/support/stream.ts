// Shared by the stream tests: a fresh stream per test, a reference decode of the same WAL
// through a second wal2json slot, and reading every stored record back through the reader.
import type postgres from "postgres";
import {
  listSegments,
  readSegmentLines,
  type SegmentManifest,
  shipOnce,
  type ShipResult,
  WAL2JSON_OPTIONS,
  type Wal2JsonRecord,
} from "../../supabase/functions/_shared/stream/mod.ts";
import type { Sql } from "../../supabase/functions/_shared/db/mod.ts";
import type { Store } from "../../supabase/functions/_shared/store/mod.ts";
import { testSigning } from "./signing.ts";

export const SLOT = "lifeboat_stream";
export const REFERENCE_SLOT = "lifeboat_test_reference";
export const trust = { trustedKeys: [testSigning.publicKey], allowUnsigned: false };

/**
 * Drops any stream and reference slot, forgets the stream's state and ledger, and puts the
 * export target settings back (before stream_disable re-applies the schedules, so that no
 * export job a test's target installed is left in pg_cron).
 */
export async function resetStream(sql: postgres.Sql): Promise<void> {
  await sql`update lifeboat.settings set value = default_value where key in ('export.target', 'export.unencrypted', 'export.recipients')`;
  await sql`select lifeboat.stream_disable()`;
  await sql`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = ${REFERENCE_SLOT}`;
  await sql`delete from lifeboat.stream_segments`;
  await sql`delete from lifeboat.stream_state`;
  await sql`update lifeboat.settings set value = default_value where key like 'stream.%'`;
}

/**
 * Enables the stream and, right after, a reference slot at (practically) the same point:
 * its decode of the test's tables is what the stream must hold, change for change.
 */
export async function enableWithReference(sql: postgres.Sql, noPrimaryKey: string | null = null): Promise<unknown> {
  const [r] = await sql`select lifeboat.stream_enable(${noPrimaryKey}) as out`;
  await sql`select pg_create_logical_replication_slot(${REFERENCE_SLOT}, 'wal2json')`;
  // The ship schedule would race the test's own shipper (and has no target here).
  await sql`update lifeboat.schedules set enabled = false where name = 'stream-ship'`;
  await sql`select count(*) from lifeboat.apply_schedules()`;
  return r.out;
}

/** The reference decode: every record of `tables` (schema.table), verbatim, in order. */
export async function referenceLines(sql: postgres.Sql, tables: string[]): Promise<string[]> {
  const rows = await sql`
    select data from pg_logical_slot_peek_changes(${REFERENCE_SLOT}, null, null, variadic ${[...WAL2JSON_OPTIONS]}::text[])`;
  return rows.map((r) => String(r.data)).filter((l) => onTables(JSON.parse(l), tables));
}

function onTables(r: Wal2JsonRecord, tables: string[]): boolean {
  return r.schema !== undefined && tables.includes(`${r.schema}.${r.table}`);
}

/** Every stored record, in seq order, through the reader (authenticated, checksummed). */
export async function storedLines(
  store: Store,
  identities: string[] | null = null,
  keys: typeof trust = trust,
): Promise<{ lines: string[]; segments: SegmentManifest[] }> {
  const segments = await listSegments(store, SLOT, { trust: keys });
  const lines: string[] = [];
  for (const m of segments) for await (const { line } of readSegmentLines(store, m, identities)) lines.push(line);
  return { lines, segments };
}

/** The stored records of `tables`. */
export function linesOn(lines: string[], tables: string[]): string[] {
  return lines.filter((l) => onTables(JSON.parse(l), tables));
}

/** Passes of the shipper until one reads to the end of the WAL. */
export async function shipUntilCaughtUp(sql: Sql, store: Store, opts: { segmentBytes?: number; maxRecords?: number } = {}): Promise<ShipResult[]> {
  const out: ShipResult[] = [];
  for (let i = 0; i < 500; i++) {
    const r = await shipOnce({
      sql,
      store,
      owner: "test-shipper",
      seal: { recipients: [], compression: "zstd" },
      signingKey: testSigning.key,
      limits: { segmentBytes: opts.segmentBytes ?? 1 << 20, maxRecords: opts.maxRecords ?? 100_000, wallMs: null, cpuMs: null },
    });
    out.push(r);
    if (r.caughtUp) return out;
  }
  throw new Error("the shipper did not catch up in 500 passes");
}

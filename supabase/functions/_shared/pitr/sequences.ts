/**
 * Sequences after replay. Postgres 15 does not decode sequence changes, so each segment records
 * every sequence's value after its last commit; a restore sets each sequence at least that high
 * (never lower than the base backup or replayed DDL left it), so no id used before the target is
 * handed out again.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { SegmentManifest } from "../stream/mod.ts";

/** The highest recorded value of each sequence over the segments read. */
export function sequenceFloor(segments: readonly SegmentManifest[]): Map<string, { schema: string; name: string; value: bigint }> {
  const out = new Map<string, { schema: string; name: string; value: bigint }>();
  for (const seg of segments) {
    for (const s of seg.sequences) {
      const v = BigInt(s.lastValue);
      const k = `${s.schema}\u0000${s.name}`;
      const cur = out.get(k);
      if (!cur || v > cur.value) out.set(k, { schema: s.schema, name: s.name, value: v });
    }
  }
  return out;
}

/** Raises each existing sequence of the target to its floor; returns how many were raised. */
export async function raiseSequences(sql: Sql, floors: Iterable<{ schema: string; name: string; value: bigint }>): Promise<number> {
  const list = [...floors];
  if (list.length === 0) return 0;
  const [r] = await sql`
    with want as (
      select s.schema, s.name, s.value::bigint as value,
             pg_catalog.to_regclass(pg_catalog.format('%I.%I', s.schema, s.name)) as seq
      from pg_catalog.jsonb_to_recordset(${JSON.stringify(list.map((s) => ({ ...s, value: String(s.value) })))}::text::jsonb)
        as s(schema text, name text, value text)
    ), raised as (
      select pg_catalog.setval(w.seq, w.value, true)
      from want w join pg_catalog.pg_sequences ps on ps.schemaname = w.schema and ps.sequencename = w.name
      where w.seq is not null and (ps.last_value is null or ps.last_value < w.value)
    )
    select count(*)::int as n from raised`;
  return Number(r.n);
}

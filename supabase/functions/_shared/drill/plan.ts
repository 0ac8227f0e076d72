/**
 * What a drill restores: the backup's tables, or a random sample of them when the backup is
 * larger than drill.max_bytes, cut into units of at most drill.unit_bytes (tables of one schema,
 * restored together into one scratch schema within one invocation).
 * @module
 */
import type { Manifest } from "../format/mod.ts";

/** A table of a unit. */
export interface UnitTable {
  schema: string;
  name: string;
}

/** One unit of work. */
export interface PlannedUnit {
  position: number;
  sourceSchema: string;
  tables: UnitTable[];
  bytes: number;
}

/** A drill's plan. */
export interface DrillPlan {
  units: PlannedUnit[];
  sampled: boolean;
  /** Tables and plain bytes restored, and of the whole backup. */
  tables: number;
  totalTables: number;
  bytes: number;
  totalBytes: number;
}

/** The scratch schema of unit `position` of job `jobId`. */
export function scratchSchema(jobId: number, position: number): string {
  return `lifeboat_drill_j${jobId}_u${position}`;
}

/**
 * Plans the units of a drill of `m`. Over `maxBytes`, tables are taken in a random order while
 * they fit (`random` is injectable for tests), so repeated drills cover the whole backup.
 */
export function planDrill(m: Manifest, maxBytes: number, unitBytes: number, random: () => number = Math.random): DrillPlan {
  const all = [...m.tables];
  const totalBytes = all.reduce((s, t) => s + t.bytes, 0);
  let chosen = all;
  let sampled = false;
  if (totalBytes > maxBytes) {
    sampled = true;
    const shuffled = all.map((t) => ({ t, k: random() })).sort((a, b) => a.k - b.k).map((x) => x.t);
    chosen = [];
    let used = 0;
    for (const t of shuffled) {
      if (used + t.bytes > maxBytes) continue;
      chosen.push(t);
      used += t.bytes;
    }
  }
  const bySchema = new Map<string, typeof chosen>();
  for (const t of chosen) bySchema.set(t.schema, [...(bySchema.get(t.schema) ?? []), t]);
  const units: PlannedUnit[] = [];
  for (const [schema, tables] of [...bySchema].sort(([a], [b]) => a.localeCompare(b))) {
    let cur: PlannedUnit | null = null;
    for (const t of [...tables].sort((a, b) => a.name.localeCompare(b.name))) {
      if (!cur || (cur.bytes + t.bytes > unitBytes && cur.tables.length > 0)) {
        cur = { position: units.length, sourceSchema: schema, tables: [], bytes: 0 };
        units.push(cur);
      }
      cur.tables.push({ schema: t.schema, name: t.name });
      cur.bytes += t.bytes;
    }
  }
  return {
    units, sampled, tables: chosen.length, totalTables: all.length,
    bytes: chosen.reduce((s, t) => s + t.bytes, 0), totalBytes,
  };
}

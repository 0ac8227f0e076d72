/**
 * The work of a restore between pre-data and the post-data that spans tables, per table:
 * load its rows (one FREEZE unit, or parts on several connections), build its indexes and
 * constraints, ANALYZE it and fingerprint it. Each step starts as soon as what it needs is
 * done, as pg_restore does, instead of waiting for every table at a phase barrier.
 *
 * Dependencies follow the table locks. ADD CONSTRAINT (PRIMARY KEY, UNIQUE, EXCLUDE, NOT VALID
 * CHECK) takes an ACCESS EXCLUSIVE lock, so such statements run alone, in the script's order
 * relative to the table's other builds; CREATE INDEX takes a SHARE lock, so a table's index
 * builds between two constraints run at once, and so does its fingerprint (a plain scan).
 * ANALYZE (SHARE UPDATE EXCLUSIVE, which conflicts with CREATE INDEX) comes after them all.
 * @module
 */
import type { PlannedStatement } from "./ddl.ts";
import type { LoadUnit } from "./load.ts";
import type { WorkItem } from "./schedule.ts";

/**
 * Relative costs for ordering the work, as fractions of the table's load cost (`partCost` in
 * load.ts). Measured on bench/restore, one backend each, for the 2 M-row table (load 7 s): a
 * B-tree build 0.7-1.3 s, a fingerprint 1.3 s (v2; v1 took 3.4-5.9 s). Only the ranking matters.
 */
export const INDEX_COST = 0.12;
export const FINGERPRINT_COST = 0.3;
const ANALYZE_COST = 0.02;

/** One restored table's work. */
export interface TableWork {
  /** Target key (keyOf of the target name). */
  key: string;
  /** Its load units (none for a table without rows). */
  loads: LoadUnit[];
  /** Its index builds, in the post-data script's order. */
  builds: PlannedStatement[];
  /** Its ANALYZE statements. */
  analyze: PlannedStatement[];
  /** Whether to fingerprint it (the manifest has a fingerprint to compare with). */
  fingerprint: boolean;
}

/** How each kind of step is done. */
export interface Steps {
  load(unit: LoadUnit, signal: AbortSignal): Promise<void>;
  /** Runs statements in order on a session of its own. */
  statements(plan: PlannedStatement[]): Promise<void>;
  fingerprint(key: string): Promise<void>;
}

interface Node {
  item: WorkItem;
  cost: number;
}

/** The work items for `tables`, with critical-path priorities (see {@linkcode criticalPaths}). */
export function planWork(tables: TableWork[], steps: Steps): WorkItem[] {
  const nodes: Node[] = [];
  const add = (id: string, after: string[], cost: number, run: (signal: AbortSignal) => Promise<void>) => {
    nodes.push({ item: { id, after, priority: 0, run }, cost });
    return id;
  };
  for (const t of tables) {
    const weight = t.loads.reduce((s, u) => s + u.cost, 0);
    const loads = t.loads.map((u, i) => add(`load ${t.key} #${i}`, [], u.cost, (signal) => steps.load(u, signal)));
    // `gate`: what the next exclusive statement (and anything after it) waits for.
    let gate = loads;
    let shared: string[] = [];
    let group: PlannedStatement[] = [];
    const flushGroup = () => {
      if (group.length === 0) return;
      const g = group;
      gate = [add(`constraints ${t.key} #${nodes.length}`, [...gate, ...shared], INDEX_COST * weight * g.length, () => steps.statements(g))];
      shared = [];
      group = [];
    };
    for (const p of t.builds) {
      if (p.kind === "index") {
        flushGroup();
        shared.push(add(`index ${t.key} #${nodes.length}`, gate, INDEX_COST * weight, () => steps.statements([p])));
      } else group.push(p);
    }
    flushGroup();
    if (t.fingerprint) {
      add(`fingerprint ${t.key}`, gate, FINGERPRINT_COST * weight, () => steps.fingerprint(t.key));
    }
    if (t.analyze.length > 0) {
      const a = t.analyze;
      add(`analyze ${t.key}`, [...gate, ...shared], ANALYZE_COST * weight, () => steps.statements(a));
    }
  }
  const prio = criticalPaths(nodes.map((n) => ({ id: n.item.id, after: n.item.after ?? [], cost: n.cost })));
  for (const n of nodes) n.item.priority = prio.get(n.item.id)!;
  return nodes.map((n) => n.item);
}

/**
 * Each item's critical-path length: its cost plus the longest path of items that depend on
 * it. Starting the longest chains first keeps the end of the restore from waiting on one
 * long table while the other connections idle.
 */
export function criticalPaths(items: { id: string; after: string[]; cost: number }[]): Map<string, number> {
  const dependents = new Map<string, string[]>();
  for (const it of items) {
    for (const d of it.after) {
      if (!dependents.has(d)) dependents.set(d, []);
      dependents.get(d)!.push(it.id);
    }
  }
  const cost = new Map(items.map((it) => [it.id, it.cost]));
  const memo = new Map<string, number>();
  const length = (id: string): number => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const v = (cost.get(id) ?? 0) + Math.max(0, ...(dependents.get(id) ?? []).map(length));
    memo.set(id, v);
    return v;
  };
  return new Map(items.map((it) => [it.id, length(it.id)]));
}

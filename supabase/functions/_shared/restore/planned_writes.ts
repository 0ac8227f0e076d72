/**
 * What a restore writes, as `--dry-run` lists it: every table with its rows and bytes (COPY
 * text), whether it is a platform table (auth, storage) whose rows go into the project's own
 * table, and how many schema statements run before and after the data.
 * @module
 */
import { display } from "./names.ts";
import type { RestorePlan } from "./selection_plan.ts";

/** One table the restore loads. */
export interface PlannedTable {
  table: string;
  target: string;
  rows: number;
  bytes: number;
  parts: number;
  platform: boolean;
}

/** The restore's writes, summed. */
export interface PlannedWrites {
  tables: PlannedTable[];
  rows: number;
  bytes: number;
  /** Statements of pre-data, post-data and finalize. */
  statements: { preData: number; postData: number; finalize: number };
}

/** The writes of a plan. */
export function writesOf(plan: RestorePlan): PlannedWrites {
  const byTable = new Map<string, PlannedTable>();
  for (const t of plan.tasks) {
    const k = display(t.target);
    let e = byTable.get(k);
    if (!e) {
      e = { table: display(t.table), target: k, rows: t.table.rows, bytes: t.table.bytes, parts: 0, platform: !!t.platform };
      byTable.set(k, e);
    }
    e.parts++;
  }
  const tables = [...byTable.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  return {
    tables,
    rows: tables.reduce((s, t) => s + t.rows, 0),
    bytes: tables.reduce((s, t) => s + t.bytes, 0),
    statements: { preData: plan.planPre.length, postData: plan.planPost.length, finalize: plan.planFin.length },
  };
}

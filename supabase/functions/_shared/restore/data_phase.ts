/**
 * Restore phase "data": every part loaded on `jobs` connections, and, as in pg_restore, each
 * table's index builds started as soon as its rows are in, while other tables still load; its
 * ANALYZE and fingerprint follow them. What spans tables (foreign keys, triggers, policies,
 * grants…) is left for post-data, after every table.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Manifest, TableEntry } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";
import type { Check } from "../checks.ts";
import type { PlannedStatement } from "./ddl.ts";
import { fingerprintAlgorithm, Fingerprinter } from "./fingerprint.ts";
import { type LoadProgress, type LoadUnit, loadUnit, newProgress, planLoadUnits } from "./load.ts";
import { keyOf, type QName } from "./names.ts";
import { planWork } from "./pipeline.ts";
import { loadPlatformUnit } from "./platform_rows.ts";
import { runScheduled } from "./schedule.ts";
import type { RestorePlan } from "./selection_plan.ts";
import { runBuilds } from "./statements.ts";

/** How the fingerprints of the restored tables went: the function's mode, or why none could be computed. */
export interface FingerprintState {
  mode: string;
  error: string | null;
}

/** What the data phase did, and what it left for post-data and finalize. */
export interface DataOutcome {
  /** Each restored table's fingerprint (tables whose manifest has one). */
  fingerprints: Map<TableEntry, unknown>;
  fingerprintState: FingerprintState;
  rows: number;
  bytes: number;
  /** Post-data statements that span tables, in the script's order. */
  postData: PlannedStatement[];
  /** Finalize statements other than the restored tables' ANALYZE. */
  finalize: PlannedStatement[];
}

/** Loads the plan's data parts, with each table's index builds, ANALYZE and fingerprint. */
export async function loadData(
  src: { store: Store; manifest: Manifest; identities: string[] | null; target: Sql },
  plan: RestorePlan,
  opts: { jobs: number; signal?: AbortSignal; onProgress?: (p: LoadProgress) => void },
  checks: Check[],
): Promise<DataOutcome> {
  const { tables: restoreTables, mapTarget, tasks } = plan;
  // pg_restore's order per table (rows, then that table's index builds); what spans tables
  // (foreign keys, triggers, policies, grants…) waits for every table.
  const restoredKeys = new Set(restoreTables.map((t) => keyOf(mapTarget(t))));
  const { perTable, rest: serial } = splitPerTable(plan.planPost, restoredKeys, mapTarget, isIndexBuild);
  const { perTable: analyzes, rest: planFinRest } = splitPerTable(plan.planFin, restoredKeys, mapTarget, (p) => p.kind === "analyze");
  const fingerprints = new Map<TableEntry, unknown>();
  // Platform tables: the fingerprint of the rows the load wrote (platform_fingerprint.ts).
  const writtenRows = new Map<string, unknown>();
  const fpState: FingerprintState = { mode: "", error: null };
  const progress = newProgress(tasks);
  const loadCtx = { ...src, onProgress: (p: LoadProgress) => opts.onProgress?.(p) };
  const units = new Map<string, LoadUnit[]>();
  for (const u of planLoadUnits(tasks, opts.jobs)) {
    const k = keyOf(u.target);
    if (!units.has(k)) units.set(k, []);
    units.get(k)!.push(u);
  }
  const byTarget = new Map(restoreTables.map((t) => [keyOf(mapTarget(t)), t]));
  const items = planWork(
    restoreTables.map((t) => {
      const k = keyOf(mapTarget(t));
      return {
        key: k,
        loads: units.get(k) ?? [],
        builds: perTable.get(k) ?? [],
        analyze: analyzes.get(k) ?? [],
        fingerprint: t.fingerprint !== null && t.fingerprint !== undefined,
      };
    }),
    {
      load: (u, signal) =>
        u.platform
          ? loadPlatformUnit(loadCtx, u, progress, signal).then((fp) => void (fp !== undefined && writtenRows.set(keyOf(u.target), fp)))
          : loadUnit(loadCtx, u, progress, signal),
      statements: (p) => runBuilds(src.target, p, checks),
      fingerprint: async (k) => {
        const t = byTarget.get(k)!;
        const written = writtenRows.get(k);
        if (written !== undefined) return void fingerprints.set(t, written);
        const fp = await fingerprintOf(src.target, mapTarget(t), fingerprintAlgorithm(t.fingerprint), fpState);
        if (fp !== undefined) fingerprints.set(t, fp);
      },
    },
  );
  await runScheduled(items, opts.jobs, opts.signal);
  return {
    fingerprints,
    fingerprintState: fpState,
    rows: progress.rowsDone,
    bytes: progress.bytesDone,
    postData: serial,
    finalize: planFinRest,
  };
}

/**
 * Splits a script's statements into those that act on one restored table and `moves` (keyed by
 * that table, in script order) and the rest, which keep the script's order.
 */
export function splitPerTable(
  plan: PlannedStatement[],
  restored: Set<string>,
  mapTarget: (q: QName) => QName,
  moves: (p: PlannedStatement) => boolean,
): { perTable: Map<string, PlannedStatement[]>; rest: PlannedStatement[] } {
  const perTable = new Map<string, PlannedStatement[]>();
  const rest: PlannedStatement[] = [];
  for (const p of plan) {
    const k = p.target ? keyOf(mapTarget(p.target)) : "";
    if (p.target && !p.optional && !p.tolerateExisting && restored.has(k) && moves(p)) {
      perTable.set(k, [...(perTable.get(k) ?? []), p]);
    } else rest.push(p);
  }
  return { perTable, rest };
}

/**
 * Whether a post-data statement is an index build (CREATE INDEX, ADD PRIMARY KEY / UNIQUE /
 * EXCLUDE / NOT VALID CHECK), which needs nothing but its table's rows. Only those move
 * forward; everything else (triggers, ENABLE/DISABLE, FKs, grants) keeps the script's order
 * after every table is loaded.
 */
export function isIndexBuild(p: PlannedStatement): boolean {
  return p.kind === "index" ||
    (p.kind === "alter_table" &&
      /^alter\s+table\s+(?:only\s+)?\S+(?:\s+\S+)??\s+add\s+constraint\s/i.test(p.sql.replace(/"(?:[^"]|"")*"/g, "x")));
}

/**
 * One restored table's fingerprint with the manifest's algorithm, on a session of its own.
 * When the fingerprint function cannot be set up, or does not know the algorithm, the reason
 * is kept in `state.error` (reported once, at the check) and undefined is returned.
 */
async function fingerprintOf(
  sql: Sql,
  target: QName,
  algorithm: string | undefined,
  state: FingerprintState,
): Promise<unknown> {
  if (state.error !== null) return undefined;
  const fp = new Fingerprinter(sql);
  try {
    try {
      state.mode = await fp.open();
    } catch (err) {
      state.error ??= (err as Error).message;
      return undefined;
    }
    try {
      return await fp.of(target, algorithm);
    } catch (err) {
      // 22023: an algorithm this version of the function does not know (a newer backup).
      if ((err as { code?: string }).code !== "22023") throw err;
      state.error ??= (err as Error).message;
      return undefined;
    }
  } finally {
    fp.close();
  }
}


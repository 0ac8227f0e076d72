/**
 * What a restore writes: the tables chosen (whole backup, schemas or single tables, the
 * latter closed over partitions and owned sequences once pre-data is known), where they go
 * (`--into-schema`), the statements of each script planned for that choice, and the data
 * parts to load.
 * @module
 */
import type { Manifest, TableEntry } from "../format/mod.ts";
import type { Sql } from "../db/mod.ts";
import type { Check } from "../checks.ts";
import { failCheck } from "./abort.ts";
import {
  type DdlStatement,
  classifyAll,
  closeSelection,
  type PartialPlan,
  type PlannedStatement,
  planPartial,
  planWhole,
} from "./ddl.ts";
import type { PartTask } from "./load.ts";
import { isPlatformTable } from "./platform_rows.ts";
import { display, keyOf, type QName, quoteIdent } from "./names.ts";
import type { BackupScripts } from "./scripts.ts";
import { splitSql } from "./sql_split.ts";

/** What was asked for: whole schemas, single tables, a schema to restore them into. */
export interface RestoreChoice {
  schemas?: string[];
  tables?: QName[];
  intoSchema?: string;
  /** Drop and replace what exists (whole restores plan for it). */
  clean?: boolean;
  /**
   * Write nothing outside `intoSchema`: no schemas, extensions or shared objects (types,
   * functions) are created, so a drill inside the production database never recreates an
   * object production dropped since the backup.
   */
  scratchOnly?: boolean;
  /**
   * With `intoSchema` in the database the backup came from: the platform's tables (auth,
   * storage), whose definitions a backup does not carry, are created in `intoSchema` like the
   * target's own (columns, defaults, NOT NULL and CHECK constraints; no keys, triggers or
   * foreign keys), so their rows can be restored and fingerprinted beside the user's.
   */
  platformLikeTarget?: boolean;
}

/** The tables a choice names before pre-data is read. */
export interface ChosenTables {
  /** A partial restore (schemas or tables were named). */
  partial: boolean;
  /** The manifest's tables of the chosen schemas, then the named tables. */
  chosen: QName[];
}

/** Checks the choice against the manifest (phase "manifest"); stops the restore when it cannot be met. */
export function chooseTables(m: Manifest, choice: RestoreChoice, checks: Check[]): ChosenTables {
  const partial = (choice.schemas?.length ?? 0) > 0 || (choice.tables?.length ?? 0) > 0;
  const chosen: QName[] = [];
  if (partial) {
    for (const s of choice.schemas ?? []) {
      const inSchema = m.tables.filter((t) => t.schema === s);
      if (inSchema.length === 0) {
        failCheck(
          checks,
          "selection",
          s,
          `the backup has no table in schema ${s}`,
          `Schemas in the backup: ${[...new Set(m.tables.map((t) => t.schema))].join(", ")}.`,
        );
      }
      chosen.push(...inSchema);
    }
    // Partitioned parents of chosen schemas are added once pre-data is read.
    // Tables are checked against the backup once pre-data is read (partitioned parents hold
    // no rows, so only pre-data knows them).
    chosen.push(...(choice.tables ?? []));
  }
  if (choice.intoSchema && !partial) {
    failCheck(checks, "selection", choice.intoSchema, "--into-schema needs --table or --schema", "Choose the tables to restore side by side.");
  }
  return { partial, chosen };
}

/** `create table … (like …)` for the chosen platform tables that pre-data does not define. */
function platformTablesLike(pre: DdlStatement[], tables: TableEntry[], mapTarget: (t: QName) => QName): PlannedStatement[] {
  const defined = new Set(pre.filter((x) => x.kind === "table" && x.target).map((x) => keyOf(x.target!)));
  const q = (t: QName) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
  return tables.filter((t) => isPlatformTable(t) && !defined.has(keyOf(t))).map((t) => ({
    sql: `create table ${q(mapTarget(t))} (like ${q(t)} including defaults including constraints including generated including identity)`,
    kind: "table" as const,
    tolerateExisting: false,
    label: `table ${display(t)}: like the target's own (the platform's definition)`,
    target: t,
  }));
}

/** The restore's plan. */
export interface RestorePlan {
  partial: boolean;
  /** The scripts' statements, classified. */
  pre: DdlStatement[];
  post: DdlStatement[];
  /** The tables whose rows are restored. */
  tables: TableEntry[];
  planPre: PlannedStatement[];
  planPost: PlannedStatement[];
  planFin: PlannedStatement[];
  partialPlan: PartialPlan;
  /** Where a backed-up relation goes in the target. */
  mapTarget: (t: QName) => QName;
  /** Every data part to load, with its table and target. */
  tasks: PartTask[];
}

/**
 * Plans the restore of `chosen` from the backup's scripts; a partial restore also reads which
 * tables the target already has. Stops the restore when the choice cannot be met.
 */
export async function planRestore(
  target: Sql,
  m: Manifest,
  scripts: BackupScripts,
  choice: RestoreChoice,
  chosenTables: ChosenTables,
  checks: Check[],
): Promise<RestorePlan> {
  const { partial } = chosenTables;
  const chosen = [...chosenTables.chosen];
  const byKey = new Map(m.tables.map((t) => [keyOf(t), t]));
  const pre = classifyAll(splitSql(scripts.preData));
  const post = classifyAll(splitSql(scripts.postData));
  const fin = classifyAll(splitSql(scripts.finalize));
  let restoreTables: TableEntry[];
  let planPre: PlannedStatement[], planPost: PlannedStatement[], planFin: PlannedStatement[];
  const partialPlan: PartialPlan = { tables: [], sequences: [], skippedFks: [], skipped: {} };
  let mapTarget = (t: QName): QName => t;
  if (partial) {
    const known = new Set([
      ...m.tables.map(keyOf),
      ...pre.filter((x) => x.kind === "table" && x.target).map((x) => keyOf(x.target!)),
    ]);
    for (const t of choice.tables ?? []) {
      if (!known.has(keyOf(t))) {
        failCheck(
          checks,
          "selection",
          display(t),
          `the backup has no table ${display(t)}`,
          "Check the name (schema.table, case-sensitive); 'lifeboat verify --json' lists the backup's tables.",
        );
      }
    }
    for (const x of pre) {
      if (x.kind === "table" && x.target && choice.schemas?.includes(x.target.schema)) chosen.push(x.target);
    }
    const closed = closeSelection(chosen, pre, !!choice.scratchOnly);
    restoreTables = closed.tables.map((t) => byKey.get(keyOf(t))).filter((t): t is TableEntry => !!t);
    // Partitioned parents have no rows of their own and may be absent from manifest.tables.
    partialPlan.tables = closed.tables;
    partialPlan.sequences = closed.sequences;
    if (choice.intoSchema) {
      const names = new Map<string, QName>();
      for (const t of [...closed.tables, ...closed.sequences]) {
        const prev = names.get(t.name);
        if (prev && prev.schema !== t.schema) {
          failCheck(
            checks,
            "selection",
            t.name,
            `${display(prev)} and ${display(t)} would both become ${choice.intoSchema}.${t.name}`,
            "Restore them in two runs with different --into-schema names.",
          );
        }
        names.set(t.name, t);
      }
      mapTarget = (t) => ({ schema: choice.intoSchema!, name: t.name });
    }
    const targetTables = new Set((await target<{ schema: string; name: string }[]>`
      select n.nspname as schema, c.relname as name from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p')`).map(keyOf));
    const popts = {
      tables: closed.tables,
      sequences: closed.sequences,
      intoSchema: choice.intoSchema,
      scratchOnly: !!choice.scratchOnly,
      targetHas: (t: QName) => targetTables.has(keyOf(t)),
    };
    planPre = planPartial(pre, popts, partialPlan);
    if (choice.intoSchema && choice.platformLikeTarget) planPre.push(...platformTablesLike(pre, restoreTables, mapTarget));
    planPost = planPartial(post, popts, partialPlan);
    planFin = planPartial(fin, popts, partialPlan);
  } else {
    restoreTables = m.tables;
    planPre = planWhole(pre, !!choice.clean);
    planPost = planWhole(post, !!choice.clean);
    planFin = planWhole(fin, !!choice.clean);
  }
  const tasks: PartTask[] = [];
  const objByKey = new Map(m.objects.map((x) => [x.key, x]));
  for (const t of restoreTables) {
    // Platform tables (auth, storage) exist on the target: their rows go in through staging.
    const platform = isPlatformTable(t) && keyOf(mapTarget(t)) === keyOf(t) ? { clean: !!choice.clean } : undefined;
    for (const k of t.parts) tasks.push({ table: t, object: objByKey.get(k)!, target: mapTarget(t), platform });
  }
  return { partial, pre, post, tables: restoreTables, planPre, planPost, planFin, partialPlan, mapTarget, tasks };
}

/**
 * The rows of the platform's tables (auth.users, auth.identities, storage.buckets,
 * storage.objects…) in a restore. The target project has these tables already (its GoTrue and
 * Storage made them), with its own triggers and foreign keys, so they are never created,
 * dropped or truncated: each table's parts are copied into a temporary staging table, then
 * inserted with `session_replication_role = replica`, so that neither the platform's triggers
 * nor the user's (e.g. on_auth_user_created, whose rows the backup holds already) fire, and the
 * foreign keys between the platform tables do not depend on the load order. Ids are kept, so
 * every reference to auth.users holds, and a password hash still checks. `--clean` replaces the
 * target's rows that have the same keys, and only those; without it, rows with the same keys
 * stop the restore in pre-flight.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { TableEntry } from "../format/mod.ts";
import { type Check, check } from "../checks.ts";
import { failCheck } from "./abort.ts";
import { type LoadContext, type LoadProgress, loadOne, type LoadUnit, type PartTask } from "./load.ts";
import { display, type QName, qualified, quoteIdent } from "./names.ts";
import { PLATFORM_SCHEMAS } from "./platform_standin.ts";
import { restoredRowsFingerprint } from "./platform_fingerprint.ts";
import { fingerprintAlgorithm } from "./fingerprint.ts";

type Conn = Awaited<ReturnType<Sql["reserve"]>>;

/** Whether a backed-up table belongs to the platform's schemas. */
export function isPlatformTable(t: QName): boolean {
  return (PLATFORM_SCHEMAS as readonly string[]).includes(t.schema);
}

const STAGE = "lifeboat_platform_stage";

/** The target table's primary key columns, quoted and comma-separated ("" when it has none). */
async function keyColumns(conn: Conn, target: QName): Promise<string> {
  const rows = await conn<{ col: string }[]>`
    select pg_catalog.quote_ident(a.attname) as col
    from pg_catalog.pg_index i
    join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
    where i.indrelid = ${qualified(target)}::regclass and i.indisprimary
    order by array_position(i.indkey::int2[], a.attnum)`;
  return rows.map((r) => r.col).join(", ");
}

/**
 * Copies every part of a table into a temporary staging table shaped like the target, inside
 * the connection's open transaction (the table goes with it); returns the parts' column list.
 */
async function stageParts(
  o: LoadContext,
  conn: Conn,
  target: QName,
  tasks: PartTask[],
  signal: AbortSignal,
  onBytes: (n: number) => void,
  onPart: (t: PartTask) => void = () => {},
): Promise<string> {
  await conn.unsafe(`create temporary table ${STAGE} (like ${qualified(target)}) on commit drop`);
  let columns = "";
  for (const t of tasks) {
    if (signal.aborted) throw signal.reason;
    columns = await loadOne(o, conn, { ...t, target: { schema: "pg_temp", name: STAGE } }, signal, false, onBytes);
    onPart(t);
  }
  return columns;
}

/** Rows of the backup's `tasks` whose keys the target's table already has. */
async function overlappingRows(o: LoadContext, target: QName, tasks: PartTask[], signal: AbortSignal): Promise<number> {
  const conn = await o.target.reserve();
  try {
    await conn.unsafe("begin");
    try {
      const [has] = await conn.unsafe(`select exists (select from ${qualified(target)}) as any`);
      if (!has.any) return 0;
      const key = await keyColumns(conn, target);
      await stageParts(o, conn, target, tasks, signal, () => {});
      const [n] = await conn.unsafe(key
        ? `select count(*)::int as n from ${qualified(target)} t where (${prefixed("t", key)}) in (select ${key} from pg_temp.${STAGE})`
        : `select count(*)::int as n from ${qualified(target)}`);
      return Number(n.n);
    } finally {
      await conn.unsafe("rollback").catch(() => {});
    }
  } finally {
    conn.release();
  }
}

const prefixed = (alias: string, cols: string) => cols.split(", ").map((c) => `${alias}.${c}`).join(", ");

/**
 * Pre-flight for the platform tables the restore loads: each must exist on the target, and
 * (without `clean`) hold none of the backup's keys. Writes nothing (staging is rolled back).
 */
export async function checkPlatformRows(
  o: LoadContext,
  tasks: PartTask[],
  clean: boolean,
  checks: Check[],
  signal: AbortSignal = new AbortController().signal,
): Promise<void> {
  const byTable = new Map<string, { target: QName; table: TableEntry; tasks: PartTask[] }>();
  for (const t of tasks) {
    if (!t.platform) continue;
    const k = display(t.target);
    if (!byTable.has(k)) byTable.set(k, { target: t.target, table: t.table, tasks: [] });
    byTable.get(k)!.tasks.push(t);
  }
  if (byTable.size === 0) return;
  const names = [...byTable.values()].map((x) => display(x.target));
  const present = new Set((await o.target<{ name: string }[]>`
    select format('%s.%s', n.nspname, c.relname) as name from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(${[...PLATFORM_SCHEMAS]}::text[]) and c.relkind = 'r'`).map((r) => r.name));
  const missing = names.filter((n) => !present.has(n));
  if (missing.length > 0) {
    failCheck(checks, "platform_tables", "target", `the target lacks platform tables the backup has rows for: ${missing.join(", ")}`,
      "Restore into a Supabase project (its GoTrue and Storage create these tables), or let 'lifeboat drill' create the stand-in.");
  }
  let clash = 0;
  const clashes: string[] = [];
  for (const x of byTable.values()) {
    if (x.tasks.every((t) => (t.object.rows ?? 0) === 0)) continue;
    const n = clean ? 0 : await overlappingRows(o, x.target, x.tasks, signal);
    if (n > 0) {
      clash += n;
      clashes.push(`${n} in ${display(x.target)}`);
    }
  }
  if (clash > 0) {
    failCheck(checks, "platform_rows", "target", `the target already has ${clash} of the backup's platform rows (same keys): ${clashes.join(", ")}`,
      "Restore into a new project, or pass --clean to replace exactly those rows (users, identities, buckets… with the same ids; other rows are kept).");
  }
  checks.push(check("platform_rows", "ok", "target", clean
    ? `${names.length} platform tables: rows with the backup's keys will be replaced (--clean), other rows kept`
    : `${names.length} platform tables exist on the target and hold none of the backup's keys`, "", { tables: names }));
}

/**
 * Loads a platform table's unit: stage its parts, then (with `clean`) delete the target's rows
 * with the same keys and insert the staged rows, all in one transaction with every trigger
 * and foreign key check quiet (`session_replication_role = replica`). Returns the fingerprint
 * of the rows it wrote (platform_fingerprint.ts) when the manifest has one for the table, so
 * the check compares those rows and not the target's others; undefined otherwise.
 */
export async function loadPlatformUnit(o: LoadContext, unit: LoadUnit, p: LoadProgress, signal: AbortSignal): Promise<unknown> {
  const conn = await o.target.reserve();
  try {
    await conn.unsafe("begin");
    try {
      await conn.unsafe("set local session_replication_role = replica");
      const columns = await stageParts(o, conn, unit.target, unit.tasks, signal, (bytes) => {
        p.bytesDone += bytes;
        o.onProgress?.(p);
      }, (t) => {
        p.partsDone++;
        p.rowsDone += t.object.rows ?? 0;
        o.onProgress?.(p);
      });
      const target = qualified(unit.target);
      const key = await keyColumns(conn, unit.target);
      if (unit.platform?.clean && key) {
        await conn.unsafe(`delete from ${target} t where (${prefixed("t", key)}) in (select ${key} from pg_temp.${STAGE})`);
      }
      const cols = columns || "*";
      await conn.unsafe(`insert into ${target} ${columns ? `(${columns})` : ""} select ${cols} from pg_temp.${quoteIdent(STAGE)}`);
      const recorded = unit.tasks[0]?.table.fingerprint;
      const fingerprint = recorded === null || recorded === undefined
        ? undefined
        : await restoredRowsFingerprint(conn, unit.target, key, STAGE, fingerprintAlgorithm(recorded) ?? "lifeboat-fp-v2");
      await conn.unsafe("commit");
      return fingerprint;
    } catch (err) {
      await conn.unsafe("rollback").catch(() => {});
      throw err;
    }
  } finally {
    conn.release();
  }
}

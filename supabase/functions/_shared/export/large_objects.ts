/**
 * Large objects: Lifeboat does not back up pg_largeobject. Their count is recorded in the
 * manifest (`largeObjectsNotExported`) so backup, verify and restore say what is missing
 * instead of losing them without a word.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Manifest } from "../format/mod.ts";

/** How many large objects the database holds (pg_largeobject_metadata is readable by every role). */
export async function countLargeObjects(sql: Pick<Sql, "unsafe">): Promise<number> {
  const [r] = await sql.unsafe("select count(*)::int8 as n from pg_catalog.pg_largeobject_metadata");
  return Number(r.n);
}

/** Records the count in the manifest (nothing when there are none). */
export function noteLargeObjects(m: Manifest, count: number): Manifest {
  return count > 0 ? { ...m, largeObjectsNotExported: count } : m;
}

/** The warning every command prints for a manifest that lists large objects it lacks. */
export function largeObjectsWarning(count: number): string {
  return `${count} large object(s) (pg_largeobject) are NOT in the backup: oid columns that reference them will point at nothing after a restore; export them separately (e.g. pg_dump --large-objects)`;
}

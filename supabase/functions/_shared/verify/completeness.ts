/**
 * Completeness: every table and sequence of the source database that the backup's scope
 * covers is in the manifest, with its row count. A full backup covers every schema except the
 * excluded (Supabase-managed) ones; a `tables` backup covers only the tables it names.
 * @module
 */
import type { Sql } from "../db.ts";
import type { Manifest } from "../format/manifest.ts";
import { type Check, check } from "./checks.ts";

interface SourceRelation {
  schema: string;
  name: string;
  relkind: string;
  /** schema.name of the relation itself, its partition ancestors and descendants. */
  family: string[];
}

/** Tables (plain and partitioned) and sequences of the source, without system and extension-owned ones. */
export async function sourceRelations(sql: Sql): Promise<SourceRelation[]> {
  const rows = await sql<{ schema: string; name: string; relkind: string; family: string[] }[]>`
    select n.nspname as schema, c.relname as name, c.relkind::text as relkind,
      array(
        select pn.nspname || '.' || pc.relname
        from (select c.oid as relid
              union select t.relid from pg_catalog.pg_partition_tree(c.oid) t
              union select a.relid from pg_catalog.pg_partition_ancestors(c.oid) a) f
        join pg_catalog.pg_class pc on pc.oid = f.relid
        join pg_catalog.pg_namespace pn on pn.oid = pc.relnamespace
      ) as family
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'S')
      and c.relpersistence <> 't'
      and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
      and n.nspname !~ '^pg_(toast_)?temp_'
      and not exists (
        select from pg_catalog.pg_depend d
        where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
    order by 1, 2`;
  return rows.map((r) => ({ ...r }));
}

/** Compares the source's relations with the manifest. */
export async function checkCompleteness(sql: Sql, m: Manifest): Promise<Check[]> {
  const rels = await sourceRelations(sql);
  const excluded = new Set(m.excludedSchemas);
  const inManifest = new Set(m.tables.map((t) => `${t.schema}.${t.name}`));
  const seqInManifest = new Set(m.sequences.map((s) => `${s.schema}.${s.name}`));
  const out: Check[] = [];
  const sourceTables = new Set(rels.filter((r) => r.relkind !== "S").map((r) => `${r.schema}.${r.name}`));
  if (m.kind === "full") {
    const scoped = rels.filter((r) => !excluded.has(r.schema));
    const missingTables = scoped.filter((r) => r.relkind !== "S" && !r.family.some((f) => inManifest.has(f)));
    const missingSeqs = scoped.filter((r) => r.relkind === "S" && !seqInManifest.has(`${r.schema}.${r.name}`));
    for (const r of missingTables) {
      out.push(check("table_in_backup", "error", `${r.schema}.${r.name}`,
        `the source has this table but the backup (finished ${m.finishedAt}) does not`,
        "If the table is newer than the backup, take a new backup; otherwise check the backup's include/exclude rules."));
    }
    for (const r of missingSeqs) {
      out.push(check("sequence_in_backup", "error", `${r.schema}.${r.name}`,
        `the source has this sequence but the backup does not record its value`,
        "Restored sequences would restart and collide with existing keys: take a new backup."));
    }
    const tables = scoped.filter((r) => r.relkind !== "S").length;
    const seqs = scoped.length - tables;
    if (missingTables.length + missingSeqs.length === 0) {
      out.push(check("completeness", "ok", m.database,
        `all ${tables} tables and ${seqs} sequences of the source outside ${excluded.size} excluded schemas are in the backup, with row counts`,
        "", { tables, sequences: seqs, excludedSchemas: m.excludedSchemas }));
    }
  } else {
    out.push(check("completeness", "ok", m.database,
      `a '${m.kind}' backup of ${m.tables.length} chosen tables: the source's other tables are out of its scope`, "",
      { tables: m.tables.length }));
  }
  for (const t of m.tables) {
    const name = `${t.schema}.${t.name}`;
    if (!sourceTables.has(name)) {
      out.push(check("table_in_source", "warn", name, "the backup has this table but the source no longer does",
        "Expected after a table was dropped or renamed; otherwise investigate the change."));
    }
  }
  return out;
}

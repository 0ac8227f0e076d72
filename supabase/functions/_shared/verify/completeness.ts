/**
 * Completeness: every table and sequence of the source database that the backup's scope
 * covers is in the manifest, with its row count. A full backup covers every schema except the
 * excluded (Supabase-managed) ones, narrowed by the manifest's `scope` (include/exclude
 * schemas and tables) when it records one; a `tables` backup covers only the tables it names.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Manifest, ManifestScope } from "../format/mod.ts";
import { type Check, check } from "../checks.ts";

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

/** Whether a source relation is one the backup's scope covers (before any table list). */
function inSchemaScope(r: SourceRelation, excluded: Set<string>, scope: ManifestScope | undefined): boolean {
  if (excluded.has(r.schema)) return false;
  if (!scope) return true;
  if (scope.includeSchemas && !scope.includeSchemas.includes(r.schema)) return false;
  if (scope.excludeSchemas.includes(r.schema)) return false;
  return !scope.excludeTables.some((t) => t.schema === r.schema && t.name === r.name);
}

const missingTable = (name: string, m: Manifest) =>
  check("table_in_backup", "error", name,
    `the source has this table but the backup (finished ${m.finishedAt}) does not`,
    "If the table is newer than the backup, take a new backup; otherwise check the backup's include/exclude rules.");

/** Compares the source's relations with the manifest. */
export async function checkCompleteness(sql: Sql, m: Manifest): Promise<Check[]> {
  // A files backup holds no table: its completeness is files_completeness (source/storage).
  if (m.kind === "files") return [];
  const rels = await sourceRelations(sql);
  const excluded = new Set(m.excludedSchemas);
  const inManifest = new Set(m.tables.map((t) => `${t.schema}.${t.name}`));
  const seqInManifest = new Set(m.sequences.map((s) => `${s.schema}.${s.name}`));
  const out: Check[] = [];
  const sourceTables = new Set(rels.filter((r) => r.relkind !== "S").map((r) => `${r.schema}.${r.name}`));
  const scope = m.scope;
  const sourceHasTables = rels.some((r) => r.relkind !== "S" && !excluded.has(r.schema));
  if (m.tables.length === 0 && sourceHasTables) {
    // E.g. a mistyped --include-schema: such a backup restores nothing and must never count.
    out.push(check("completeness", "error", m.database,
      `the backup holds no table, but the source has ${sourceTables.size} tables: it cannot recover anything`,
      "Check the backup's include/exclude rules (a mistyped schema name?) and take a new backup."));
    return out;
  }
  if (m.kind === "full") {
    const scoped = rels.filter((r) => inSchemaScope(r, excluded, scope));
    const missingTables = scoped.filter((r) => r.relkind !== "S" && !r.family.some((f) => inManifest.has(f)));
    const missingSeqs = scoped.filter((r) => r.relkind === "S" && !seqInManifest.has(`${r.schema}.${r.name}`));
    for (const r of missingTables) out.push(missingTable(`${r.schema}.${r.name}`, m));
    for (const r of missingSeqs) {
      out.push(check("sequence_in_backup", "error", `${r.schema}.${r.name}`,
        `the source has this sequence but the backup does not record its value`,
        "Restored sequences would restart and collide with existing keys: take a new backup."));
    }
    const tables = scoped.filter((r) => r.relkind !== "S").length;
    const seqs = scoped.length - tables;
    if (missingTables.length + missingSeqs.length === 0) {
      const narrowed = scope && (scope.includeSchemas || scope.excludeSchemas.length || scope.excludeTables.length)
        ? `, within the backup's scope${scope.includeSchemas ? ` (schemas ${scope.includeSchemas.join(", ")})` : ""}`
        : "";
      out.push(check("completeness", "ok", m.database,
        `all ${tables} tables and ${seqs} sequences of the source outside ${excluded.size} excluded schemas${narrowed} are in the backup, with row counts`,
        "", { tables, sequences: seqs, excludedSchemas: m.excludedSchemas, ...(scope ? { scope } : {}) }));
    }
  } else if (scope?.tables) {
    // A tables backup with a recorded scope: every table it was asked for must be in it.
    const missing = scope.tables.filter((t) =>
      sourceTables.has(`${t.schema}.${t.name}`) && !inManifest.has(`${t.schema}.${t.name}`)
    );
    for (const t of missing) out.push(missingTable(`${t.schema}.${t.name}`, m));
    if (missing.length === 0) {
      out.push(check("completeness", "ok", m.database,
        `a '${m.kind}' backup: all ${scope.tables.length} chosen tables are in it; the source's other tables are out of its scope`, "",
        { tables: m.tables.length, scope }));
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

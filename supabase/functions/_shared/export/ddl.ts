/**
 * Schema DDL for a backup, generated inside the database by the `lifeboat.ddl_*` SQL
 * functions (migration 20261122000500_lifeboat_ddl.sql), so it always matches the server's
 * own pg_get_*def. Read by the coordinator inside the export's snapshot.
 * @module
 */
import type { Tx } from "../db/mod.ts";
import type { ManifestPlatform } from "../format/mod.ts";
import type { Selection, TableRef } from "./selection.ts";

/** The schema scripts of a backup and what the manifest records about them. */
export interface SchemaScripts {
  roles: string;
  preData: string;
  postData: string;
  /** Roles whose passwords are not in the backup (they must be reset after a restore). */
  passwordsNotExported: string[];
  /** Schemas left out: the database's managed list plus --exclude-schema. */
  excludedSchemas: string[];
  /** Namespace oids the export covers (the DDL functions' own scope). */
  scope: number[];
  /** Materialized views in scope, dependencies first (refreshed by finalize.sql). */
  matviews: TableRef[];
  /** The platform's versions and which of its tables the backup copies. */
  platform: ManifestPlatform;
}

/**
 * Whether a selection covers the platform's tables (auth, storage): a full backup does, and
 * so does one that names those schemas or their tables; --exclude-schema leaves them out.
 */
export function platformSchemasOf(selection: Selection): string[] {
  const all = ["auth", "storage"].filter((s) => !(selection.excludeSchemas ?? []).includes(s));
  if (selection.tables?.length) return all.filter((s) => selection.tables!.some((t) => t.schema === s));
  if (selection.includeSchemas?.length) return all.filter((s) => selection.includeSchemas!.includes(s));
  return all;
}

/**
 * The `schemas` argument of the DDL functions: null for a full export; the requested
 * schemas; or, for a `tables` backup, the schemas of the requested tables (their other
 * tables are created empty, which a partial restore can skip).
 */
function schemasArg(selection: Selection): string[] | null {
  if (selection.tables?.length) return [...new Set(selection.tables.map((t) => t.schema))].sort();
  if (selection.includeSchemas?.length) return [...selection.includeSchemas];
  return null;
}

/** Reads roles, pre-data and post-data DDL for `selection`, and the export's scope. */
export async function readSchemaScripts(tx: Tx, selection: Selection): Promise<SchemaScripts> {
  const schemas = schemasArg(selection);
  const [ex] = await tx`
    select lifeboat.excluded_schemas() || ${selection.excludeSchemas ?? []}::text[] as excluded`;
  const excludedSchemas = [...new Set(ex.excluded as string[])];
  // exclude_schemas replaces the default list, so pass the default plus the user's.
  const exclude = selection.excludeSchemas?.length ? excludedSchemas : null;
  const [s] = await tx`
    select lifeboat.ddl_scope(${schemas}::text[], ${exclude}::text[])::int8[] as scope,
           lifeboat.ddl_script('roles') as roles,
           lifeboat.ddl_script('pre-data', ${schemas}::text[], ${exclude}::text[]) as pre,
           lifeboat.ddl_script('post-data', ${schemas}::text[], ${exclude}::text[]) as post,
           lifeboat.platform_versions() as versions,
           case when ${!!selection.includeVault} then
             (select coalesce(pg_catalog.string_agg(v.ddl || ';', E'\n\n' order by v.ord), '') from lifeboat.ddl_vault_secrets() v)
           end as vault,
           case when ${!!selection.includeVault} then (select count(*)::int from lifeboat.ddl_vault_secrets()) end as vault_count,
           (select coalesce(pg_catalog.string_agg(o.ddl || ';', E'\n\n' order by o.ord), '')
              from lifeboat.ddl_platform_objects() o
              where o.schema_name = any(${platformSchemasOf(selection)}::text[])) as platform_objects,
           (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('schema', p.schema_name, 'name', p.table_name,
                'class', p.class, 'copied', p.copied and p.schema_name = any(${platformSchemasOf(selection)}::text[]))
                order by p.schema_name, p.table_name), '[]')
              from lifeboat.platform_tables(${!!selection.includeAuthSessions}, ${!!selection.includeAuthAudit}) p) as platform_tables`;
  const scope = (s.scope as (string | number)[]).map(Number);
  // The same rule ddl_roles() applies when it lists these roles in roles.sql's comments.
  // Two statements: a query naming pg_authid fails for non-superusers even in a dead branch.
  const [priv] = await tx`select pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'select') as ok`;
  const pw = priv.ok
    ? await tx`
        select a.rolname::text as name from pg_catalog.pg_authid a
        where a.oid >= 16384 and not lifeboat.is_reserved_role(a.rolname) and a.rolpassword is not null
        order by 1`
    : await tx`
        select a.rolname::text as name from pg_catalog.pg_roles a
        where a.oid >= 16384 and not lifeboat.is_reserved_role(a.rolname) and a.rolcanlogin
        order by 1`;
  const mv = await tx`
    select o.schema_name, o.object_name
    from lifeboat.ddl_node_order(${scope}::oid[]) o
    where o.kind = 'materialized view'
    order by o.level, o.prio, o.schema_name, o.object_name`;
  return {
    roles: String(s.roles),
    preData: String(s.pre),
    // What users added to auth and storage tables (triggers, policies, grants) follows the
    // rest of post-data: their functions and roles exist by then.
    postData: String(s.post) +
      (s.platform_objects ? `\n-- Objects added to the platform's tables (auth, storage)\n\n${s.platform_objects}\n` : "") +
      // Decrypted, but only ever stored inside this (encrypted) object; the target's Vault
      // encrypts them again with its own key.
      (s.vault ? `\n-- Vault secrets (--include-vault)\n\n${s.vault}\n` : ""),
    passwordsNotExported: pw.map((r) => String(r.name)),
    excludedSchemas,
    scope,
    matviews: mv.map((r) => ({ schema: String(r.schema_name), name: String(r.object_name) })),
    platform: {
      authVersion: (s.versions as { auth: string | null }).auth ?? null,
      storageVersion: (s.versions as { storage: number | null }).storage ?? null,
      authSessions: !!selection.includeAuthSessions,
      authAudit: !!selection.includeAuthAudit,
      ...(selection.includeVault ? { vaultSecrets: Number(s.vault_count ?? 0) } : {}),
      tables: s.platform_tables as ManifestPlatform["tables"],
    },
  };
}

/** The platform tables whose rows the backup copies (for {@linkcode listTables}). */
export function copiedPlatformTables(platform: ManifestPlatform | undefined): TableRef[] {
  return (platform?.tables ?? []).filter((t) => t.copied).map((t) => ({ schema: t.schema, name: t.name }));
}

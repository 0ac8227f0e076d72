/**
 * A stand-in for the platform's schemas (auth, storage) in a database that has none, such as a
 * drill's scratch database: Supabase's own setup cannot run there (it needs a superuser), so
 * the schemas are generated from the SOURCE database with Lifeboat's DDL generator
 * (`lifeboat.ddl_pre_data` and the keys and indexes of `lifeboat.ddl_post_data`) and applied
 * as the restoring role before the restore. The Supabase roles are cluster-wide and exist
 * already. What users added to those tables (their triggers and policies) is left out: the
 * backup brings it, as it would into a new project.
 * @module
 */
import type { Sql } from "../db/mod.ts";

/** The platform schemas a stand-in provides. */
export const PLATFORM_SCHEMAS = ["auth", "storage"] as const;

/** Post-data kinds the stand-in takes: what makes the tables behave (keys, indexes, RLS, grants). */
const POST_KINDS = ["constraint", "check constraint", "index", "index attach", "foreign key", "row level security", "grant", "revoke"];

/** The stand-in's statements, read from `source` (which has the platform schemas and Lifeboat). */
export async function platformStandInSql(source: Sql): Promise<string[]> {
  const schemas = [...PLATFORM_SCHEMAS];
  const rows = await source<{ ddl: string }[]>`
    select d.ddl from lifeboat.ddl_pre_data(${schemas}::text[], '{}'::text[]) d
    where d.kind <> 'schema' or d.schema_name = any(${schemas}::text[])
    order by d.seq`;
  const post = await source<{ ddl: string }[]>`
    select d.ddl from lifeboat.ddl_post_data(${schemas}::text[], '{}'::text[]) d
    where d.kind = any(${POST_KINDS}::text[])
    order by d.seq`;
  return [...rows, ...post].map((r) => r.ddl);
}

/**
 * Creates the platform schemas in `target` (in one transaction) from `source`'s definitions,
 * unless the target has them already. Returns whether it created them.
 */
export async function applyPlatformStandIn(source: Sql, target: Sql): Promise<boolean> {
  const [has] = await target<{ n: number }[]>`
    select count(*)::int as n from pg_catalog.pg_namespace where nspname = any(${[...PLATFORM_SCHEMAS]}::text[])`;
  if (has.n > 0) return false;
  const [src] = await source<{ n: number }[]>`
    select count(*)::int as n from pg_catalog.pg_namespace where nspname = any(${[...PLATFORM_SCHEMAS]}::text[])`;
  if (src.n < PLATFORM_SCHEMAS.length) return false;
  const stmts = await platformStandInSql(source);
  // The platform's versions come along, so the restore's version check sees the source's.
  const [v] = await source<{ auth: string; storage: string }[]>`
    select (select coalesce(jsonb_agg(m.version::text), '[]') from auth.schema_migrations m)::text as auth,
           (select coalesce(jsonb_agg(to_jsonb(m)), '[]') from storage.migrations m)::text as storage`;
  await target.begin(async (tx) => {
    await tx.unsafe("set local check_function_bodies = off");
    for (const s of stmts) await tx.unsafe(s);
    await tx`insert into auth.schema_migrations (version) select jsonb_array_elements_text(${v.auth}::text::jsonb)`;
    await tx`insert into storage.migrations (id, name, hash, executed_at)
      select id, name, hash, executed_at from jsonb_to_recordset(${v.storage}::text::jsonb)
        as m(id int, name text, hash text, executed_at timestamp)`;
  });
  return true;
}

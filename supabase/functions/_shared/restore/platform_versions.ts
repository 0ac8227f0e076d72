/**
 * The platform's schema versions in a restore: the backup records the GoTrue
 * (auth.schema_migrations) and Storage (storage.migrations) versions of its source, and a
 * target whose versions are older is refused, because its tables may lack columns the rows
 * need. Newer is fine: GoTrue and Storage only add to their schemas.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Manifest } from "../format/mod.ts";
import { type Check, check } from "../checks.ts";
import { failCheck } from "./abort.ts";

/** The target's GoTrue and Storage versions (null where the table is missing or unreadable). */
export async function targetPlatformVersions(sql: Sql): Promise<{ auth: string | null; storage: number | null }> {
  const [r] = await sql<{ auth: boolean; storage: boolean }[]>`
    select pg_catalog.to_regclass('auth.schema_migrations') is not null
             and pg_catalog.has_table_privilege('auth.schema_migrations', 'select') as auth,
           pg_catalog.to_regclass('storage.migrations') is not null
             and pg_catalog.has_table_privilege('storage.migrations', 'select') as storage`;
  const auth = r.auth
    ? (await sql<{ v: string | null }[]>`select max(version::text) as v from auth.schema_migrations where version ~ '^[0-9]+$'`)[0].v
    : null;
  const storage = r.storage ? (await sql<{ v: number | null }[]>`select max(id)::int as v from storage.migrations`)[0].v : null;
  return { auth, storage };
}

/** Whether GoTrue version `a` (a migration timestamp) is older than `b`. */
export function olderAuth(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}

/**
 * Refuses a target whose GoTrue or Storage schema is older than the backup's source, when the
 * restore loads rows of that schema's tables.
 */
export async function checkPlatformVersions(sql: Sql, m: Manifest, schemas: Set<string>, checks: Check[]): Promise<void> {
  const p = m.platform;
  if (!p || schemas.size === 0) return;
  const t = await targetPlatformVersions(sql);
  const problems: string[] = [];
  if (schemas.has("auth") && p.authVersion) {
    if (t.auth === null) problems.push(`the target has no GoTrue schema (auth.schema_migrations), the backup comes from GoTrue schema ${p.authVersion}`);
    else if (olderAuth(t.auth, p.authVersion)) problems.push(`the target's GoTrue schema is ${t.auth}, older than the backup's ${p.authVersion}`);
  }
  if (schemas.has("storage") && p.storageVersion !== null) {
    if (t.storage === null) problems.push(`the target has no Storage schema (storage.migrations), the backup comes from Storage migration ${p.storageVersion}`);
    else if (t.storage < p.storageVersion) problems.push(`the target's Storage schema is at migration ${t.storage}, older than the backup's ${p.storageVersion}`);
  }
  if (problems.length > 0) {
    failCheck(checks, "platform_version", "target", problems.join("; "),
      "Restore into a project on the same or a newer Supabase release (upgrade the target's Auth and Storage first), or leave the platform tables out (--schema).");
  }
  checks.push(check("platform_version", "ok", "target",
    `target GoTrue ${t.auth ?? "-"} and Storage ${t.storage ?? "-"}, backup from GoTrue ${p.authVersion ?? "-"} and Storage ${p.storageVersion ?? "-"}`));
}

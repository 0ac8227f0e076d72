/**
 * The finalize script, run after post-data: sequence values as of the snapshot, refresh of
 * materialized views (post-data creates them empty), and ANALYZE.
 * @module
 */
import type { SequenceInfo } from "./catalog.ts";
import { qualified, quoteLiteral } from "./ident.ts";
import type { TableRef } from "./selection.ts";

/**
 * Builds finalize.sql. ANALYZE names the restored tables: a bare ANALYZE would also try the
 * shared catalogs, which a non-superuser (the restorer on Supabase) gets a warning for each.
 */
export function finalizeScript(sequences: SequenceInfo[], matviews: TableRef[], tables: TableRef[]): string {
  const lines = ["-- Lifeboat finalize: sequence values, materialized views, statistics.", ""];
  for (const s of sequences) {
    if (s.lastValue === null) continue;
    lines.push(
      `SELECT pg_catalog.setval(${quoteLiteral(qualified(s.schema, s.name))}, ${s.lastValue}, ${s.isCalled});`,
    );
  }
  for (const m of matviews) lines.push(`REFRESH MATERIALIZED VIEW ${qualified(m.schema, m.name)};`);
  for (const t of [...tables, ...matviews]) lines.push(`ANALYZE ${qualified(t.schema, t.name)};`);
  lines.push("");
  return lines.join("\n");
}

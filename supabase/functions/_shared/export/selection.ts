/**
 * Which tables a backup holds: schema and table include/exclude rules, and the
 * Supabase-managed schemas that are left out by default.
 * @module
 */

/** A table by schema and name. */
export interface TableRef {
  schema: string;
  name: string;
}

/** Include/exclude rules; names are matched exactly (case-sensitive, as stored). */
export interface Selection {
  /** Only these schemas (default: every schema not excluded). */
  includeSchemas?: string[];
  /** Schemas to leave out, in addition to the managed ones. */
  excludeSchemas?: string[];
  /** Only these tables (a `tables` backup); each must exist. */
  tables?: TableRef[];
  /** Tables to leave out. */
  excludeTables?: TableRef[];
  /** Also copy GoTrue's short-lived tables (sessions, refresh tokens, flow state…). */
  includeAuthSessions?: boolean;
  /** Also copy GoTrue's audit log. */
  includeAuthAudit?: boolean;
  /** Also export the Vault secrets, decrypted inside the encrypted post-data (re-created on restore). */
  includeVault?: boolean;
}

/**
 * Parses `schema.table`, `table` (schema `public`) or quoted parts (`"My Schema"."a.b"`,
 * with `""` for a quote). Unquoted parts are taken as written, not folded to lower case.
 */
export function parseTableName(text: string): TableRef {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i <= s.length) {
    let part = "";
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error(`unterminated quote in table name '${text}'`);
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += s[i++];
      }
      if (i < s.length && s[i] !== ".") throw new Error(`unexpected text after a quoted name in '${text}'`);
    } else {
      const dot = parts.length === 0 ? s.indexOf(".", i) : -1; // only the first dot splits
      const end = dot === -1 ? s.length : dot;
      part = s.slice(i, end);
      i = end;
    }
    if (part === "") throw new Error(`empty name in table '${text}': write schema.table or table`);
    parts.push(part);
    if (i >= s.length) break;
    i++; // the dot
    if (parts.length === 2) throw new Error(`too many dots in table name '${text}': quote names that contain dots`);
  }
  if (parts.length === 1) return { schema: "public", name: parts[0] };
  return { schema: parts[0], name: parts[1] };
}

/** `schema.table` for messages. */
export function tableLabel(t: TableRef): string {
  const part = (p: string) => (/^[a-z_][a-z0-9_$]*$/.test(p) ? p : `"${p.replaceAll('"', '""')}"`);
  return `${part(t.schema)}.${part(t.name)}`;
}

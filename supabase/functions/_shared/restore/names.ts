/**
 * SQL identifiers: quoting, parsing qualified names out of DDL, and rewriting the schema of
 * chosen objects (for `--into-schema`).
 * @module
 */

/** A schema-qualified name. */
export interface QName {
  schema: string;
  name: string;
}

/** `schema.name` as a map key (unquoted, unambiguous enough for lookups). */
export function keyOf(q: QName): string {
  return `${q.schema}\u0000${q.name}`;
}

/** Human form: schema.name. */
export function display(q: QName): string {
  return `${q.schema}.${q.name}`;
}

/** Always-quoted identifier. */
export function quoteIdent(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

/** Identifier quoted only when needed, as Postgres' quote_ident does (keywords aside). */
export function quoteIdentMin(s: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(s) ? s : quoteIdent(s);
}

/** "schema"."name", always quoted. */
export function qualified(q: QName): string {
  return `${quoteIdent(q.schema)}.${quoteIdent(q.name)}`;
}

/** Regex source of one identifier (quoted or not). */
export const IDENT = `(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
/** Regex source of an optionally qualified name. */
export const QNAME = `${IDENT}(?:\\s*\\.\\s*${IDENT})?`;

/** The value of one identifier token. */
export function unquote(tok: string): string {
  return tok.startsWith('"') ? tok.slice(1, -1).replaceAll('""', '"') : tok.toLowerCase();
}

/** Splits a dotted name token into its identifiers. */
export function splitDotted(tok: string): string[] {
  const out: string[] = [];
  const re = new RegExp(IDENT, "y");
  let i = 0;
  while (i < tok.length) {
    while (tok[i] === " " || tok[i] === "." || tok[i] === "\n" || tok[i] === "\t") i++;
    re.lastIndex = i;
    const m = re.exec(tok);
    if (!m) break;
    out.push(unquote(m[0]));
    i = re.lastIndex;
  }
  return out;
}

/** Parses a (possibly unqualified) name token; unqualified names get `defaultSchema`. */
export function parseQName(tok: string, defaultSchema = "public"): QName {
  const parts = splitDotted(tok);
  return parts.length >= 2 ? { schema: parts[0], name: parts[1] } : { schema: defaultSchema, name: parts[0] };
}

/** Parses `schema.table` as typed by a user (unquoted parts are taken verbatim, not folded). */
export function parseUserTable(s: string): QName | null {
  const m = /^("(?:[^"]|"")+"|[^."]+)\.("(?:[^"]|"")+"|[^"]+)$/.exec(s.trim());
  if (!m) return null;
  const un = (t: string) => (t.startsWith('"') ? t.slice(1, -1).replaceAll('""', '"') : t);
  return { schema: un(m[1]), name: un(m[2]) };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Rewrites every schema-qualified reference to an object in `renames` (quoted or not, and
 * inside regclass literals such as nextval('public.seq')) to point into `intoSchema`.
 */
export function rewriteSchema(sql: string, renames: QName[], intoSchema: string): string {
  let out = sql;
  for (const q of renames) {
    const schemaForms = new Set([quoteIdent(q.schema), quoteIdentMin(q.schema)]);
    const nameForms = new Set([quoteIdent(q.name), quoteIdentMin(q.name)]);
    for (const s of schemaForms) {
      for (const n of nameForms) {
        const re = new RegExp(`(?<![A-Za-z0-9_$".])${escapeRe(s)}\\.${escapeRe(n)}(?![A-Za-z0-9_$"])`, "g");
        out = out.replace(re, `${quoteIdentMin(intoSchema)}.${quoteIdentMin(q.name)}`);
      }
    }
  }
  return out;
}

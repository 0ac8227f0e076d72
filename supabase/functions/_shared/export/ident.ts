/**
 * SQL text for identifiers, built client-side for the COPY statements that open each data
 * part (they must be valid psql input on their own, so no server round trip can be assumed).
 * @module
 */

/** A double-quoted SQL identifier: always quoted, so case, spaces and keywords survive. */
export function quoteIdent(name: string): string {
  if (name.includes("\u0000")) throw new Error("identifier contains a NUL byte");
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."name"`. */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** A standard-conforming SQL string literal ('…' with quotes doubled). */
export function quoteLiteral(value: string): string {
  if (value.includes("\u0000")) throw new Error("literal contains a NUL byte");
  return `'${value.replaceAll("'", "''")}'`;
}

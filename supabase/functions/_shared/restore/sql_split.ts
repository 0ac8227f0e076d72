/**
 * Splits a SQL script into statements, respecting quotes, dollar quotes, comments and
 * SQL-standard function bodies (`BEGIN ATOMIC … END`), so restore can pick, rewrite or skip
 * single statements of the schema scripts.
 * @module
 */

/** One statement of a script, without its trailing semicolon. */
export interface Statement {
  /** The statement text, leading comments removed. */
  text: string;
  /** Its position (0-based) in the script. */
  index: number;
}

/** Splits `script` into statements. Empty statements (only comments) are dropped. */
export function splitSql(script: string): Statement[] {
  const out: Statement[] = [];
  let start = 0;
  let i = 0;
  let atomic = false;
  const n = script.length;
  const push = (end: number) => {
    const text = stripLeadingComments(script.slice(start, end)).trim();
    if (text) out.push({ text, index: out.length });
    start = end + 1;
  };
  while (i < n) {
    const c = script[i];
    if (c === "-" && script[i + 1] === "-") {
      const nl = script.indexOf("\n", i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === "/" && script[i + 1] === "*") {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (script[i] === "/" && script[i + 1] === "*") (depth++, i += 2);
        else if (script[i] === "*" && script[i + 1] === "/") (depth--, i += 2);
        else i++;
      }
    } else if (c === "'") {
      // E'…' strings allow backslash escapes; standard strings only ''.
      const escapes = i > 0 && /[eE]/.test(script[i - 1]) && !/[A-Za-z0-9_$]/.test(script[i - 2] ?? " ");
      i++;
      while (i < n) {
        if (escapes && script[i] === "\\") i += 2;
        else if (script[i] === "'" && script[i + 1] === "'") i += 2;
        else if (script[i] === "'") break;
        else i++;
      }
      i++;
    } else if (c === '"') {
      i++;
      while (i < n) {
        if (script[i] === '"' && script[i + 1] === '"') i += 2;
        else if (script[i] === '"') break;
        else i++;
      }
      i++;
    } else if (c === "$" && !/[A-Za-z0-9_$]/.test(script[i - 1] ?? " ")) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 64));
      if (m) {
        const close = script.indexOf(m[0], i + m[0].length);
        i = close < 0 ? n : close + m[0].length;
      } else i++;
    } else if (/[A-Za-z_]/.test(c) && !/[A-Za-z0-9_$]/.test(script[i - 1] ?? " ")) {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(script.slice(i, i + 64))!;
      const word = m[0].toLowerCase();
      if (!atomic && word === "begin" && /^begin\s+atomic\b/i.test(script.slice(i, i + 32))) atomic = true;
      else if (atomic && word === "end" && /^end\s*;/i.test(script.slice(i, i + 32))) {
        atomic = false;
        const semi = script.indexOf(";", i);
        i = semi;
        push(semi);
        i = semi + 1;
        continue;
      }
      i += m[0].length;
    } else if (c === ";" && !atomic) {
      push(i);
      i++;
    } else i++;
  }
  push(n);
  return out;
}

/** Removes comments and blank space before the first token. */
export function stripLeadingComments(s: string): string {
  let t = s;
  for (;;) {
    const before = t;
    t = t.replace(/^\s+/, "");
    if (t.startsWith("--")) {
      const nl = t.indexOf("\n");
      t = nl < 0 ? "" : t.slice(nl + 1);
    } else if (t.startsWith("/*")) {
      // Block comments nest in SQL.
      let depth = 0;
      let i = 0;
      while (i < t.length) {
        if (t.startsWith("/*", i)) (depth++, i += 2);
        else if (t.startsWith("*/", i)) {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else i++;
      }
      t = t.slice(i);
    }
    if (t === before) return t;
  }
}

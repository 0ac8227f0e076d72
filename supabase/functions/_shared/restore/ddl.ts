/**
 * Classifies the statements of the schema scripts (pre-data, post-data, finalize) by the
 * object they create or act on, and selects and rewrites them for partial restores.
 * @module
 */
import { display, IDENT, keyOf, parseQName, type QName, QNAME, rewriteSchema } from "./names.ts";
import type { Statement } from "./sql_split.ts";

/** What a statement does, as far as restore needs to know. */
export type StatementKind =
  | "set" | "schema" | "extension" | "global" | "sequence" | "table" | "alter_table" | "fk" | "index"
  | "trigger" | "policy" | "rule" | "view" | "matview" | "comment" | "grant" | "setval" | "refresh"
  | "analyze" | "publication" | "cron" | "index_attach" | "other";

/** A classified statement. */
export interface DdlStatement extends Statement {
  kind: StatementKind;
  /** The table (or sequence, view, schema) the statement creates or acts on. */
  target?: QName;
  /** For `fk`: the referenced table. For a partition: its parent. For an owned sequence: its table. */
  related?: QName;
}

const q = (re: string) => new RegExp(re, "i");
const QN = `(${QNAME})`;
const NOT_EXISTS = `(?:if\\s+not\\s+exists\\s+)?`;

/** Classifies one statement. */
export function classify(st: Statement): DdlStatement {
  const t = st.text;
  const m = (re: RegExp) => re.exec(t);
  let r: RegExpExecArray | null;
  const out = (kind: StatementKind, target?: string, related?: string): DdlStatement => ({
    ...st,
    kind,
    target: target ? parseQName(target) : undefined,
    related: related ? parseQName(related) : undefined,
  });
  if (/^(set|reset)\s/i.test(t) || /^select\s+pg_catalog\.set_config\s*\(/i.test(t)) return out("set");
  if ((r = m(q(`^create\\s+schema\\s+${NOT_EXISTS}(${IDENT})`)))) return { ...st, kind: "schema", target: { schema: parseQName(r[1]).name, name: "" } };
  if (/^create\s+extension\s/i.test(t) || /^alter\s+extension\s/i.test(t)) return out("extension");
  if ((r = m(q(`^create\\s+(?:(?:global|local)\\s+)?(?:temporary\\s+|temp\\s+|unlogged\\s+)?table\\s+${NOT_EXISTS}${QN}`)))) {
    const part = q(`\\bpartition\\s+of\\s+${QN}`).exec(t);
    return out("table", r[1], part?.[1]);
  }
  if ((r = m(q(`^create\\s+(?:(?:temporary|temp|unlogged)\\s+)?sequence\\s+${NOT_EXISTS}${QN}`)))) return out("sequence", r[1]);
  if ((r = m(q(`^alter\\s+sequence\\s+(?:if\\s+exists\\s+)?${QN}`)))) {
    const owned = q(`\\bowned\\s+by\\s+(${IDENT}\\s*\\.\\s*${IDENT})\\s*\\.\\s*${IDENT}`).exec(t);
    return out("sequence", r[1], owned?.[1]);
  }
  if ((r = m(q(`^alter\\s+table\\s+(?:if\\s+exists\\s+)?(?:only\\s+)?${QN}`)))) {
    const ref = q(`\\bforeign\\s+key\\b[\\s\\S]*?\\breferences\\s+${QN}`).exec(t);
    if (ref) return out("fk", r[1], ref[1]);
    const attach = q(`\\battach\\s+partition\\s+${QN}`).exec(t);
    return out("alter_table", r[1], attach?.[1]);
  }
  if ((r = m(q(`^alter\\s+index\\s+(?:if\\s+exists\\s+)?${QN}\\s+attach\\s+partition\\s+${QN}`)))) return out("index_attach", r[1], r[2]);
  if ((r = m(q(`^create\\s+(?:unique\\s+)?index\\s+(?:concurrently\\s+)?${NOT_EXISTS}(?:${IDENT}\\s+)?on\\s+(?:only\\s+)?${QN}`)))) {
    return out("index", r[1]);
  }
  if (/^create\s+(?:or\s+replace\s+)?(?:constraint\s+)?trigger\s/i.test(t)) {
    r = q(`\\s(?:on)\\s+${QN}\\s+(?:from|not|deferrable|initially|referencing|for|when|execute)\\b`).exec(t);
    return out("trigger", r?.[1]);
  }
  if ((r = m(q(`^create\\s+policy\\s+${IDENT}\\s+on\\s+${QN}`)))) return out("policy", r[1]);
  if ((r = m(q(`^alter\\s+policy\\s+${IDENT}\\s+on\\s+${QN}`)))) return out("policy", r[1]);
  // Policies on platform tables are replaced: drop if exists, then create.
  if ((r = m(q(`^drop\\s+policy\\s+(?:if\\s+exists\\s+)?${IDENT}\\s+on\\s+${QN}`)))) return out("policy", r[1]);
  if ((r = m(q(`^create\\s+(?:or\\s+replace\\s+)?rule\\s+${IDENT}\\s+as\\s+on\\s+\\w+\\s+to\\s+${QN}`)))) return out("rule", r[1]);
  if ((r = m(q(`^create\\s+materialized\\s+view\\s+${NOT_EXISTS}${QN}`)))) return out("matview", r[1]);
  if ((r = m(q(`^create\\s+(?:or\\s+replace\\s+)?(?:(?:temp|temporary|recursive)\\s+)?view\\s+${QN}`)))) return out("view", r[1]);
  if ((r = m(q(`^alter\\s+(?:materialized\\s+)?view\\s+(?:if\\s+exists\\s+)?${QN}`)))) {
    return out(/^alter\s+materialized/i.test(t) ? "matview" : "view", r[1]);
  }
  if ((r = m(q(`^refresh\\s+materialized\\s+view\\s+(?:concurrently\\s+)?${QN}`)))) return out("refresh", r[1]);
  if (/^comment\s+on\s/i.test(t)) {
    if ((r = m(q(`^comment\\s+on\\s+column\\s+(${IDENT}\\s*\\.\\s*${IDENT})\\s*\\.\\s*${IDENT}\\s+is\\b`)))) return out("comment", r[1]);
    if ((r = m(q(`^comment\\s+on\\s+(?:table|sequence|foreign\\s+table)\\s+${QN}\\s+is\\b`)))) return out("comment", r[1]);
    if ((r = m(q(`^comment\\s+on\\s+(?:constraint|trigger|policy|rule)\\s+${IDENT}\\s+on\\s+(?:domain\\s+)?${QN}\\s+is\\b`)))) {
      return out("comment", r[1]);
    }
    if ((r = m(q(`^comment\\s+on\\s+(?:materialized\\s+view|view)\\s+${QN}\\s+is\\b`)))) return out("comment", r[1]);
    if ((r = m(q(`^comment\\s+on\\s+index\\s+${QN}\\s+is\\b`)))) return { ...out("comment"), related: parseQName(r[1]) };
    return out("comment");
  }
  if (/^(grant|revoke)\s/i.test(t)) {
    if ((r = m(q(`\\son\\s+(?:table\\s+|sequence\\s+)?(?!schema\\b|function\\b|procedure\\b|routine\\b|type\\b|domain\\b|all\\b|database\\b|language\\b|foreign\\b|large\\b|tablespace\\b)${QN}\\s+(?:to|from)\\b`)))) {
      return out("grant", r[1]);
    }
    return out("grant");
  }
  if ((r = m(q(`^select\\s+(?:pg_catalog\\.)?setval\\s*\\(\\s*'((?:[^']|'')+)'`)))) return out("setval", r[1].replaceAll("''", "'"));
  if (/^analyze\b/i.test(t) || /^vacuum\b/i.test(t)) {
    r = q(`^(?:analyze|vacuum)\\s+(?:\\([^)]*\\)\\s+)?(?:verbose\\s+)?${QN}`).exec(t);
    return out("analyze", r?.[1]);
  }
  if (/^(create|alter)\s+publication\s/i.test(t)) return out("publication");
  if (/^select\s+cron\./i.test(t) || /\bcron\.schedule\b/i.test(t)) return out("cron");
  if (/^(create|alter|drop)\s/i.test(t) || /^do\s/i.test(t)) return out("global");
  return out("other");
}

/** Classifies every statement of a script. */
export function classifyAll(stmts: Statement[]): DdlStatement[] {
  return stmts.map(classify);
}

/** What a partial restore keeps and why it left things out. */
export interface PartialPlan {
  /** Tables restored, including partitions of chosen partitioned tables. */
  tables: QName[];
  /** Sequences that belong to the restored tables. */
  sequences: QName[];
  /** FKs skipped: table → missing or foreign parents. */
  skippedFks: { table: QName; parent: QName; reason: string }[];
  /** Counts of statements left out by kind (views, publications…). */
  skipped: Record<string, number>;
}

/**
 * Computes the closure of a partial selection over the schema scripts (`withParents`: a chosen
 * partition brings its parent, and so its siblings, for restores that must write only into
 * `intoSchema`): partitions follow their parents, sequences follow the tables that own or use them.
 */
export function closeSelection(
  chosen: QName[],
  pre: DdlStatement[],
  withParents = false,
): { tables: QName[]; sequences: QName[] } {
  const selected = new Map(chosen.map((t) => [keyOf(t), t]));
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of pre) {
      if (s.kind !== "table" || !s.target || !s.related) continue;
      if (selected.has(keyOf(s.related)) && !selected.has(keyOf(s.target))) {
        selected.set(keyOf(s.target), s.target);
        grew = true;
      } else if (withParents && selected.has(keyOf(s.target)) && !selected.has(keyOf(s.related))) {
        // A partition alone would be created as a partition of the original parent.
        selected.set(keyOf(s.related), s.related);
        grew = true;
      }
    }
  }
  const seqs = new Map<string, QName>();
  for (const s of pre) {
    if (s.kind === "sequence" && s.target && s.related && selected.has(keyOf(s.related))) seqs.set(keyOf(s.target), s.target);
    if (s.kind === "table" && s.target && selected.has(keyOf(s.target))) {
      // Identity columns name their sequence inline: (sequence name schema.seq ...).
      for (const mm of s.text.matchAll(new RegExp(`\\bsequence\\s+name\\s+(${QNAME})`, "gi"))) {
        const qn = parseQName(mm[1]);
        seqs.set(keyOf(qn), qn);
      }
      for (const mm of s.text.matchAll(/nextval\('((?:[^']|'')+)'/gi)) {
        const qn = parseQName(mm[1].replaceAll("''", "'"));
        seqs.set(keyOf(qn), qn);
      }
    }
  }
  return { tables: [...selected.values()], sequences: [...seqs.values()] };
}

/** A statement as it will be executed: possibly rewritten, possibly allowed to find its object existing. */
export interface PlannedStatement {
  sql: string;
  kind: StatementKind;
  /** Run in a savepoint and skip when the object already exists (create-if-missing). */
  tolerateExisting: boolean;
  /** Run in a savepoint and turn a failure into a warning instead of failing the restore. */
  optional?: string;
  label: string;
  /** The object the statement acts on, under its source name. */
  target?: QName;
}

function label(s: DdlStatement): string {
  const head = s.text.replace(/\s+/g, " ").slice(0, 90);
  return `${s.kind}${s.target ? ` ${display(s.target)}` : ""}: ${head}`;
}

/** Makes create statements of shared objects create-if-missing rather than fail or replace. */
function createIfMissing(sql: string): string {
  return sql
    .replace(/^create\s+schema\s+(?!if\s+not\s+exists)/i, "create schema if not exists ")
    .replace(/^create\s+extension\s+(?!if\s+not\s+exists)/i, "create extension if not exists ");
}

/** Plans a whole-backup script: every statement, schemas and extensions create-if-missing. */
export function planWhole(stmts: DdlStatement[], clean: boolean): PlannedStatement[] {
  return stmts.map((s) => ({
    sql: createIfMissing(s.text),
    kind: s.kind,
    // With --clean the target may still hold shared objects (types, functions, publications)
    // the backup also has; those are kept, not replaced.
    tolerateExisting: clean && (s.kind === "global" || s.kind === "publication"),
    label: label(s),
    target: s.target,
  }));
}

/** Options for {@linkcode planPartial}. */
export interface PartialOptions {
  tables: QName[];
  sequences: QName[];
  intoSchema?: string;
  /** Skip schemas, extensions and shared objects: write only the chosen tables (into `intoSchema`). */
  scratchOnly?: boolean;
  /** Tables that exist in the target (to tell FK parents that are there from missing ones). */
  targetHas: (t: QName) => boolean;
}

/** Plans a script of a partial restore: only what belongs to the chosen tables, rewritten. */
export function planPartial(
  stmts: DdlStatement[],
  o: PartialOptions,
  plan: PartialPlan,
): PlannedStatement[] {
  const tables = new Set(o.tables.map(keyOf));
  const seqs = new Set(o.sequences.map(keyOf));
  const renames = o.intoSchema ? [...o.tables, ...o.sequences] : [];
  const rw = (sql: string) => (o.intoSchema ? rewriteSchema(sql, renames, o.intoSchema) : sql);
  // Indexes of the chosen tables (named in CREATE INDEX or ADD CONSTRAINT, in the table's
  // schema): partitioned indexes are attached by name, and move with --into-schema.
  const indexes = new Map<string, QName>();
  for (const st of stmts) {
    if (!st.target || !tables.has(keyOf(st.target))) continue;
    const im = st.kind === "index"
      ? new RegExp(`^create\\s+(?:unique\\s+)?index\\s+(?:concurrently\\s+)?(?:if\\s+not\\s+exists\\s+)?(${IDENT})\\s+on\\b`, "i").exec(st.text)
      : st.kind === "alter_table"
      ? new RegExp(`\\badd\\s+constraint\\s+(${IDENT})\\s+(?:primary\\s+key|unique|exclude)\\b`, "i").exec(st.text)
      : null;
    if (im) {
      const qn = { schema: st.target.schema, name: parseQName(im[1]).name };
      indexes.set(keyOf(qn), qn);
    }
  }
  if (o.intoSchema) renames.push(...indexes.values());
  const out: PlannedStatement[] = [];
  const skip = (kind: string) => (plan.skipped[kind] = (plan.skipped[kind] ?? 0) + 1);
  const on = (s: DdlStatement) => !!s.target && (tables.has(keyOf(s.target)) || seqs.has(keyOf(s.target)));
  for (const s of stmts) {
    const base = { kind: s.kind, label: label(s), tolerateExisting: false, target: s.target };
    switch (s.kind) {
      case "set":
        out.push({ ...base, sql: s.text });
        break;
      case "schema":
      case "extension":
      case "global":
        if (o.scratchOnly) {
          skip(s.kind);
          break;
        }
        if (s.kind !== "schema") {
          out.push(...shared(s, base, skip));
          break;
        }
        // Every schema, create-if-missing: extensions and shared types may live in any of them.
        out.push({ ...base, sql: createIfMissing(s.text), tolerateExisting: true });
        break;
      case "table":
      case "sequence":
      case "alter_table":
      case "index":
      case "trigger":
      case "policy":
      case "rule":
      case "comment":
      case "grant":
      case "setval":
        if (on(s)) {
          if (s.kind === "alter_table" && s.related && !tables.has(keyOf(s.related))) {
            skip("attach partition");
            break;
          }
          out.push({ ...base, sql: rw(s.text) });
        }
        break;
      case "index_attach":
        if (s.target && indexes.has(keyOf(s.target))) out.push({ ...base, sql: rw(s.text) });
        break;
      case "fk":
        if (!s.target || !tables.has(keyOf(s.target))) break;
        if (s.related && tables.has(keyOf(s.related))) {
          out.push({ ...base, sql: rw(s.text) });
        } else if (s.related && !o.intoSchema && o.targetHas(s.related)) {
          out.push({ ...base, sql: s.text, optional: `foreign key of ${display(s.target)} to ${display(s.related)}` });
        } else if (s.related) {
          plan.skippedFks.push({
            table: s.target,
            parent: s.related,
            reason: o.intoSchema ? "the parent is not restored into the new schema" : "the parent table is missing in the target",
          });
        }
        break;
      case "analyze":
        if (s.target && tables.has(keyOf(s.target))) out.push({ ...base, sql: rw(s.text) });
        else if (!s.target) {
          for (const t of o.tables) out.push({ ...base, sql: rw(`analyze ${quoteQ(t)}`) });
        }
        break;
      default:
        skip(s.kind);
    }
  }
  return out;
}

/**
 * Types, domains, functions the tables may need: created when missing, never replaced, and
 * nothing else about shared objects (owners, alterations) is touched.
 */
function shared(
  s: DdlStatement,
  base: Omit<PlannedStatement, "sql">,
  skip: (kind: string) => void,
): PlannedStatement[] {
  if (!/^create\s/i.test(s.text)) {
    skip(s.kind);
    return [];
  }
  // Best effort: a shared object that needs what the partial restore leaves out is reported.
  return [{
    ...base, sql: createIfMissing(s.text.replace(/^create\s+or\s+replace\s+/i, "create ")), tolerateExisting: true,
    optional: s.kind === "global" ? `shared object (${s.text.replace(/\s+/g, " ").slice(0, 60)})` : undefined,
  }];
}

function quoteQ(t: QName): string {
  return `"${t.schema.replaceAll('"', '""')}"."${t.name.replaceAll('"', '""')}"`;
}

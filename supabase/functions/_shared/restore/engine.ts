/**
 * The restore engine behind `lifeboat restore` and `lifeboat drill`: a Lifeboat backup,
 * whole or in part, into a target database, in pg_restore's order (roles, pre-data, data in
 * parallel, post-data, finalize), with every object's sha256 checked and every problem found
 * by pre-flight before anything is written, and ending with the fingerprints of the restored
 * tables compared with the manifest. Like pg_restore, a table's index builds start as soon as
 * its rows are in, while other tables still load; its ANALYZE and fingerprint follow them.
 * @module
 */
import { AgeKeyError } from "../crypto/mod.ts";
import type { Sql } from "../db/mod.ts";
import type { Manifest, TableEntry } from "../format/manifest.ts";
import type { Store } from "../store/types.ts";
import { identityMatches } from "../verify/access.ts";
import { type Check, check, summarize, type Summary } from "../checks.ts";
import { checkIntegrity } from "../verify/integrity.ts";
import { BackupError, latestBackupId, readManifest } from "../verify/locate.ts";
import { classifyAll, closeSelection, type PartialPlan, type PlannedStatement, planPartial, planWhole } from "./ddl.ts";
import { fingerprintAlgorithm, Fingerprinter, sameFingerprint } from "./fingerprint.ts";
import { type LoadProgress, type LoadUnit, loadUnit, newProgress, type PartTask, planLoadUnits } from "./load.ts";
import { display, keyOf, type QName, qualified, quoteIdent } from "./names.ts";
import { extensionsCreated, preflight, rolesIn } from "./preflight.ts";
import { planWork } from "./pipeline.ts";
import { runScheduled } from "./schedule.ts";
import { type BackupScripts, readScripts } from "./scripts.ts";
import { splitSql } from "./sql_split.ts";

/** Restore phases, in order. */
export type Phase = "manifest" | "verify" | "preflight" | "roles" | "pre-data" | "data" | "post-data" | "finalize" | "check";

/** Progress events for a progress bar or JSON lines. */
export type RestoreEvent =
  | { event: "phase"; phase: Phase; detail?: string }
  | ({ event: "data" } & LoadProgress);

/** What to restore, from where, into what. */
export interface RestoreOptions {
  store: Store;
  /** Backup id; null = the latest complete backup. */
  id: string | null;
  identities: string[] | null;
  /** The target; its pool needs at least `jobs + 1` connections. */
  target: Sql;
  /** Partial restore: whole schemas. */
  schemas?: string[];
  /** Partial restore: single tables. */
  tables?: QName[];
  /** Restore the chosen tables into this schema instead of their own. */
  intoSchema?: string;
  /** Drop and replace the objects being restored when they exist. */
  clean?: boolean;
  /** Parallel COPY workers (default 2). */
  jobs?: number;
  /** Stop after pre-flight. */
  preflightOnly?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent) => void;
}

/** One restored table's outcome. */
export interface TableResult {
  source: string;
  target: string;
  rows: number;
  fingerprint: "match" | "mismatch" | "unavailable";
}

/** A restore's outcome. */
export interface RestoreReport {
  backupId: string | null;
  passed: boolean;
  /** Whether anything was written to the target. */
  wrote: boolean;
  summary: Summary;
  checks: Check[];
  tables: TableResult[];
  /** Milliseconds per phase. */
  timings: Partial<Record<Phase, number>>;
  rows: number;
  bytes: number;
}

class Abort extends Error {}

/** Restores a backup. Problems become error checks; it throws only on programming errors. */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreReport> {
  const checks: Check[] = [];
  const timings: Partial<Record<Phase, number>> = {};
  const tables: TableResult[] = [];
  const jobs = Math.max(1, o.jobs ?? 2);
  let wrote = false;
  let manifest: Manifest | undefined;
  let id = o.id;
  let rows = 0;
  let bytes = 0;
  let t0 = performance.now();
  const phase = (p: Phase, detail?: string) => {
    t0 = performance.now();
    o.onEvent?.({ event: "phase", phase: p, detail });
  };
  const done = (p: Phase) => (timings[p] = Math.round(performance.now() - t0));
  const fail = (name: string, object: string, detail: string, remediation: string): never => {
    checks.push(check(name, "error", object, detail, remediation));
    throw new Abort(detail);
  };
  try {
    // --- the backup ---------------------------------------------------------------------------
    phase("manifest");
    try {
      if (!id) id = await latestBackupId(o.store, o.signal);
      manifest = await readManifest(o.store, id, o.signal);
    } catch (err) {
      if (err instanceof BackupError) {
        fail("manifest", id ?? "store", err.message, "Choose a complete backup (lifeboat verify --latest).");
      }
      fail("manifest", id ?? "store", `cannot read the backup: ${(err as Error).message}`, "Check --store and its credentials.");
    }
    const m = manifest!;
    const encrypted = m.encryption.scheme !== "none";
    if (encrypted && !o.identities?.length) {
      fail("identity", m.id, "the backup is encrypted and no identity was given", "Pass --identity <age identity file>.");
    }
    if (encrypted && !(await identityMatches(m, o.identities!))) {
      fail(
        "identity",
        m.id,
        `the given identity is not one of the backup's ${m.encryption.recipients.length} recipients: it cannot decrypt it`,
        "Use the age identity file whose recipient (age1…) is listed in the manifest; nothing was written.",
      );
    }
    done("manifest");

    // --- what to restore ----------------------------------------------------------------------
    const partial = (o.schemas?.length ?? 0) > 0 || (o.tables?.length ?? 0) > 0;
    const byKey = new Map(m.tables.map((t) => [keyOf(t), t]));
    const chosen: QName[] = [];
    if (partial) {
      for (const s of o.schemas ?? []) {
        const inSchema = m.tables.filter((t) => t.schema === s);
        if (inSchema.length === 0) {
          fail(
            "selection",
            s,
            `the backup has no table in schema ${s}`,
            `Schemas in the backup: ${[...new Set(m.tables.map((t) => t.schema))].join(", ")}.`,
          );
        }
        chosen.push(...inSchema);
      }
      // Partitioned parents of chosen schemas are added once pre-data is read.
      // Tables are checked against the backup once pre-data is read (partitioned parents hold
      // no rows, so only pre-data knows them).
      chosen.push(...(o.tables ?? []));
    }
    if (o.intoSchema && !partial) {
      fail("selection", o.intoSchema, "--into-schema needs --table or --schema", "Choose the tables to restore side by side.");
    }

    // --- integrity of everything about to be read, before anything is written ------------------
    phase("verify");
    const scriptsKeys = m.objects.filter((x) => x.kind !== "data");
    // The closure is computed after reading pre-data; verify all schema objects and, for now,
    // the parts of the chosen tables (their partitions' parts are checked below).
    const integ = await checkIntegrity(o.store, { ...m, objects: scriptsKeys }, { signal: o.signal, concurrency: jobs + 2 });
    if (integ.verdicts.some((v) => !v.ok)) {
      checks.push(...integ.checks.filter((c) => c.level === "error"));
      throw new Abort("schema objects failed verification");
    }
    let scripts: BackupScripts;
    try {
      scripts = await readScripts(o.store, m, encrypted ? o.identities : null, o.signal);
    } catch (err) {
      fail(
        "identity",
        m.id,
        err instanceof AgeKeyError ? err.message : `the schema scripts cannot be read: ${(err as Error).message}`,
        "Use the identity of one of the backup's recipients; nothing was written.",
      );
    }
    const pre = classifyAll(splitSql(scripts!.preData));
    const post = classifyAll(splitSql(scripts!.postData));
    const fin = classifyAll(splitSql(scripts!.finalize));
    let restoreTables: TableEntry[];
    let planPre: PlannedStatement[], planPost: PlannedStatement[], planFin: PlannedStatement[];
    const partialPlan: PartialPlan = { tables: [], sequences: [], skippedFks: [], skipped: {} };
    let mapTarget = (t: QName): QName => t;
    if (partial) {
      const known = new Set([
        ...m.tables.map(keyOf),
        ...pre.filter((x) => x.kind === "table" && x.target).map((x) => keyOf(x.target!)),
      ]);
      for (const t of o.tables ?? []) {
        if (!known.has(keyOf(t))) {
          fail(
            "selection",
            display(t),
            `the backup has no table ${display(t)}`,
            "Check the name (schema.table, case-sensitive); 'lifeboat verify --json' lists the backup's tables.",
          );
        }
      }
      for (const x of pre) {
        if (x.kind === "table" && x.target && o.schemas?.includes(x.target.schema)) chosen.push(x.target);
      }
      const closed = closeSelection(chosen, pre);
      restoreTables = closed.tables.map((t) => byKey.get(keyOf(t))).filter((t): t is TableEntry => !!t);
      // Partitioned parents have no rows of their own and may be absent from manifest.tables.
      partialPlan.tables = closed.tables;
      partialPlan.sequences = closed.sequences;
      if (o.intoSchema) {
        const names = new Map<string, QName>();
        for (const t of [...closed.tables, ...closed.sequences]) {
          const prev = names.get(t.name);
          if (prev && prev.schema !== t.schema) {
            fail(
              "selection",
              t.name,
              `${display(prev)} and ${display(t)} would both become ${o.intoSchema}.${t.name}`,
              "Restore them in two runs with different --into-schema names.",
            );
          }
          names.set(t.name, t);
        }
        mapTarget = (t) => ({ schema: o.intoSchema!, name: t.name });
      }
      const targetTables = new Set((await o.target<{ schema: string; name: string }[]>`
        select n.nspname as schema, c.relname as name from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p')`).map(keyOf));
      const popts = {
        tables: closed.tables,
        sequences: closed.sequences,
        intoSchema: o.intoSchema,
        targetHas: (t: QName) => targetTables.has(keyOf(t)),
      };
      planPre = planPartial(pre, popts, partialPlan);
      planPost = planPartial(post, popts, partialPlan);
      planFin = planPartial(fin, popts, partialPlan);
    } else {
      restoreTables = m.tables;
      planPre = planWhole(pre, !!o.clean);
      planPost = planWhole(post, !!o.clean);
      planFin = planWhole(fin, !!o.clean);
    }
    const tasks: PartTask[] = [];
    const objByKey = new Map(m.objects.map((x) => [x.key, x]));
    for (const t of restoreTables) {
      for (const k of t.parts) tasks.push({ table: t, object: objByKey.get(k)!, target: mapTarget(t) });
    }
    const dataInteg = await checkIntegrity(o.store, { ...m, objects: tasks.map((t) => t.object) }, {
      signal: o.signal,
      concurrency: jobs + 2,
    });
    if (dataInteg.verdicts.some((v) => !v.ok)) {
      checks.push(...dataInteg.checks.filter((c) => c.level === "error"));
      throw new Abort("data parts failed verification");
    }
    checks.push(
      check("integrity", "ok", m.id, `${scriptsKeys.length + tasks.length} objects verified (size and sha256) before writing`),
    );
    done("verify");

    // --- pre-flight ---------------------------------------------------------------------------
    phase("preflight");
    const relations = new Map<string, QName>();
    const addRel = (q?: QName) => q && relations.set(keyOf(q), q);
    for (const t of restoreTables) addRel(mapTarget(t));
    for (const s of [...pre, ...post]) {
      if (!s.target) continue;
      const inSel = !partial || partialPlan.tables.some((t) => keyOf(t) === keyOf(s.target!)) ||
        partialPlan.sequences.some((t) => keyOf(t) === keyOf(s.target!));
      if (!inSel) continue;
      if (s.kind === "table" || s.kind === "sequence" || (!partial && (s.kind === "view" || s.kind === "matview"))) {
        addRel(mapTarget(s.target));
      }
    }
    const targetSchemas = new Set<string>([...relations.values()].map((r) => r.schema));
    if (!partial) { for (const s of pre) if (s.kind === "schema" && s.target) targetSchemas.add(s.target.schema); }
    const pf = await preflight(o.target, {
      manifest: m,
      extensions: extensionsCreated(partial ? pre.filter((s) => /^create\s/i.test(s.text)) : pre),
      roles: [...new Set([...rolesIn(scripts!.roles), ...m.roles.passwordsNotExported])],
      schemas: [...targetSchemas],
      relations: [...relations.values()],
      statements: [...planPre, ...planPost].map((p) => p.sql),
      jobs,
      clean: !!o.clean,
    });
    checks.push(...pf.checks);
    for (const f of partialPlan.skippedFks) {
      checks.push(
        check(
          "fk_parent",
          "warn",
          display(mapTarget(f.table)),
          `foreign key to ${display(f.parent)} not created: ${f.reason}`,
          `Restore ${
            display(f.parent)
          } too (--table ${f.parent.schema}.${f.parent.name}), or check the rows by hand before copying them back.`,
          { parent: display(f.parent) },
        ),
      );
    }
    const skippedKinds = Object.entries(partialPlan.skipped).filter(([k]) =>
      ["view", "matview", "publication", "cron", "refresh"].includes(k)
    );
    if (partial && skippedKinds.length > 0) {
      checks.push(
        check(
          "partial_scope",
          "ok",
          "target",
          `a partial restore leaves out ${skippedKinds.map(([k, n]) => `${n} ${k}`).join(", ")} statements`,
          "",
          partialPlan.skipped,
        ),
      );
    }
    if (pf.checks.some((c) => c.level === "error")) throw new Abort("pre-flight failed");
    // Skipped platform extensions: their CREATE EXTENSION is left out, and what uses them
    // (pg_cron jobs) is attempted but may fail softly.
    const skipExt = new Set(pf.skipExtensions);
    const extName = (sql: string) =>
      /^create\s+extension\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|\S+)/i.exec(sql)?.[1]?.replace(/^"|"$/g, "");
    planPre = planPre.filter((p) => !(p.kind === "extension" && skipExt.has(extName(p.sql) ?? "")));
    if (skipExt.has("pg_cron")) {
      for (const p of [...planPre, ...planPost, ...planFin]) if (p.kind === "cron") p.optional = "pg_cron job";
    }
    done("preflight");
    if (o.preflightOnly) return finish();

    // --- roles, pre-data ----------------------------------------------------------------------
    phase("roles");
    if (scripts!.roles.trim()) {
      await runStatements(
        o.target,
        classifyAll(splitSql(scripts!.roles)).map((s) => ({
          sql: s.text,
          kind: s.kind,
          tolerateExisting: true,
          label: `role: ${s.text.slice(0, 60)}`,
        })),
        "roles",
        checks,
        false,
      );
    }
    done("roles");
    phase("pre-data");
    // Roles are created only when missing; the target counts as written from pre-data on.
    await o.target.begin(async (tx) => {
      if (o.clean && pf.existing.length > 0) await dropExisting(tx as unknown as Sql, pf.existing);
      if (o.intoSchema) await tx.unsafe(`create schema if not exists ${quoteIdent(o.intoSchema)}`);
      await runStatements(tx as unknown as Sql, planPre, "pre-data", checks, true);
    });
    wrote = true;
    done("pre-data");

    // --- data, and each table's indexes, ANALYZE and fingerprint as soon as its rows are in --
    // pg_restore's order per table (rows, then that table's index builds); what spans tables
    // (foreign keys, triggers, policies, grants…) waits for every table, below.
    phase("data", `${tasks.length} parts`);
    const restoredKeys = new Set(restoreTables.map((t) => keyOf(mapTarget(t))));
    const { perTable, rest: serial } = splitPerTable(planPost, restoredKeys, mapTarget, isIndexBuild);
    const { perTable: analyzes, rest: planFinRest } = splitPerTable(planFin, restoredKeys, mapTarget, (p) => p.kind === "analyze");
    const fingerprints = new Map<TableEntry, unknown>();
    const fpState = { mode: "", error: null as string | null };
    const progress = newProgress(tasks);
    const loadCtx = {
      store: o.store,
      manifest: m,
      identities: encrypted ? o.identities : null,
      target: o.target,
      onProgress: (p: LoadProgress) => o.onEvent?.({ event: "data", ...p }),
    };
    const units = new Map<string, LoadUnit[]>();
    for (const u of planLoadUnits(tasks, jobs)) {
      const k = keyOf(u.target);
      if (!units.has(k)) units.set(k, []);
      units.get(k)!.push(u);
    }
    const byTarget = new Map(restoreTables.map((t) => [keyOf(mapTarget(t)), t]));
    const items = planWork(
      restoreTables.map((t) => {
        const k = keyOf(mapTarget(t));
        return {
          key: k,
          loads: units.get(k) ?? [],
          builds: perTable.get(k) ?? [],
          analyze: analyzes.get(k) ?? [],
          fingerprint: t.fingerprint !== null && t.fingerprint !== undefined,
        };
      }),
      {
        load: (u, signal) => loadUnit(loadCtx, u, progress, signal),
        statements: (plan) => runBuilds(o.target, plan, checks),
        fingerprint: async (k) => {
          const t = byTarget.get(k)!;
          const fp = await fingerprintOf(o.target, mapTarget(t), fingerprintAlgorithm(t.fingerprint), fpState);
          if (fp !== undefined) fingerprints.set(t, fp);
        },
      },
    );
    await runScheduled(items, jobs, o.signal);
    rows = progress.rowsDone;
    bytes = progress.bytesDone;
    done("data");

    // --- post-data that spans tables, in the script's order --------------------------------
    phase("post-data");
    await o.target.begin(async (tx) => {
      await runStatements(tx as unknown as Sql, serial, "post-data", checks, true);
    });
    done("post-data");
    phase("finalize");
    await runStatements(o.target, planFinRest, "finalize", checks, false);
    done("finalize");

    // --- checks -------------------------------------------------------------------------------
    phase("check");
    await checkInvalidIndexes(o.target, [...targetSchemas], checks);
    reportFingerprints(restoreTables, mapTarget, fingerprints, fpState, tables, checks);
    done("check");
  } catch (err) {
    if (!(err instanceof Abort)) {
      const e = err as { message?: string };
      checks.push(
        check(
          "restore",
          "error",
          manifest?.id ?? id ?? "backup",
          `the restore stopped: ${e?.message ?? String(err)}`,
          wrote
            ? "The target holds a partial restore: restore again with --clean, or into a new empty database."
            : "Nothing was written to the target; fix the problem and run again.",
        ),
      );
    }
  }
  return finish();

  function finish(): RestoreReport {
    const summary = summarize(checks);
    return { backupId: manifest?.id ?? id, passed: summary.passed, wrote, summary, checks, tables, timings, rows, bytes };
  }
}

/** Runs planned statements one by one; savepoints let create-if-missing and optional ones fail softly. */
async function runStatements(sql: Sql, plan: PlannedStatement[], section: string, checks: Check[], inTx: boolean): Promise<void> {
  for (const p of plan) {
    const soft = p.tolerateExisting || p.optional;
    try {
      // postgres.js fails a whole transaction on any error it saw, even a caught one, unless the
      // statement ran inside its own savepoint() helper.
      if (soft && inTx) {
        await (sql as unknown as { savepoint: (f: (sp: Sql) => Promise<unknown>) => Promise<unknown> }).savepoint((sp) =>
          sp.unsafe(p.sql)
        );
      } else await sql.unsafe(p.sql);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const exists = ["42710", "42P07", "42723", "42P06", "42P04", "42P16", "42704"].includes(e.code ?? "") &&
        /already exists/i.test(e.message ?? "");
      if (p.tolerateExisting && (exists || !inTx)) continue;
      if (p.optional) {
        checks.push(
          check(
            "skipped_statement",
            "warn",
            p.optional,
            `not created: ${e.message ?? "failed"}`,
            p.kind === "fk"
              ? "Rows reference parents that are missing in the target: compare them by hand."
              : "Create it by hand once what it needs exists on the target.",
          ),
        );
        continue;
      }
      checks.push(
        check(
          section,
          "error",
          p.label.slice(0, 120),
          `failed: ${e.message ?? String(err)}${e.code ? ` (SQLSTATE ${e.code})` : ""}`,
          "Fix the cause (a missing role, extension or schema is the usual one), then restore again with --clean.",
        ),
      );
      throw new Abort(`${section} failed`);
    }
  }
}

/** Drops exactly the existing objects that are about to be restored (--clean). */
async function dropExisting(tx: Sql, existing: (QName & { relkind: string })[]): Promise<void> {
  const list = (kinds: string[]) => existing.filter((e) => kinds.includes(e.relkind)).map((e) => qualified(e)).join(", ");
  // Pre-flight made sure CASCADE reaches nothing outside the restore but functions and types,
  // which the schema scripts recreate. Views first, then tables (one statement, so FKs among
  // them are no obstacle), then sequences.
  const mv = list(["m"]), v = list(["v"]), t = list(["r", "p", "f"]), s = list(["S"]);
  if (mv) await tx.unsafe(`drop materialized view if exists ${mv} cascade`);
  if (v) await tx.unsafe(`drop view if exists ${v} cascade`);
  if (t) await tx.unsafe(`drop table if exists ${t} cascade`);
  if (s) await tx.unsafe(`drop sequence if exists ${s} cascade`);
}

/**
 * Splits a script's statements into those that act on one restored table and `moves` (keyed by
 * that table, in script order) and the rest, which keep the script's order.
 */
function splitPerTable(
  plan: PlannedStatement[],
  restored: Set<string>,
  mapTarget: (q: QName) => QName,
  moves: (p: PlannedStatement) => boolean,
): { perTable: Map<string, PlannedStatement[]>; rest: PlannedStatement[] } {
  const perTable = new Map<string, PlannedStatement[]>();
  const rest: PlannedStatement[] = [];
  for (const p of plan) {
    const k = p.target ? keyOf(mapTarget(p.target)) : "";
    if (p.target && !p.optional && !p.tolerateExisting && restored.has(k) && moves(p)) {
      perTable.set(k, [...(perTable.get(k) ?? []), p]);
    } else rest.push(p);
  }
  return { perTable, rest };
}

/**
 * Whether a post-data statement is an index build (CREATE INDEX, ADD PRIMARY KEY / UNIQUE /
 * EXCLUDE / NOT VALID CHECK), which needs nothing but its table's rows. Only those move
 * forward; everything else (triggers, ENABLE/DISABLE, FKs, grants) keeps the script's order
 * after every table is loaded.
 */
function isIndexBuild(p: PlannedStatement): boolean {
  return p.kind === "index" ||
    (p.kind === "alter_table" &&
      /^alter\s+table\s+(?:only\s+)?\S+(?:\s+\S+)??\s+add\s+constraint\s/i.test(p.sql.replace(/"(?:[^"]|"")*"/g, "x")));
}

/** Runs statements of one table (index builds, or its ANALYZE) on a connection of its own. */
async function runBuilds(sql: Sql, plan: PlannedStatement[], checks: Check[]): Promise<void> {
  const conn = await sql.reserve();
  try {
    await conn`set maintenance_work_mem = '256MB'`;
    await runStatements(conn as unknown as Sql, plan, "post-data", checks, false);
  } finally {
    conn.release();
  }
}

/** Invalid indexes in the restored schemas are an error (a failed build leaves one behind). */
async function checkInvalidIndexes(sql: Sql, schemas: string[], checks: Check[]): Promise<void> {
  const bad = await sql<{ name: string }[]>`
    select n.nspname || '.' || c.relname as name from pg_catalog.pg_index i
    join pg_catalog.pg_class c on c.oid = i.indexrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where not i.indisvalid and n.nspname = any(${schemas}::text[])`;
  checks.push(
    bad.length
      ? check(
        "invalid_indexes",
        "error",
        bad[0].name,
        `${bad.length} invalid indexes after the restore: ${bad.map((b) => b.name).join(", ")}`,
        "reindex index <name>; then check the data for duplicates the unique index rejected.",
      )
      : check("invalid_indexes", "ok", "target", "no invalid index in the restored schemas"),
  );
}

/**
 * One restored table's fingerprint with the manifest's algorithm, on a session of its own.
 * When the fingerprint function cannot be set up, or does not know the algorithm, the reason
 * is kept in `state.error` (reported once, at the check) and undefined is returned.
 */
async function fingerprintOf(
  sql: Sql,
  target: QName,
  algorithm: string | undefined,
  state: { mode: string; error: string | null },
): Promise<unknown> {
  if (state.error !== null) return undefined;
  const fp = new Fingerprinter(sql);
  try {
    try {
      state.mode = await fp.open();
    } catch (err) {
      state.error ??= (err as Error).message;
      return undefined;
    }
    try {
      return await fp.of(target, algorithm);
    } catch (err) {
      // 22023: an algorithm this version of the function does not know (a newer backup).
      if ((err as { code?: string }).code !== "22023") throw err;
      state.error ??= (err as Error).message;
      return undefined;
    }
  } finally {
    fp.close();
  }
}

/** Compares each restored table's fingerprint with the manifest's. */
function reportFingerprints(
  restored: TableEntry[],
  mapTarget: (q: QName) => QName,
  got: Map<TableEntry, unknown>,
  state: { mode: string; error: string | null },
  out: TableResult[],
  checks: Check[],
): void {
  if (state.error !== null) {
    checks.push(
      check(
        "fingerprints",
        "error",
        "target",
        `fingerprints cannot be computed: ${state.error}`,
        "Install Lifeboat's migrations next to the CLI, or in the target.",
      ),
    );
    return;
  }
  let mismatches = 0, unavailable = 0;
  for (const t of restored) {
    const target = mapTarget(t);
    if (t.fingerprint === null || t.fingerprint === undefined) {
      unavailable++;
      out.push({ source: display(t), target: display(target), rows: t.rows, fingerprint: "unavailable" });
      continue;
    }
    const actual = got.get(t);
    const same = sameFingerprint(t.fingerprint, actual);
    if (!same) {
      mismatches++;
      checks.push(
        check(
          "fingerprint",
          "error",
          display(target),
          "the restored rows differ from the backup's fingerprint",
          "Compare the table with the source; restore again, and report the backup if it repeats.",
          { expected: t.fingerprint as never, actual: actual as never },
        ),
      );
    }
    out.push({ source: display(t), target: display(target), rows: t.rows, fingerprint: same ? "match" : "mismatch" });
  }
  if (mismatches === 0) {
    checks.push(
      check(
        "fingerprints",
        unavailable > 0 ? "warn" : "ok",
        "target",
        `${
          restored.length - unavailable
        } of ${restored.length} restored tables match the backup's fingerprints (${state.mode || "installed"} fingerprint function)`,
        unavailable > 0 ? `${unavailable} tables have no fingerprint in the manifest: take backups with fingerprints on.` : "",
        { tables: restored.length, unavailable },
      ),
    );
  }
}

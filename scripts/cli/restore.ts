/**
 * `lifeboat restore`: a Lifeboat backup (or a pg_dump -Fc archive) into a database, whole or
 * in part, after pre-flight checks and sha256 verification, ending with a fingerprint report.
 * Exit 0 only when the restore is complete and verified.
 * @module
 */
import { connect, describeDbError, type Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { restoreBackup } from "../../supabase/functions/_shared/restore/mod.ts";
import { parseUserTable, type QName } from "../../supabase/functions/_shared/restore/mod.ts";
import { isPgDumpArchive, restorePgDump } from "../../supabase/functions/_shared/restore/mod.ts";
import { progressSink } from "./restore_progress.ts";
import { formatChecks } from "./checks.ts";
import type { PlannedWrites } from "../../supabase/functions/_shared/restore/mod.ts";
import { formatBytes } from "../../supabase/functions/_shared/text/mod.ts";

/** The --dry-run listing: one line per table, then the totals. */
function formatPlannedWrites(p: PlannedWrites): string {
  const lines = p.tables.map((t) =>
    `  ${t.target.padEnd(40)} ${String(t.rows).padStart(10)} rows ${formatBytes(t.bytes).padStart(10)}${
      t.platform ? "  (into the project's own table)" : ""}`
  );
  return [`would write ${p.tables.length} tables:`, ...lines,
    `  total: ${p.rows} rows, ${formatBytes(p.bytes)}; ${p.statements.preData} pre-data, ${p.statements.postData} post-data and ${p.statements.finalize} finalize statements`,
  ].join("\n");
}
import { countOption, LOCATION_OPTIONS, LOCATION_USAGE, openBackup, openFailure, parseCommand, TRUST_OPTIONS, TRUST_USAGE, usageError } from "./common.ts";
import { openStorage, restoreBackupFiles } from "./files.ts";
import type { StorageApi } from "../../supabase/functions/_shared/source/storage/mod.ts";
import { latestBackupId, readAuthenticManifest } from "../../supabase/functions/_shared/verify/mod.ts";
import { restoreUntil, targetOf, UNTIL_OPTIONS, UNTIL_USAGE, wantsPointInTime } from "./restore_until.ts";

/** `restore --storage-target` without `--target`: only the files of the backup. */
async function restoreFilesOnly(
  v: { from?: string; locations?: string; store?: string; latest: boolean; identity?: string; "trust-key"?: string[]; "allow-unsigned"?: boolean; "storage-target"?: string; "storage-key"?: string; bucket?: string; prefix?: string; file?: string; "dry-run": boolean; clean: boolean; json: boolean },
  positional: string | undefined,
  bad: (msg: string) => number,
): Promise<number> {
  let opened, api;
  try {
    api = await openStorage(v["storage-target"], v["storage-key"] ?? Deno.env.get("LIFEBOAT_STORAGE_TARGET_KEY"), "--storage-target");
    opened = await openBackup(positional, v.store, v.latest, v.identity, v, { from: v.from, locations: v.locations });
  } catch (err) {
    return openFailure("restore", err);
  }
  if (opened.choice) console.error(`lifeboat restore: ${opened.choice}`);
  try {
    const id = opened.ref.id ?? await latestBackupId(opened.store);
    // Files are restored only from a manifest signed by a trusted key, like tables.
    const { manifest } = await readAuthenticManifest(opened.store, id, opened.trust);
    if (manifest.encryption.scheme !== "none" && !opened.identities) return bad("the backup is encrypted: pass --identity <age identity file>");
    const { report, lines } = await restoreBackupFiles({
      manifest, store: opened.store, identities: opened.identities, api,
      select: { bucket: v.bucket, prefix: v.prefix, file: v.file }, dryRun: v["dry-run"], clean: v.clean,
    });
    if (v.json) console.log(JSON.stringify({ backupId: id, files: report }, null, 2));
    else for (const line of lines) console.log(line);
    return 0;
  } catch (err) {
    console.error(`lifeboat restore: files: ${(err as Error).message}`);
    return 1;
  }
}

const USAGE = `usage: lifeboat restore [<backup id> | <store>/<backup id> | <file.dump>] --target <db url> [--storage-target <project url>] [options]

  --target URL       database to restore into (required)
  --store SPEC       store holding the backup (dir, s3:// or az:// URL; default $LIFEBOAT_STORE)
  --latest           restore the newest complete backup in the store
${LOCATION_USAGE}
  --identity FILE    age identity file (required for encrypted backups)
${TRUST_USAGE}
  --schema NAME      restore only this schema's tables (repeatable)
  --table S.T        restore only this table (repeatable; partitions follow their parent)
  --into-schema N    put the chosen tables into schema N, for side-by-side comparison
  --clean            drop and replace the objects being restored when they exist (only those)
  --jobs N           parallel COPY and index workers (default 2)
  --preflight-only   run the checks and stop before writing anything
  --dry-run          run the checks and list what would be written (tables, rows, bytes,
                     statements, and with --storage-target the files), writing nothing
  --compare-with URL for a pg_dump archive: the source, to compare fingerprints
  --json             print the report as JSON

Storage files (backups taken with --files):
  --storage-target URL  also restore the files into this project (its URL); without --target,
                        only the files are restored
  --storage-key KEY     the target's secret key (default $LIFEBOAT_STORAGE_TARGET_KEY)
  --bucket ID           only this bucket's files
  --prefix P            only files whose name starts with P
  --file NAME           only this file
  (--clean replaces target files of the same names, only those; without it they are refused)
${UNTIL_USAGE}

Exit status: 0 restored and verified, 1 failed or refused, 2 bad usage.`;

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_$ -]{0,62}$/;

/** Runs the command. */
export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand("restore", USAGE, args, {
    target: { type: "string" },
    store: { type: "string" },
    latest: { type: "boolean", default: false },
    identity: { type: "string" },
    ...TRUST_OPTIONS,
    ...LOCATION_OPTIONS,
    schema: { type: "string", multiple: true },
    table: { type: "string", multiple: true },
    "into-schema": { type: "string" },
    clean: { type: "boolean", default: false },
    jobs: { type: "string" },
    "preflight-only": { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
    "compare-with": { type: "string" },
    json: { type: "boolean", default: false },
    "storage-target": { type: "string" },
    "storage-key": { type: "string" },
    bucket: { type: "string" },
    prefix: { type: "string" },
    file: { type: "string" },
    ...UNTIL_OPTIONS,
    help: { type: "boolean", short: "h", default: false },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const bad = usageError("restore");
  if (!v.target && v["storage-target"]) return await restoreFilesOnly(v, parsed.positionals[0], bad);
  if (!v.target) return bad("--target <database url> is required: the database to restore into");
  if (!/^postgres(ql)?:\/\//.test(v.target)) return bad("--target must be a postgres:// or postgresql:// URL");
  let storage: StorageApi | null = null;
  if (v["storage-target"]) {
    try {
      storage = await openStorage(v["storage-target"], v["storage-key"] ?? Deno.env.get("LIFEBOAT_STORAGE_TARGET_KEY"), "--storage-target");
    } catch (err) {
      return bad((err as Error).message);
    }
  }
  if (parsed.positionals.length > 1) return bad(`expected one backup, got ${parsed.positionals.length} arguments`);
  const jobs = countOption(v.jobs, 2, 32);
  if (jobs === null) return bad("--jobs must be an integer from 1 to 32");
  const tables: QName[] = [];
  for (const t of v.table ?? []) {
    const q = parseUserTable(t);
    if (!q) return bad(`--table '${t}' is not schema.table (quote parts with dots: '"my.schema".t')`);
    tables.push(q);
  }
  const into = v["into-schema"];
  if (into && !IDENT_RE.test(into)) return bad(`--into-schema '${into}' is not a usable schema name`);
  if (into && ["public", "pg_catalog", "information_schema"].includes(into)) return bad(`--into-schema must be a new schema, not ${into}`);

  const dryRun = v["dry-run"];
  const preflightOnly = v["preflight-only"] || dryRun;
  const first = parsed.positionals[0];
  let archive = false;
  if (first && !v.store) {
    try {
      archive = (await Deno.stat(first)).isFile && await isPgDumpArchive(first);
    } catch {
      archive = false;
    }
  }
  if (wantsPointInTime(v)) {
    if (archive || into || tables.length || v.schema?.length || storage || v.latest || v["preflight-only"]) {
      return bad("--until, --until-lsn and --until-xid restore a whole database from the store: they do not combine with a pg_dump archive, --latest, --schema, --table, --into-schema, --storage-target or --preflight-only");
    }
    try {
      targetOf(v);
    } catch (err) {
      return bad((err as Error).message);
    }
  }
  let target: Sql | null = null;
  let source: Sql | null = null;
  const sink = progressSink(Deno.stderr.isTerminal() && !v.json);
  let filesLines: string[] = [];
  try {
    try {
      target = connect(v.target, { applicationName: "lifeboat restore", max: jobs + 2 });
      await target`select 1`;
    } catch (err) {
      return bad(`cannot connect to the target (${describeDbError(err)}): check --target`);
    }
    if (wantsPointInTime(v)) return await restoreUntil({ v, positional: first, target, jobs, onEvent: sink, bad });
    let report;
    if (archive) {
      if (into) return bad("--into-schema is not supported for pg_dump archives");
      if (v["compare-with"]) {
        try {
          source = connect(v["compare-with"], { applicationName: "lifeboat restore", max: 1 });
          await source`select 1`;
        } catch (err) {
          return bad(`cannot connect to --compare-with (${describeDbError(err)})`);
        }
      }
      report = await restorePgDump({
        path: first!, targetUrl: v.target, target, compareWith: source, schemas: v.schema, tables,
        clean: v.clean, jobs, preflightOnly,
      });
    } else {
      let opened;
      try {
        opened = await openBackup(first, v.store, v.latest, v.identity, v, { from: v.from, locations: v.locations });
      } catch (err) {
        return openFailure("restore", err);
      }
      if (opened.choice) console.error(`lifeboat restore: ${opened.choice}`);
      const { ref, identities, store, trust } = opened;
      report = await restoreBackup({
        store, id: ref.id, identities, trust, target, schemas: v.schema, tables, intoSchema: into, clean: v.clean, jobs,
        preflightOnly, onEvent: sink,
      });
      if (storage && report.passed) {
        try {
          const { lines } = await restoreBackupFiles({
            manifest: (await readAuthenticManifest(store, report.backupId ?? ref.id!, trust)).manifest, store, identities, api: storage,
            select: { bucket: v.bucket, prefix: v.prefix, file: v.file }, dryRun: v["dry-run"], clean: v.clean,
          });
          filesLines = lines;
        } catch (err) {
          sink.end();
          console.error(`lifeboat restore: files: ${(err as Error).message}`);
          return 1;
        }
      }
    }
    sink.end();
    if (v.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(formatChecks(report.checks));
      const planned = "planned" in report ? report.planned : undefined;
      if (dryRun && planned) console.log(`\n${formatPlannedWrites(planned)}`);
      const s = report.summary;
      const verdict = report.passed
        ? preflightOnly ? `${dryRun ? "DRY RUN" : "PRE-FLIGHT"} PASSED (nothing written)` : "RESTORED AND VERIFIED"
        : report.wrote ? "FAILED (the target holds a partial restore)" : "FAILED (nothing was written)";
      console.log(`\n${verdict}: ${s.total} checks, ${s.warnings} warnings, ${s.errors} errors`);
    }
    for (const line of filesLines) console.log(line);
    return report.passed ? 0 : 1;
  } finally {
    sink.end();
    await target?.end({ timeout: 5 }).catch(() => {});
    await source?.end({ timeout: 5 }).catch(() => {});
  }
}

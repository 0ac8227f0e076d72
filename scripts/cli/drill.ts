/**
 * `lifeboat drill`: restores a backup into a scratch database, verifies it (fingerprints and
 * optional pgTAP assertions), measures the recovery time against the objective, records the
 * drill in lifeboat.drills and drops the scratch database. Exit 0 only when the drill passed
 * and met the objective.
 * @module
 */
import { runDrill } from "../../supabase/functions/_shared/restore/mod.ts";
import { restoreToPointAsReport, type RestoreTarget } from "../../supabase/functions/_shared/pitr/mod.ts";
import { targetOf, UNTIL_OPTIONS, wantsPointInTime } from "./restore_until.ts";
import { progressSink } from "./restore_progress.ts";
import { formatChecks } from "./checks.ts";
import { countOption, LOCATION_OPTIONS, LOCATION_USAGE, openBackup, openFailure, parseCommand, TRUST_OPTIONS, TRUST_USAGE, usageError } from "./common.ts";
import { drillFiles, openStorage } from "./files.ts";
import { storageKeyFromEnv } from "./backup.ts";
import type { StorageApi } from "../../supabase/functions/_shared/source/storage/mod.ts";

const USAGE = `usage: lifeboat drill [<backup id> | <store>/<backup id>] [options]

  --store SPEC        store holding the backups (default $LIFEBOAT_STORE); without an id the
                      latest complete backup is drilled
${LOCATION_USAGE}
  --identity FILE     age identity file (required for encrypted backups)
${TRUST_USAGE}
  --db-url URL        source database: the scratch database is created on its server and the
                      drill is recorded in its lifeboat.drills (default $SUPABASE_DB_URL)
  --assertions DIR    run DIR/*.test.sql (pgTAP, via pg_prove) against the restored copy
  --system NAME       recovery_time_objectives system to measure against (default database)
  --jobs N            parallel restore workers (default 2)
  --json              print the report as JSON
  --report-to URL     also record the drill in this project's lifeboat.drills through
                      lifeboat.report_drill() (a postgres:// URL of the project, as postgres or
                      service_role; default $LIFEBOAT_REPORT_DB_URL), when the scratch database's
                      server (--db-url) is not the project
  --ran-in WHERE      where the drill runs, as recorded: cli or ci (default ci when $CI is set)
  --runner TEXT       names the runner in the record (e.g. a CI job URL; no secrets)
  --files             also restore the backup's Storage files into a scratch bucket of the project,
                      check each one's sha256 as Storage serves it, then remove the bucket
  --storage-url URL   the project for --files (default $LIFEBOAT_STORAGE_URL, then $SUPABASE_URL)
  --storage-key KEY   its secret key (default $LIFEBOAT_STORAGE_KEY, then $SUPABASE_SECRET_KEYS)
  --files-sample N    only N files chosen at random
  --files-budget SEC  stop starting new files after SEC seconds (a random sample within a budget)
  --until TIME        a point-in-time drill: the newest full backup before TIME plus the change
                      stream up to it (also --until-lsn LSN, --until-xid XID [--exclusive], --slot)

Exit status: 0 drill passed within the objective, 1 failed, 2 bad usage.`;

/** Runs the command. */
export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand("drill", USAGE, args, {
    store: { type: "string" },
    latest: { type: "boolean", default: false },
    identity: { type: "string" },
    ...TRUST_OPTIONS,
    ...LOCATION_OPTIONS,
    "db-url": { type: "string" },
    assertions: { type: "string" },
    system: { type: "string" },
    jobs: { type: "string" },
    json: { type: "boolean", default: false },
    files: { type: "boolean", default: false },
    "storage-url": { type: "string" },
    "storage-key": { type: "string" },
    "files-sample": { type: "string" },
    "files-budget": { type: "string" },
    "report-to": { type: "string" },
    "ran-in": { type: "string" },
    runner: { type: "string" },
    ...UNTIL_OPTIONS,
    help: { type: "boolean", short: "h", default: false },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const bad = usageError("drill");
  if (parsed.positionals.length > 1) return bad(`expected at most one backup, got ${parsed.positionals.length} arguments`);
  const jobs = countOption(v.jobs, 2, 32);
  if (jobs === null) return bad("--jobs must be an integer from 1 to 32");
  const sourceUrl = v["db-url"] ?? Deno.env.get("SUPABASE_DB_URL");
  if (!sourceUrl) return bad("no source database: pass --db-url (or set SUPABASE_DB_URL)");
  if (!/^postgres(ql)?:\/\//.test(sourceUrl)) return bad("--db-url must be a postgres:// or postgresql:// URL");
  if (v.assertions) {
    try {
      if (!(await Deno.stat(v.assertions)).isDirectory) return bad(`--assertions '${v.assertions}' is not a directory`);
    } catch {
      return bad(`--assertions '${v.assertions}' does not exist`);
    }
  }
  const reportUrl = v["report-to"] ?? Deno.env.get("LIFEBOAT_REPORT_DB_URL");
  if (reportUrl !== undefined && !/^postgres(ql)?:\/\//.test(reportUrl)) return bad("--report-to must be a postgres:// or postgresql:// URL");
  const ranIn = v["ran-in"] ?? (Deno.env.get("CI") ? "ci" : "cli");
  if (ranIn !== "cli" && ranIn !== "ci") return bad("--ran-in must be cli or ci");
  if ((v.runner ?? "").length > 200) return bad("--runner must be at most 200 characters");
  const sample = v["files-sample"] === undefined ? undefined : countOption(v["files-sample"], 1, 10_000_000);
  const budget = v["files-budget"] === undefined ? undefined : countOption(v["files-budget"], 1, 86_400);
  if (sample === null) return bad("--files-sample must be a whole number of files");
  if (budget === null) return bad("--files-budget must be a whole number of seconds");
  let storage: StorageApi | null = null;
  if (v.files) {
    try {
      storage = await openStorage(
        v["storage-url"] ?? Deno.env.get("LIFEBOAT_STORAGE_URL") ?? Deno.env.get("SUPABASE_URL"),
        v["storage-key"] ?? storageKeyFromEnv(),
        "--files",
      );
    } catch (err) {
      return bad((err as Error).message);
    }
  }
  let until: RestoreTarget | null = null;
  if (wantsPointInTime(v)) {
    if (v.files || v.latest) return bad("--until does not combine with --files or --latest");
    try {
      until = targetOf(v);
    } catch (err) {
      return bad((err as Error).message);
    }
  }
  let opened;
  try {
    opened = await openBackup(parsed.positionals[0], v.store, v.latest || !parsed.positionals[0], v.identity, v, { from: v.from, locations: v.locations, dbUrl: sourceUrl });
  } catch (err) {
    return openFailure("drill", err);
  }
  const { ref, identities, store, trust } = opened;
  if (opened.choice) console.error(`lifeboat drill: ${opened.choice}`);
  const ac = new AbortController();
  const onSig = () => ac.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", onSig);
  const sink = progressSink(Deno.stderr.isTerminal() && !v.json);
  try {
    const report = await runDrill({
      store, id: ref.id, identities, trust, sourceUrl, assertionsDir: v.assertions, system: v.system, jobs, signal: ac.signal,
      ranIn, runner: v.runner, reportUrl,
      restore: until
        ? (db) => restoreToPointAsReport({ store, target: until, identities, trust, db, backupId: ref.id, slot: v.slot, jobs, signal: ac.signal })
        : undefined,
      onEvent: (e) => (e.event === "drill" ? sink({ event: "phase", phase: "check", detail: `${e.step} ${e.detail ?? ""}` }) : sink(e)),
    });
    sink.end();
    let files: Awaited<ReturnType<typeof drillFiles>> | null = null;
    if (storage && report.backupId) {
      files = await drillFiles(storage, store, report.backupId, identities, trust, sample, budget);
      if (!files.passed) report.passed = false;
    }
    if (v.json) console.log(JSON.stringify(files ? { ...report, files } : report, null, 2));
    else {
      console.log(`drill of backup ${report.backupId ?? "(none)"} in scratch database ${report.scratchDatabase}`);
      console.log(formatChecks(report.checks));
      if (report.platform) {
        const pl = report.platform;
        console.log(`\nplatform: ${pl.users} users and ${pl.rows} rows in ${pl.tables} auth/storage tables verified${
          pl.mismatched.length ? `; fingerprint mismatch: ${pl.mismatched.join(", ")}` : ""}`);
      }
      console.log(`\n${report.passed ? "DRILL PASSED" : "DRILL FAILED"}: RTO ${report.rtoSeconds.toFixed(1)} s${
        report.objectiveSeconds !== null ? ` (objective ${report.objectiveSeconds} s)` : ""}; scratch database ${
        report.dropped ? "dropped" : "NOT dropped"}${report.recordedId ? `; recorded as drill ${report.recordedId}` : ""}${
        report.reportedId ? `; reported to the project as drill ${report.reportedId}` : ""}`);
      if (files) console.log(files.line);
    }
    return report.passed ? 0 : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSig);
  }
}

/**
 * `lifeboat verify`: checks a backup's integrity, completeness and accessibility and exits 0
 * only when it passes. Records the run in the source's lifeboat.verification_runs.
 * @module
 */
import { connect, DatabaseUrlError, describeDbError, type Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { formatChecks } from "./checks.ts";
import { verifyBackup } from "../../supabase/functions/_shared/verify/mod.ts";
import { countOption, LOCATION_OPTIONS, LOCATION_USAGE, openBackup, openFailure, parseCommand, TRUST_OPTIONS, TRUST_USAGE, usageError } from "./common.ts";

const USAGE = `usage: lifeboat verify [<backup id> | <store>/<backup id>] [options]

  --store SPEC       store holding the backup: a directory, s3://bucket/prefix or az://account/container/prefix
                     (S3 credentials from LIFEBOAT_S3_*; default $LIFEBOAT_STORE)
  --latest           verify the newest complete backup in the store
${LOCATION_USAGE}
  --identity FILE    age identity file: also decrypt, decompress and parse every object
  --sample           with --identity: decrypt one sample part only (faster, weaker)
${TRUST_USAGE}
  --db-url URL       source database, for completeness and to record the run
                     (default $SUPABASE_DB_URL; --no-db to skip)
  --no-db            do not connect to the source
  --json             print the report as JSON
  --concurrency N    objects hashed in parallel (default 4)

Exit status: 0 the backup passed, 1 it failed, 2 bad usage.`;

/** Runs the command. */
export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand("verify", USAGE, args, {
    store: { type: "string" },
    latest: { type: "boolean", default: false },
    identity: { type: "string" },
    ...TRUST_OPTIONS,
    ...LOCATION_OPTIONS,
    "db-url": { type: "string" },
    "no-db": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    concurrency: { type: "string" },
    sample: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const bad = usageError("verify");
  if (parsed.positionals.length > 1) return bad(`expected one backup, got ${parsed.positionals.length} arguments\n\n${USAGE}`);
  const concurrency = countOption(v.concurrency, 4, 64);
  if (concurrency === null) return bad("--concurrency must be an integer from 1 to 64");
  let opened;
  try {
    opened = await openBackup(parsed.positionals[0], v.store, v.latest, v.identity, v, { from: v.from, locations: v.locations, dbUrl: v["db-url"] });
  } catch (err) {
    return openFailure("verify", err); // AgeKeyError included
  }
  const { ref, identities, store, trust } = opened;
  if (opened.choice) console.error(`lifeboat verify: ${opened.choice}`);
  const dbUrl = v["no-db"] ? undefined : v["db-url"] ?? Deno.env.get("SUPABASE_DB_URL");
  let source: Sql | null = null;
  if (dbUrl) {
    try {
      source = connect(dbUrl, { applicationName: "lifeboat verify", max: 2 });
      await source`select 1`;
    } catch (err) {
      // Passing without the completeness check would look like a full pass: refuse, unless asked.
      await source?.end({ timeout: 1 }).catch(() => {});
      if (err instanceof DatabaseUrlError) return bad(err.message);
      console.error(`lifeboat verify: the source database is not reachable (${describeDbError(err)}): completeness cannot be checked. ` +
        `Fix --db-url (or SUPABASE_DB_URL), or pass --no-db to verify the backup without its source.`);
      return 1;
    }
  }
  try {
    const report = await verifyBackup({ store, id: ref.id ?? undefined, identities, trust, sample: v.sample, source, runKind: "manual", concurrency });
    if (v.json) {
      const { manifest: _m, ...rest } = report;
      console.log(JSON.stringify(rest, null, 2));
    } else {
      console.log(`backup ${report.backupId ?? "(none)"} in ${report.store}`);
      console.log(formatChecks(report.checks));
      const s = report.summary;
      console.log(`\n${report.passed ? "PASSED" : "FAILED"}: ${s.total} checks, ${s.warnings} warnings, ${s.errors} errors${
        report.recordedId ? ` (recorded as verification run ${report.recordedId})` : ""}`);
    }
    return report.passed ? 0 : 1;
  } finally {
    await source?.end({ timeout: 5 }).catch(() => {});
  }
}

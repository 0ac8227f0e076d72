/**
 * `lifeboat verify`: checks a backup's integrity, completeness and accessibility and exits 0
 * only when it passes. Records the run in the source's lifeboat.verification_runs.
 * @module
 */
import { parseArgs } from "node:util";
import { AgeKeyError, parseIdentityFile } from "../../supabase/functions/_shared/crypto/mod.ts";
import { connect, describeDbError, type Sql } from "../../supabase/functions/_shared/db.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { resolveBackupRef } from "../../supabase/functions/_shared/verify/backup_ref.ts";
import { formatChecks } from "../../supabase/functions/_shared/verify/checks.ts";
import { verifyBackup } from "../../supabase/functions/_shared/verify/engine.ts";

const USAGE = `usage: lifeboat verify [<backup id> | <store>/<backup id>] [options]

  --store SPEC       store holding the backup: a directory or s3://bucket/prefix
                     (S3 credentials from LIFEBOAT_S3_*; default $LIFEBOAT_STORE)
  --latest           verify the newest complete backup in the store
  --identity FILE    age identity file: also decrypt and decompress a sample part
  --db-url URL       source database, for completeness and to record the run
                     (default $SUPABASE_DB_URL; --no-db to skip)
  --no-db            do not connect to the source
  --json             print the report as JSON
  --concurrency N    objects hashed in parallel (default 4)

Exit status: 0 the backup passed, 1 it failed, 2 bad usage.`;

/** Reads and parses an identity file, with errors that say what to fix. */
export async function readIdentities(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new Error(`cannot read the identity file '${path}': check the path and its permissions`);
  }
  return parseIdentityFile(text);
}

/** Runs the command. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        store: { type: "string" },
        latest: { type: "boolean", default: false },
        identity: { type: "string" },
        "db-url": { type: "string" },
        "no-db": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        concurrency: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    console.error(`lifeboat verify: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length > 1) {
    console.error(`lifeboat verify: expected one backup, got ${parsed.positionals.length} arguments\n\n${USAGE}`);
    return 2;
  }
  const concurrency = v.concurrency ? Number(v.concurrency) : 4;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    console.error("lifeboat verify: --concurrency must be an integer from 1 to 64");
    return 2;
  }
  let ref, identities: string[] | null = null, store;
  try {
    ref = resolveBackupRef(parsed.positionals[0], v.store, v.latest, Deno.env.get("LIFEBOAT_STORE"));
    if (v.identity) identities = await readIdentities(v.identity);
    store = await openStore(ref.store);
  } catch (err) {
    const msg = err instanceof AgeKeyError || err instanceof Error ? err.message : String(err);
    console.error(`lifeboat verify: ${msg}`);
    return 2;
  }
  const dbUrl = v["no-db"] ? undefined : v["db-url"] ?? Deno.env.get("SUPABASE_DB_URL");
  let source: Sql | null = null;
  if (dbUrl) {
    try {
      source = connect(dbUrl, { applicationName: "lifeboat verify", max: 2 });
      await source`select 1`;
    } catch (err) {
      console.error(`lifeboat verify: the source database is not reachable (${describeDbError(err)}); completeness is not checked and the run is not recorded`);
      await source?.end({ timeout: 1 }).catch(() => {});
      source = null;
    }
  }
  try {
    const report = await verifyBackup({ store, id: ref.id ?? undefined, identities, source, runKind: "manual", concurrency });
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

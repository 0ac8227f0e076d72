/**
 * `lifeboat copy`: copies every backup and change segment on the primary location to every
 * other location in `lifeboat.locations`, verified by sha256, recorded in
 * lifeboat.location_copies, then applies each location's retention. Exits 0 when every due copy
 * was made, 1 when a location failed (it is retried with backoff on the next run), 2 bad usage.
 * @module
 */
import { connect, DatabaseUrlError, describeDbError, type Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { envSecrets, loadLocations, LocationError, openLocation } from "../../supabase/functions/_shared/locations/mod.ts";
import { COPY_TUNING, type CopyReport, runCopy } from "../../supabase/functions/_shared/copy/mod.ts";
import { parseCommand, usageError } from "./common.ts";

const USAGE = `usage: lifeboat copy [options]

Copies every backup (parts, file blobs, signature, manifest) and change segment from the
primary location to every other enabled location of lifeboat.locations, without decrypting
anything, each object checked against the sha256 its manifest records; then applies each
location's retention. A location that is down is retried with backoff on the next run.

  --db-url URL       the project database holding lifeboat.locations and the copy records
                     (default $SUPABASE_DB_URL)
  --no-retention     copy only; do not prune any location
  --json             print the report as JSON

Credentials: a location naming 'credentials' reads them from $LIFEBOAT_SECRET_<NAME> (JSON,
e.g. {"accessKeyId":…,"secretAccessKey":…}); others use their store's environment (LIFEBOAT_S3_*).

Exit status: 0 every due copy was made, 1 a location failed or is unreachable, 2 bad usage.`;

/** Prints the report as lines. */
function render(r: CopyReport): string {
  const lines = [`primary "${r.primary}": ${r.backupsOnPrimary} backup(s)${r.planned.length ? `, ${r.planned.length} new` : ""}`];
  for (const l of r.locations) {
    const parts = [`${l.copied.length} backup(s) verified`];
    if (l.role !== "primary") parts.push(`${l.objectsCopied} object(s) copied (${l.bytesCopied} bytes), ${l.objectsPresent} already there`);
    if (l.segments) parts.push(`${l.segments.copied} change segment(s) copied`);
    const pruned = l.pruned.filter((p) => !p.held && !p.kept), held = l.pruned.filter((p) => p.held);
    const kept = l.pruned.filter((p) => p.kept);
    if (pruned.length) parts.push(`${pruned.length} pruned by retention (${pruned.map((p) => p.backupId).join(", ")})`);
    if (held.length) parts.push(`${held.length} held by the lock until it expires (${held.map((p) => p.backupId).join(", ")})`);
    for (const k of kept) parts.push(`${k.backupId} kept although outside retention: ${k.kept}`);
    lines.push(`  ${l.name} (${l.role}): ${parts.join("; ")}`);
    for (const f of l.failed) lines.push(`    FAILED ${f.backupId}: ${f.error}${f.retryAt ? ` (retry after ${f.retryAt})` : ""}`);
    if (l.unreachable) lines.push(`    UNREACHABLE: ${l.unreachable}`);
  }
  if (!r.done) lines.push("stopped by its time budget: run again to resume");
  return lines.join("\n");
}

/** Runs the command. */
export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand("copy", USAGE, args, {
    "db-url": { type: "string" },
    "no-retention": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  }, { positionals: false, shortErrors: true });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const bad = usageError("copy");
  const dbUrl = v["db-url"] ?? Deno.env.get("SUPABASE_DB_URL");
  if (!dbUrl) return bad("no database: pass --db-url or set SUPABASE_DB_URL (the copies are recorded there)");
  let sql: Sql | null = null;
  try {
    sql = connect(dbUrl, { applicationName: "lifeboat copy", max: 2 });
    const locations = await loadLocations(sql);
    if (locations.filter((l) => l.enabled).length < 2) {
      return bad("nothing to copy to: add a secondary or archive location to lifeboat.locations (docs/locations.md)");
    }
    const secrets = envSecrets();
    const report = await runCopy({ sql, locations, open: (l) => openLocation(l, secrets, { tuning: COPY_TUNING }), retention: !v["no-retention"] });
    console.log(v.json ? JSON.stringify(report, null, 2) : render(report));
    return report.locations.some((l) => l.failed.length > 0 || l.unreachable) ? 1 : 0;
  } catch (err) {
    if (err instanceof DatabaseUrlError || err instanceof LocationError) return bad(err.message);
    if ((err as { name?: string })?.name === "StoreError") {
      console.error(`lifeboat copy: the primary location could not be read: ${(err as Error).message}`);
      return 1;
    }
    console.error(`lifeboat copy: ${describeDbError(err)}`);
    return 1;
  } finally {
    await sql?.end({ timeout: 5 }).catch(() => {});
  }
}

/**
 * `lifeboat report`: the backup status from the command line. Prints a summary, writes the
 * status page (`--html FILE`, the same page backup-status serves with `?format=html`, for
 * hosted projects whose default domain serves HTML as text/plain), or prints the status as
 * JSON (`--json`). Exits 0 when the project is recoverable, 1 when it is not.
 * @module
 */
import { parseArgs } from "node:util";
import { connect, describeDbError } from "../../supabase/functions/_shared/db/mod.ts";
import { loadStatusReport, type StatusReport } from "../../supabase/functions/_shared/status/mod.ts";
import { renderStatusPage } from "../../supabase/functions/_shared/status/mod.ts";
import { locationsSummary, shortDuration } from "../../supabase/functions/_shared/status/mod.ts";
import { formatBytes } from "../../supabase/functions/_shared/text/mod.ts";

const USAGE = `usage: lifeboat report [--html FILE] [--json] [--db-url URL]

  --html FILE    write the self-contained status page to FILE
  --json         print the status as JSON (what backup-status returns)
  --db-url URL   database to report on (default $SUPABASE_DB_URL)

Exit status: 0 recoverable, 1 not recoverable, 2 bad usage or no database.`;

/** A few lines for a terminal: the verdict, its reasons, and the headline numbers. */
export function summarize(r: StatusReport): string {
  const lines = [`${r.recoverable ? "RECOVERABLE" : "NOT RECOVERABLE"} (as of ${r.generated_at})`];
  for (const x of r.reasons) lines.push(`  ${x.ok ? "ok  " : "FAIL"} ${x.detail}`);
  const b = r.backups.full;
  lines.push(b
    ? `last full backup: ${shortDuration(b.age_seconds)} ago, ${formatBytes(b.bytes)}, RPO ${shortDuration(r.rpo.seconds)}`
    : `last full backup: none (RPO ${shortDuration(r.rpo.seconds)})`);
  const d = r.drill.last;
  if (d && d.measured_rto_seconds !== null) {
    lines.push(`last drill: ${d.success ? "passed" : "failed"}, RTO ${shortDuration(d.measured_rto_seconds)} of ${shortDuration(d.objective_seconds ?? 0)}`);
  }
  lines.push(`retention: ${r.retention.tiers.map((t) => `${t.tier} ${t.filled}/${t.keep}`).join(", ")}`);
  const locations = locationsSummary(r.locations);
  if (locations) lines.push(locations);
  lines.push(`open incidents: ${r.incidents.open.length}, firing alerts: ${r.alerts.firing.length}, failing cron jobs: ${r.cron.failing}`);
  return lines.join("\n");
}

/** Runs the command. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      options: {
        html: { type: "string" },
        json: { type: "boolean", default: false },
        "db-url": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    console.error(`lifeboat report: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const o = parsed.values;
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (o.html === "") {
    console.error(`lifeboat report: --html needs a file name\n\n${USAGE}`);
    return 2;
  }
  const url = o["db-url"] ?? Deno.env.get("SUPABASE_DB_URL");
  if (!url) {
    console.error("lifeboat report: no database: pass --db-url or set SUPABASE_DB_URL");
    return 2;
  }
  const sql = connect(url, { applicationName: "lifeboat-report" });
  let report: StatusReport;
  try {
    report = await loadStatusReport(sql);
  } catch (err) {
    console.error(`lifeboat report: could not read the status: ${describeDbError(err)}`);
    return 2;
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
  if (o.html) {
    try {
      await Deno.writeTextFile(o.html, renderStatusPage(report));
    } catch (err) {
      console.error(`lifeboat report: cannot write '${o.html}': ${(err as Error).message}; check the directory exists and is writable`);
      return 2;
    }
  }
  if (o.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(summarize(report));
    if (o.html) console.log(`status page: ${await Deno.realPath(o.html)}`);
  }
  return report.recoverable ? 0 : 1;
}

/**
 * `lifeboat restore --until` (and `--until-lsn`, `--until-xid`): a point-in-time restore, the
 * chain's full backup then the change stream up to the target (`_shared/pitr/`). With
 * `--dry-run` it prints the chain (backup id, segments, transactions, first and last commit)
 * after reading and authenticating it, and writes nothing.
 * @module
 */
import type { Sql } from "../../supabase/functions/_shared/db/mod.ts";
import {
  type ChainReport,
  parseTarget,
  type PointRestoreReport,
  restoreToPoint,
  type RestoreTarget,
  TargetError,
} from "../../supabase/functions/_shared/pitr/mod.ts";
import type { RestoreEvent } from "../../supabase/functions/_shared/restore/mod.ts";
import { formatChecks } from "./checks.ts";
import { openBackup } from "./common.ts";

/** The options `restore` takes for a point-in-time restore. */
export const UNTIL_OPTIONS = {
  until: { type: "string" },
  "until-lsn": { type: "string" },
  "until-xid": { type: "string" },
  exclusive: { type: "boolean", default: false },
  slot: { type: "string" },
} as const;

/** Their usage lines. */
export const UNTIL_USAGE = `
Point in time (needs the change stream, 'lifeboat stream enable'):
  --until TIME       restore to this moment (2026-12-03T14:30:00.123456Z; no zone = UTC): the
                     newest full backup before it, then every transaction committed after the
                     backup's snapshot and at or before TIME, replayed in commit order;
                     'latest': up to the newest commit the stream holds
  --until-lsn LSN    … up to this WAL position (commits at or before it)
  --until-xid XID    … up to and including this transaction (--exclusive: up to just before it)
  --slot NAME        the stream's slot (default: the one the backup recorded)
  (with --dry-run: print the chain, backup, segments, transactions, first and last commit)`;

/** Whether any point-in-time option was given. */
export function wantsPointInTime(v: { until?: string; "until-lsn"?: string; "until-xid"?: string }): boolean {
  return v.until !== undefined || v["until-lsn"] !== undefined || v["until-xid"] !== undefined;
}

/** The target of the options, or an Error saying what to fix. */
export function targetOf(v: { until?: string; "until-lsn"?: string; "until-xid"?: string; exclusive?: boolean }): RestoreTarget {
  if (v.exclusive && v["until-xid"] === undefined) throw new TargetError("--exclusive goes with --until-xid");
  return parseTarget({ until: v.until, untilLsn: v["until-lsn"], untilXid: v["until-xid"], exclusive: v.exclusive });
}

/** The chain as --dry-run prints it. */
export function formatChain(c: ChainReport): string {
  return [
    `chain:`,
    `  backup        ${c.backupId}`,
    `  stream        ${c.slot}, segments ${c.segments.first}..${c.segments.last} (${c.segments.count} read)`,
    `  transactions  ${c.transactions} to replay`,
    `  first commit  ${c.firstCommit ?? "-"}`,
    `  last commit   ${c.lastCommit ?? "-"}`,
    `  restorable up to ${c.latestRestorable ?? "-"}`,
  ].join("\n");
}

/** Runs a point-in-time restore (or its dry run); returns the exit status. */
export async function restoreUntil(o: {
  v: {
    until?: string; "until-lsn"?: string; "until-xid"?: string; exclusive?: boolean; slot?: string;
    store?: string; identity?: string; "trust-key"?: string[]; "allow-unsigned"?: boolean;
    clean: boolean; "dry-run": boolean; json: boolean;
  };
  positional: string | undefined;
  target: Sql;
  jobs: number;
  onEvent: (e: RestoreEvent) => void;
  bad: (msg: string) => number;
}): Promise<number> {
  let target: RestoreTarget;
  let opened;
  try {
    target = targetOf(o.v);
    opened = await openBackup(o.positional, o.v.store, o.positional === undefined, o.v.identity, o.v);
  } catch (err) {
    return o.bad((err as Error).message);
  }
  const { ref, identities, store, trust } = opened;
  const report: PointRestoreReport = await restoreToPoint({
    store, target, identities, trust, db: o.target, backupId: ref.id, slot: o.v.slot, jobs: o.jobs, clean: o.v.clean,
    dryRun: o.v["dry-run"],
    onEvent: (e) => {
      if (e.event !== "replay") o.onEvent(e);
    },
  });
  if (o.v.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(formatChecks(report.checks));
    if (report.chain) console.log(`\n${formatChain(report.chain)}`);
    const verdict = report.passed
      ? o.v["dry-run"] ? "DRY RUN PASSED (nothing written)" : `RESTORED TO ${report.target}`
      : o.v["dry-run"] || report.timings.restoreMs === 0 ? "FAILED (nothing was written)" : "FAILED (the target holds a partial restore)";
    console.log(`\n${verdict}`);
  }
  return report.passed ? 0 : 1;
}

/**
 * `lifeboat restore --until`: restore the chain's full backup (the restore engine, with every
 * check it makes), then replay the stream's transactions the backup's snapshot did not see, up
 * to the target, and raise the sequences. `dryRun` reads and authenticates the chain and counts
 * the transactions without writing anything.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Manifest } from "../format/mod.ts";
import { type Check, check, summarize } from "../checks.ts";
import { restoreBackup, type RestoreEvent, type RestoreReport } from "../restore/mod.ts";
import type { Store } from "../store/mod.ts";
import { readSegmentLineBatches, type SegmentManifest, type SegmentTrust } from "../stream/mod.ts";
import type { ManifestTrust } from "../verify/mod.ts";
import { ChainError, latestRestorable, planChain } from "./chain.ts";
import { replayInto, type ReplayResult } from "./replay.ts";
import { newSelectionStats, selectTransactions, type SelectionStats, type StreamLines } from "./select.ts";
import { raiseSequences, sequenceFloor } from "./sequences.ts";
import { ReplayError } from "./statements.ts";
import { describeTarget, type RestoreTarget } from "./target.ts";
import { formatMicros, parseMicros } from "./time.ts";
import { snapshotSeen } from "./visibility.ts";

/** What a point-in-time restore needs. */
export interface PointRestoreOptions {
  store: Store;
  target: RestoreTarget;
  identities: string[] | null;
  trust: ManifestTrust & SegmentTrust;
  /** The database to restore into (its pool needs `jobs + 1` connections). */
  db: Sql;
  backupId?: string | null;
  slot?: string;
  jobs?: number;
  clean?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent | { event: "replay"; transactions: number; changes: number; lastCommit: string }) => void;
}

/** The chain as `--dry-run` prints it. */
export interface ChainReport {
  backupId: string;
  slot: string;
  segments: { first: number; last: number; count: number };
  transactions: number;
  firstCommit: string | null;
  lastCommit: string | null;
  latestRestorable: string | null;
}

/** A point-in-time restore's outcome. */
export interface PointRestoreReport {
  passed: boolean;
  target: string;
  chain: ChainReport | null;
  checks: Check[];
  replay: ReplayResult | null;
  sequencesRaised: number;
  timings: { restoreMs: number; replayMs: number };
  /** The base backup's restore (its tables and fingerprint results), once it ran. */
  base?: RestoreReport;
}

/**
 * Which tables' changes replay applies: those the backup restores, and tables created later in
 * the schemas it covers; never Lifeboat's own schema, the managed schemas, or the platform
 * tables the backup leaves out.
 */
function scopeOf(m: Manifest): (schema: string, table: string) => boolean {
  const key = (s: string, t: string) => `${s}\u0000${t}`;
  const inBackup = new Set(m.tables.map((t) => key(t.schema, t.name)));
  const excluded = new Set([...m.excludedSchemas, ...(m.scope?.excludeSchemas ?? []), "lifeboat"]);
  const excludedTables = new Set((m.scope?.excludeTables ?? []).map((t) => key(t.schema, t.name)));
  const notCopied = new Set((m.platform?.tables ?? []).filter((t) => !t.copied).map((t) => key(t.schema, t.name)));
  const schemas = m.scope?.includeSchemas ? new Set(m.scope.includeSchemas) : null;
  return (schema, table) => {
    const k = key(schema, table);
    if (inBackup.has(k)) return true;
    if (excluded.has(schema) || excludedTables.has(k) || notCopied.has(k)) return false;
    return schemas === null || schemas.has(schema);
  };
}

/** The segments' lines in order, with where each came from; records which segments were read. */
async function* segmentLines(o: PointRestoreOptions, segments: readonly SegmentManifest[], read: SegmentManifest[]): AsyncGenerator<StreamLines> {
  for (const seg of segments) {
    read.push(seg);
    let n = 0;
    for await (const lines of readSegmentLineBatches(o.store, seg, o.identities, o.signal)) {
      const first = n;
      n += lines.length;
      yield { lines, where: (i) => `stream ${seg.slot} segment ${seg.seq} line ${first + i + 1}` };
    }
  }
}

/** Throws unless the stream reaches the target (a target after its end cannot be restored). */
function checkReached(target: RestoreTarget, stats: SelectionStats, segments: readonly SegmentManifest[]): void {
  if (stats.passedTarget || target.kind === "latest") return;
  const latest = latestRestorable(segments);
  const hint = `the latest restorable moment is ${latest ?? "(no commit in the stream yet)"}; choose a target at or before it, or wait for the shipper to store newer changes`;
  if (target.kind === "time") {
    if (stats.newestCommit && stats.newestCommit.commitMicros === target.micros) return;
    if (latest && parseMicros(latest) >= target.micros) return;
    throw new ChainError(`${describeTarget(target)} is after the end of the stream: ${hint}`);
  }
  if (target.kind === "lsn") {
    const end = segments[segments.length - 1]?.endLsn;
    throw new ChainError(`${describeTarget(target)} is after the end of the stream${end ? ` (it ends at ${end})` : ""}: ${hint}`);
  }
  throw new ChainError(`transaction ${target.xid} is not in the stream after the backup (never committed, or not yet shipped): ${hint}`);
}

/**
 * A point-in-time restore in the shape of a restore report (the base backup's tables, every
 * check of the chain and the replay): what a drill records.
 */
export async function restoreToPointAsReport(o: PointRestoreOptions): Promise<RestoreReport> {
  const r = await restoreToPoint(o);
  const summary = summarize(r.checks);
  return {
    backupId: r.chain?.backupId ?? null, passed: r.passed && summary.passed, wrote: r.base?.wrote ?? false, summary,
    checks: r.checks, tables: r.base?.tables ?? [], timings: r.base?.timings ?? {}, rows: r.base?.rows ?? 0, bytes: r.base?.bytes ?? 0,
  };
}

/** Restores to a point in time (or, with `dryRun`, reports the chain it would use). */
export async function restoreToPoint(o: PointRestoreOptions): Promise<PointRestoreReport> {
  const checks: Check[] = [];
  const report: PointRestoreReport = {
    passed: false, target: describeTarget(o.target), chain: null, checks, replay: null, sequencesRaised: 0,
    timings: { restoreMs: 0, replayMs: 0 },
  };
  const fail = (name: string, err: unknown, hint: string) => {
    checks.push(check(name, "error", report.target, (err as Error).message, hint));
    report.passed = false;
    return report;
  };
  let chain;
  try {
    chain = await planChain(o);
  } catch (err) {
    return fail("pitr_chain", err, "Nothing was written.");
  }
  const m = chain.manifest;
  if (chain.segments.length === 0) {
    checks.push(check("pitr_chain", "warn", report.target,
      `stream ${chain.slot} holds no segment yet: the latest restorable moment is backup ${chain.backupId}'s snapshot (${m.snapshot.takenAt}), nothing is replayed`,
      "Run the shipper (lifeboat stream run, or the backup-stream schedule) so that changes after the backup are stored."));
  }
  const snap = snapshotSeen({ xmin: m.snapshot.xmin!, xmax: m.snapshot.xmax!, xip: m.snapshot.xip! });
  const read: SegmentManifest[] = [];
  const stats = newSelectionStats();
  const chainReport = (): ChainReport => ({
    backupId: chain.backupId,
    slot: chain.slot,
    segments: {
      first: read[0]?.seq ?? chain.segments[0]?.seq ?? 0,
      last: read[read.length - 1]?.seq ?? chain.segments[0]?.seq ?? 0,
      count: read.length,
    },
    transactions: stats.transactions,
    firstCommit: stats.first ? formatMicros(stats.first.commitMicros) : null,
    lastCommit: stats.last ? formatMicros(stats.last.commitMicros) : null,
    latestRestorable: latestRestorable(chain.segments),
  });

  if (o.dryRun) {
    try {
      for await (const _ of selectTransactions(segmentLines(o, chain.segments, read), snap, o.target, stats)) { /* counted */ }
      checkReached(o.target, stats, chain.segments);
    } catch (err) {
      report.chain = chainReport();
      return fail("pitr_chain", err, "Nothing was written.");
    }
    report.chain = chainReport();
    checks.push(check("pitr_chain", "ok", report.target, `backup ${chain.backupId}, ${read.length} segments, ${stats.transactions} transactions to replay`));
    report.passed = true;
    return report;
  }

  // The base backup, with every check the restore engine makes.
  const t0 = performance.now();
  const base = await restoreBackup({
    store: o.store, id: chain.backupId, identities: o.identities, trust: o.trust, target: o.db, jobs: o.jobs,
    clean: o.clean, signal: o.signal, onEvent: o.onEvent,
  });
  checks.push(...base.checks);
  report.base = base;
  report.timings.restoreMs = Math.round(performance.now() - t0);
  if (!base.passed) {
    report.chain = chainReport();
    checks.push(check("pitr_replay", "error", report.target, "the base backup did not restore; nothing was replayed", "Fix the restore's errors above first."));
    return report;
  }

  // The stream, from the hand-off to the target.
  const t1 = performance.now();
  const applies = scopeOf(m);
  const ddlApplies = (schemas: string[] | null) =>
    schemas === null ? !m.scope?.includeSchemas : schemas.some((schema) => applies(schema, "\u0000any"));
  try {
    report.replay = await replayInto(selectTransactions(segmentLines(o, chain.segments, read), snap, o.target, stats), {
      sql: o.db,
      applies,
      ddlApplies,
      onWindow: (p) => o.onEvent?.({ event: "replay", transactions: p.transactions, changes: p.changes, lastCommit: p.last.commitTime }),
    });
    checkReached(o.target, stats, chain.segments);
    report.sequencesRaised = await raiseSequences(o.db, sequenceFloor(read).values());
  } catch (err) {
    report.chain = chainReport();
    report.timings.replayMs = Math.round(performance.now() - t1);
    const hint = err instanceof ChainError
      ? "The base backup was restored; the database holds it plus the transactions replayed before this stop."
      : "The database holds the base backup plus part of the stream: do not use it; restore again to an earlier target.";
    return fail(err instanceof ReplayError || err instanceof ChainError ? "pitr_replay" : "pitr_stream", err, hint);
  }
  report.timings.replayMs = Math.round(performance.now() - t1);
  report.chain = chainReport();
  checks.push(check("pitr_replay", "ok", report.target,
    `replayed ${stats.transactions} transactions (${report.replay.changes} changes, ${report.replay.ddl} DDL commands) from ${read.length} segments after backup ${chain.backupId}; ${report.sequencesRaised} sequences raised`));
  report.passed = summarize(checks).passed;
  return report;
}

/**
 * The copy engine `lifeboat copy` and the backup-copy function drive: every complete backup on
 * the primary (parts, file blobs, signature, manifest last) and every change segment under
 * `stream/` go to every other enabled location, streamed and never decrypted, each object
 * written with the sha256 the manifest (or the primary) gives it. Progress is per (location,
 * backup) in `lifeboat.location_copies`: a copy interrupted by the budget resumes where it
 * stopped (objects already there with their sha256 are skipped); change segments are recorded per
 * location in `lifeboat.location_segments` (segments.ts); a location that fails waits
 * (exponential backoff, `copy.retry_*`) and never holds up the others; the `locations` alert
 * rule fires after `copy.alert_after_failures` failures. The primary's own row is verified by
 * the same reads (or by hashing in place what no copy read). Retention per location runs last.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { MANIFEST_KEY } from "../format/mod.ts";
import { type Location, primaryOf } from "../locations/mod.ts";
import { type Store, StoreError, type StoreTuning } from "../store/mod.ts";
import { type BackupToCopy, backupObjects } from "./objects.ts";
import { copyObject, objectMatches } from "./object.ts";
import { applyLocationRetention, type LocationPrune } from "./retention.ts";
import { copySegments, planSegments, type Segment, type SegmentReport, STREAM_PREFIX } from "./segments.ts";

/**
 * Upload tuning for the stores a copy writes to: S3's smallest part (5 MiB), four in flight,
 * so that the one object a copy writes at a time holds about 25 MB (bench/copy/RESULTS.md).
 * Pass it to openLocation.
 */
export const COPY_TUNING: StoreTuning = { uploadChunkBytes: 5 * 1024 * 1024, uploadConcurrency: 4 };

/** What a copy run may use. */
export interface CopyOptions {
  sql: Sql;
  /** The checked location set (locations/mod.ts). */
  locations: Location[];
  /** Opens a location's store with its credentials. */
  open: (loc: Location) => Promise<Store>;
  /** Stop starting new objects after this time (epoch ms); the next run resumes. */
  deadline?: number;
  /** Apply each location's retention once every copy is done (default true). */
  retention?: boolean;
  now?: () => Date;
  signal?: AbortSignal;
  /** Called after each object written or found present. */
  onObject?: (location: string, key: string, bytes: number, outcome: "copied" | "present") => void;
}

/** One location's part of a run. */
export interface LocationCopyReport {
  name: string;
  role: Location["role"];
  /** Backups whose copy completed (and was verified) in this run. */
  copied: string[];
  failed: { backupId: string; error: string; retryAt: string | null }[];
  /** Set when the location could not be used at all in this run. */
  unreachable?: string;
  objectsCopied: number;
  bytesCopied: number;
  objectsPresent: number;
  segments?: SegmentReport;
  pruned: LocationPrune[];
}

/** What a run did. */
export interface CopyReport {
  primary: string;
  backupsOnPrimary: number;
  /** Backups seen for the first time (their pending rows were made). */
  planned: string[];
  locations: LocationCopyReport[];
  /** False when the deadline stopped the run with work left: run again to resume. */
  done: boolean;
}

/** Errors that mean the location itself is unusable now (not this one backup): stop trying it this run. */
function locationDown(err: unknown): boolean {
  return err instanceof StoreError && ["unavailable", "auth", "no_bucket", "config"].includes(err.code);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class OutOfBudget extends Error {}

/** Copies what is due to every location and applies retention; never throws for one location's failure. */
export async function runCopy(opts: CopyOptions): Promise<CopyReport> {
  const { sql } = opts;
  const now = opts.now ?? (() => new Date());
  const primary = primaryOf(opts.locations);
  const src = await opts.open(primary);
  const enabled = opts.locations.filter((l) => l.enabled);
  const report: CopyReport = { primary: primary.name, backupsOnPrimary: 0, planned: [], locations: [], done: true };
  const checkBudget = () => {
    if (opts.deadline !== undefined && Date.now() >= opts.deadline) throw new OutOfBudget();
  };

  // Every complete backup on the primary; a row per location for each one not planned yet.
  const onPrimary = new Set<string>();
  const segments: Segment[] = [];
  for await (const o of src.list("", { signal: opts.signal })) {
    const m = /^([^/]+)\/manifest\.json$/.exec(o.key);
    if (m) onPrimary.add(m[1]);
    else if (o.key.startsWith(STREAM_PREFIX)) segments.push({ key: o.key, size: o.size });
  }
  report.backupsOnPrimary = onPrimary.size;
  const planned = new Set((await sql`
    select c.backup_id from lifeboat.location_copies c join lifeboat.locations l on l.name = c.location and l.enabled
    group by c.backup_id having count(*) >= ${enabled.length}`).map((r) => String(r.backup_id)));
  const cache = new Map<string, BackupToCopy>();
  const objectsOf = async (id: string) => {
    let b = cache.get(id);
    if (!b) cache.set(id, b = await backupObjects(src, id));
    return b;
  };
  for (const id of [...onPrimary].sort()) {
    if (planned.has(id)) continue;
    let b: BackupToCopy;
    try {
      b = await objectsOf(id);
    } catch (err) {
      // A backup whose manifest cannot be read is not copied; verify reports it.
      if (!(err instanceof StoreError) || locationDown(err)) throw err;
      continue;
    }
    await sql`select lifeboat.copy_plan(${id}, ${b.finishedAt.toISOString()}::timestamptz, ${b.objects.length}, ${b.bytes})`;
    report.planned.push(id);
  }
  // Backups the primary no longer holds (pruned there): its rows say so.
  for (const r of await sql`select c.backup_id from lifeboat.location_copies c where c.location = ${primary.name} and c.state <> 'pruned'`) {
    if (!onPrimary.has(String(r.backup_id))) {
      await sql`select lifeboat.copy_record_prune(${primary.name}, ${r.backup_id}, 'no longer on the primary store')`;
    }
  }

  // Every change segment on the primary, pending for each other location until copied there.
  await planSegments(sql, segments);

  // Which primary objects some copy read (and its destination checked against the sha256) in this run.
  const readHere = new Map<string, Set<string>>();
  const perLocation = new Map<string, LocationCopyReport>();
  const fail = async (loc: LocationCopyReport, backupId: string, err: unknown) => {
    const rows = await sql`select lifeboat.copy_record_failure(${loc.name}, ${backupId}, ${message(err)}) as at`;
    const at = rows[0]?.at ? new Date(rows[0].at as string).toISOString() : null;
    loc.failed.push({ backupId, error: message(err), retryAt: at });
  };

  try {
    for (const loc of enabled) {
      const lr: LocationCopyReport = { name: loc.name, role: loc.role, copied: [], failed: [], objectsCopied: 0, bytesCopied: 0, objectsPresent: 0, pruned: [] };
      perLocation.set(loc.name, lr);
      report.locations.push(lr);
      if (loc.name === primary.name) continue;
      const due = await sql`select backup_id from lifeboat.copy_due(${loc.name}, ${now().toISOString()}::timestamptz)`;
      let dst: Store;
      try {
        dst = await opts.open(loc);
      } catch (err) {
        lr.unreachable = message(err);
        for (const row of due) await fail(lr, String(row.backup_id), err);
        continue;
      }
      for (const row of due) {
        const id = String(row.backup_id);
        if (lr.unreachable) {
          // The location is down: every copy due there waits (backs off) with it.
          await fail(lr, id, new StoreError("unavailable", `not tried: ${lr.unreachable}`));
          continue;
        }
        checkBudget();
        try {
          if (!onPrimary.has(id)) throw new StoreError("not_found", `backup ${id} is no longer on the primary: nothing to copy`);
          const b = await objectsOf(id);
          const read = readHere.get(id) ?? new Set<string>();
          readHere.set(id, read);
          for (const o of b.objects) {
            checkBudget();
            const outcome = await copyObject(src, dst, o, opts.signal);
            if (outcome === "copied") {
              read.add(o.key);
              lr.objectsCopied++;
              lr.bytesCopied += o.size;
            } else lr.objectsPresent++;
            opts.onObject?.(loc.name, o.key, o.size, outcome);
          }
          // The manifest went last; what the location holds now is the whole backup.
          const head = await dst.head(`${id}/${MANIFEST_KEY}`);
          if (!head) throw new StoreError("integrity", `backup ${id}: the manifest is not readable at ${loc.name} after the copy`);
          await sql`select lifeboat.copy_record_success(${loc.name}, ${id}, ${b.objects.length}, ${b.bytes})`;
          lr.copied.push(id);
        } catch (err) {
          if (err instanceof OutOfBudget) throw err;
          await fail(lr, id, err);
          if (locationDown(err)) lr.unreachable = message(err);
        }
      }
      if (!lr.unreachable) {
        checkBudget();
        try {
          lr.segments = await copySegments(sql, loc.name, src, dst, segments, { checkBudget, signal: opts.signal });
        } catch (err) {
          if (err instanceof OutOfBudget) throw err;
          lr.unreachable = `change segments: ${message(err)}`;
        }
      }
    }

    // The primary's own rows: verified by what the copies read, the rest hashed in place.
    const pr = perLocation.get(primary.name)!;
    for (const row of await sql`select backup_id from lifeboat.copy_due(${primary.name}, ${now().toISOString()}::timestamptz)`) {
      const id = String(row.backup_id);
      checkBudget();
      try {
        const b = await objectsOf(id);
        const read = readHere.get(id) ?? new Set<string>();
        for (const o of b.objects) {
          if (read.has(o.key)) continue;
          checkBudget();
          if (!(await objectMatches(src, o, opts.signal))) {
            throw new StoreError("integrity", `backup ${id}: ${o.key} on the primary does not match the sha256 its manifest records`);
          }
        }
        await sql`select lifeboat.copy_record_success(${primary.name}, ${id}, ${b.objects.length}, ${b.bytes})`;
        pr.copied.push(id);
      } catch (err) {
        if (err instanceof OutOfBudget) throw err;
        await fail(pr, id, err);
      }
    }
  } catch (err) {
    if (!(err instanceof OutOfBudget)) throw err;
    report.done = false;
    return report;
  }

  if (opts.retention ?? true) {
    for (const loc of enabled) {
      const lr = perLocation.get(loc.name)!;
      if (lr.unreachable) continue;
      try {
        const store = loc.name === primary.name ? src : await opts.open(loc);
        lr.pruned = await applyLocationRetention(sql, loc.name, store, now());
      } catch (err) {
        lr.unreachable = `retention: ${message(err)}`;
      }
    }
  }
  return report;
}

/**
 * The data phase: every chosen part streamed from the store, checked against its sha256,
 * decrypted, decompressed and fed to `COPY … FROM STDIN` on the target, several parts at once,
 * each on its own connection and with bounded memory (backpressure end to end).
 * @module
 */
import { openStream } from "../crypto/mod.ts";
import { copyIn, reserveWatched, settleWithin, type Sql } from "../db/mod.ts";

type Reserved = Awaited<ReturnType<Sql["reserve"]>>;
import type { Store } from "../store/mod.ts";
import { type Manifest, objectKey, type StoredObjectEntry, type TableEntry } from "../format/mod.ts";
import { splitPart, verifyingStream } from "./copy_part.ts";
import { display, type QName, qualified } from "./names.ts";
import { runScheduled } from "./schedule.ts";

/** One part to load and where it goes. */
export interface PartTask {
  table: TableEntry;
  object: StoredObjectEntry;
  target: QName;
  /**
   * A platform table (auth, storage) that exists on the target: loaded through a staging
   * table, with `clean` replacing the target's rows that have the same keys (platform_rows.ts).
   */
  platform?: { clean: boolean };
}

/** Progress of the data phase. */
export interface LoadProgress {
  partsDone: number;
  partsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  rowsDone: number;
  rowsTotal: number;
}

/** Options for {@linkcode loadParts}. */
export interface LoadOptions {
  store: Store;
  manifest: Manifest;
  identities: string[] | null;
  target: Sql;
  tasks: PartTask[];
  jobs: number;
  signal?: AbortSignal;
  onProgress?: (p: LoadProgress) => void;
  /** Load tables that fit a job's share whole, per transaction, with COPY FREEZE (default true). */
  freeze?: boolean;
}

/** A failed part, described without row data. */
export class LoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LoadError";
  }
}

function dbReason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  // COPY errors can quote row values; keep the SQLSTATE and the first words only.
  if (typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) return `database error SQLSTATE ${e.code}`;
  return e?.message ?? String(err);
}

/** A part's share of its table, from rows when both are known, else from stored size. */
function partShare(t: PartTask): number {
  const parts = t.table.parts.length || 1;
  if (t.object.rows !== undefined && t.table.rows > 0) return t.object.rows / t.table.rows;
  return 1 / parts;
}

/**
 * Estimated COPY cost of a part, in bytes of COPY text. The server also pays per row, parsing
 * and forming each tuple (jsonb, numeric and timestamps cost far more than their bytes).
 * Measured on bench/restore (one backend each): 192 MB of bytea in 2 k rows 1.3 s (≈ 6.6 ns a
 * byte), 335 MB of text in 250 k rows 2.4 s, 266 MB of jsonb rows in 2 M rows 9.7 s (≈ 4 µs a
 * row); a row is weighted like {@linkcode ROW_COST} bytes. Only the ranking matters.
 */
export function partCost(t: PartTask): number {
  const share = partShare(t);
  const rows = t.object.rows ?? t.table.rows * share;
  return t.table.bytes * share + ROW_COST * rows;
}

/** Bytes of COPY text a row costs on top of its own (see {@linkcode partCost}). */
export const ROW_COST = 500;

/**
 * How far above a fair share a table must be before its parts are loaded in parallel.
 * Splitting costs some server CPU that FREEZE saves (hint bits set by the first scan, an
 * autovacuum the many commits trigger, contention on one heap), but a table of more than a
 * job's share otherwise keeps one backend busy after the rest is done, with its index builds
 * and fingerprint still to come. On bench/restore (2 cores shared by client and server,
 * --jobs 2, the 2 M-row table at 1.3 shares) splitting was faster in 9 of 9 back-to-back
 * pairs: 12.3-15.0 s against 13.3-16.6 s.
 */
export const SPLIT_FACTOR = 1;

/** What one connection loads in one go: a whole table in one transaction, or one part. */
export interface LoadUnit {
  table: TableEntry;
  target: QName;
  tasks: PartTask[];
  /**
   * TRUNCATE, then COPY … FREEZE of every part in one transaction: the rows are written
   * frozen, so the index builds, ANALYZE and fingerprints that read them next do not have to
   * set hint bits and write every page again.
   */
  freeze: boolean;
  /** Estimated cost (see {@linkcode partCost}). */
  cost: number;
  /** Estimated cost of the whole table the unit belongs to. */
  tableCost: number;
  /** A platform table's unit (see {@linkcode PartTask.platform}). */
  platform?: { clean: boolean };
}

/**
 * Cuts the data phase into units. A table is one FREEZE unit unless its cost exceeds
 * {@linkcode SPLIT_FACTOR} times one job's fair share (total / jobs); such a table is cut into
 * its parts, which run on several connections at once (without FREEZE, which needs the
 * TRUNCATE's transaction), so that it does not keep one backend busy long after the others
 * have finished.
 */
export function planLoadUnits(tasks: PartTask[], jobs: number, freeze = true): LoadUnit[] {
  const byTable = new Map<string, PartTask[]>();
  for (const t of tasks) {
    const k = `${t.target.schema}\u0000${t.target.name}`;
    if (!byTable.has(k)) byTable.set(k, []);
    byTable.get(k)!.push(t);
  }
  const groups = [...byTable.values()].map((g) => ({
    tasks: [...g].sort((a, b) => (a.object.part ?? 0) - (b.object.part ?? 0)),
    cost: g.reduce((s, t) => s + partCost(t), 0),
  }));
  const total = groups.reduce((s, g) => s + g.cost, 0);
  const share = total / Math.max(1, jobs);
  const units: LoadUnit[] = [];
  for (const g of groups) {
    const base = { table: g.tasks[0].table, target: g.tasks[0].target, tableCost: g.cost };
    // A platform table is never truncated: one unit, loaded through its staging table.
    if (g.tasks[0].platform) units.push({ ...base, tasks: g.tasks, freeze: false, cost: g.cost, platform: g.tasks[0].platform });
    else if (freeze && g.cost <= SPLIT_FACTOR * share) units.push({ ...base, tasks: g.tasks, freeze: true, cost: g.cost });
    else for (const t of g.tasks) units.push({ ...base, tasks: [t], freeze: false, cost: partCost(t) });
  }
  return units.sort((a, b) => b.tableCost - a.tableCost || b.cost - a.cost);
}

/** Progress counters for a list of tasks, all at zero. */
export function newProgress(tasks: PartTask[]): LoadProgress {
  return {
    partsDone: 0,
    partsTotal: tasks.length,
    bytesDone: 0,
    bytesTotal: tasks.reduce((s, t) => s + t.object.size, 0),
    rowsDone: 0,
    rowsTotal: tasks.reduce((s, t) => s + (t.object.rows ?? 0), 0),
  };
}

/** What {@linkcode loadUnit} needs besides the unit. */
export type LoadContext = Pick<LoadOptions, "store" | "manifest" | "identities" | "target" | "onProgress">;

/**
 * Loads one unit on its own connection; rejects on failure, with the unit's transaction (a
 * FREEZE unit) or the failed part's COPY rolled back.
 */
export async function loadUnit(o: LoadContext, unit: LoadUnit, p: LoadProgress, signal: AbortSignal): Promise<void> {
  // Safe for a load that is verified afterwards: a crash means restoring again anyway.
  const w = await reserveWatched(o.target, "set synchronous_commit = off");
  const conn = w.sql as unknown as Reserved;
  // Every step is guarded: a statement sent after the target went away would never settle.
  const stop = AbortSignal.any([signal, w.signal]);
  try {
    if (unit.freeze) await w.guard(conn.unsafe(`begin; truncate only ${qualified(unit.target)}`));
    try {
      for (const t of unit.tasks) {
        if (stop.aborted) throw stop.reason;
        await w.guard(loadOne(o, conn, t, stop, unit.freeze, (bytes) => {
          p.bytesDone += bytes;
          o.onProgress?.(p);
        }));
        p.partsDone++;
        p.rowsDone += t.object.rows ?? 0;
        o.onProgress?.(p);
      }
      if (unit.freeze) await w.guard(conn.unsafe("commit"));
    } catch (err) {
      // Bounded: after an outage the reserved connection is gone and the ROLLBACK would never settle.
      if (unit.freeze && !w.signal.aborted) await settleWithin(w.guard(conn.unsafe("rollback")), 5000).catch(() => {});
      throw err;
    }
  } finally {
    w.release();
  }
}

/** Loads every task; rejects on the first failure (the failed part's COPY is rolled back). */
export async function loadParts(o: LoadOptions): Promise<LoadProgress> {
  const p = newProgress(o.tasks);
  const units = planLoadUnits(o.tasks, o.jobs, o.freeze !== false);
  await runScheduled(
    units.map((u, i) => ({ id: String(i), priority: -i, run: (signal) => loadUnit(o, u, p, signal) })),
    o.jobs,
    o.signal,
  );
  return p;
}

/**
 * Streams one part into `t.target` with COPY on `conn`; returns the part's column list (as
 * quoted in its COPY header, or "" for all columns).
 */
export async function loadOne(
  o: LoadContext,
  conn: Reserved,
  t: PartTask,
  signal: AbortSignal,
  freeze: boolean,
  onBytes: (n: number) => void,
): Promise<string> {
  const what = `part ${t.object.key} of ${display(t.table)}`;
  const stored = await o.store.get(objectKey(o.manifest.id, t.object.key), { signal });
  const encrypted = o.manifest.encryption.scheme !== "none";
  // The sha256 of every object was checked before anything was written; while loading, an
  // unencrypted part is hashed again (a change in between fails its COPY), an encrypted one
  // is authenticated by its decryption instead (see verifyingStream).
  const countedBytes = stored.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(c, ctl) {
      onBytes(c.byteLength);
      ctl.enqueue(c);
    },
  }));
  const fail = (err: unknown): never => {
    if (err instanceof LoadError) throw err;
    if (signal.aborted && signal.reason !== err) throw signal.reason;
    throw new LoadError(`loading ${what} into ${display(t.target)} failed (${dbReason(err)}); its rows were rolled back`, { cause: err });
  };
  let part: Awaited<ReturnType<typeof splitPart>>;
  try {
    // With large compression frames a damaged part may fail here already, before any row.
    const plain = await openStream(
      countedBytes.pipeThrough(verifyingStream(t.object.sha256, t.object.size, what, !encrypted)),
      encrypted ? o.identities : null,
      o.manifest.compression,
    );
    part = await splitPart(plain, t.object.rows);
  } catch (err) {
    return fail(err);
  }
  if (part.header.table.schema !== t.table.schema || part.header.table.name !== t.table.name) {
    await part.rows.cancel();
    throw new LoadError(`${what} holds rows of ${display(part.header.table)}: the backup is inconsistent`);
  }
  const cols = part.header.columns ? ` (${part.header.columns})` : "";
  try {
    await copyIn(conn, `copy ${qualified(t.target)}${cols} from stdin${freeze ? " with (freeze)" : ""}`, part.rows, signal);
  } catch (err) {
    fail(err);
  }
  const rows = part.counted();
  if (t.object.rows !== undefined && rows !== t.object.rows) {
    throw new LoadError(`${what} held ${rows} rows, the manifest says ${t.object.rows}`);
  }
  return part.header.columns ?? "";
}

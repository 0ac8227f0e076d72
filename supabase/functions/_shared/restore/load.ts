/**
 * The data phase: every chosen part streamed from the store, checked against its sha256,
 * decrypted, decompressed and fed to `COPY … FROM STDIN` on the target, several parts at once,
 * each on its own connection and with bounded memory (backpressure end to end).
 * @module
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { openStream } from "../crypto/mod.ts";
import type { Sql } from "../db.ts";
import type { Manifest, StoredObjectEntry, TableEntry } from "../format/manifest.ts";
import type { Store } from "../store/types.ts";
import { objectKey } from "../verify/locate.ts";
import { splitPart, verifyingStream } from "./copy_part.ts";
import { display, type QName, qualified } from "./names.ts";

/** One part to load and where it goes. */
export interface PartTask {
  table: TableEntry;
  object: StoredObjectEntry;
  target: QName;
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
  /** Load whole tables per transaction with COPY FREEZE when balanced (default true). */
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

/** Loads every task; rejects on the first failure (the failed part's COPY is rolled back). */
export async function loadParts(o: LoadOptions): Promise<LoadProgress> {
  const tasks = [...o.tasks].sort((a, b) => b.object.size - a.object.size);
  const p: LoadProgress = {
    partsDone: 0,
    partsTotal: tasks.length,
    bytesDone: 0,
    bytesTotal: tasks.reduce((s, t) => s + t.object.size, 0),
    rowsDone: 0,
    rowsTotal: tasks.reduce((s, t) => s + (t.object.rows ?? 0), 0),
  };
  // Whole tables per transaction (TRUNCATE, then COPY … FREEZE of each part) write the rows
  // frozen, so the index builds, ANALYZE and fingerprints that read them next do not have to
  // set hint bits and write every page again. That serializes the parts of one table, so it is
  // used only when no single table dominates the load.
  const byTable = new Map<string, PartTask[]>();
  for (const t of tasks) {
    const k = `${t.target.schema}\u0000${t.target.name}`;
    byTable.set(k, [...(byTable.get(k) ?? []), t]);
  }
  const groups = [...byTable.values()].map((g) => ({ tasks: g, size: g.reduce((s, t) => s + t.object.size, 0) }))
    .sort((a, b) => b.size - a.size);
  const freeze = o.freeze !== false && groups.length > 0 && groups[0].size <= (p.bytesTotal / Math.max(1, o.jobs)) * 1.25;
  const units: PartTask[][] = freeze ? groups.map((g) => g.tasks) : tasks.map((t) => [t]);
  const ac = new AbortController();
  const onAbort = () => ac.abort(o.signal?.reason);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    const conn = await o.target.reserve();
    try {
      // Safe for a load that is verified afterwards: a crash means restoring again anyway.
      await conn`set synchronous_commit = off`;
      while (next < units.length && !ac.signal.aborted) {
        const unit = units[next++];
        try {
          if (freeze) await conn.unsafe(`begin; truncate only ${qualified(unit[0].target)}`);
          for (const t of unit) {
            await loadOne(o, conn, t, ac.signal, freeze, (bytes) => {
              p.bytesDone += bytes;
              o.onProgress?.(p);
            });
            p.partsDone++;
            p.rowsDone += t.object.rows ?? 0;
            o.onProgress?.(p);
          }
          if (freeze) await conn.unsafe("commit");
        } catch (err) {
          if (freeze) await conn.unsafe("rollback").catch(() => {});
          if (failure === undefined) failure = err;
          ac.abort(err);
        }
      }
    } finally {
      conn.release();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.jobs, units.length)) }, worker));
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  if (failure !== undefined) throw failure;
  return p;
}

async function loadOne(
  o: LoadOptions,
  conn: Awaited<ReturnType<Sql["reserve"]>>,
  t: PartTask,
  signal: AbortSignal,
  freeze: boolean,
  onBytes: (n: number) => void,
): Promise<void> {
  const what = `part ${t.object.key} of ${display(t.table)}`;
  const stored = await o.store.get(objectKey(o.manifest.id, t.object.key), { signal });
  const counted = stored.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(c, ctl) {
      onBytes(c.byteLength);
      ctl.enqueue(c);
    },
  })).pipeThrough(verifyingStream(t.object.sha256, t.object.size, what));
  const plain = await openStream(counted, o.manifest.encryption.scheme === "none" ? null : o.identities);
  const part = await splitPart(plain);
  if (part.header.table.schema !== t.table.schema || part.header.table.name !== t.table.name) {
    await part.rows.cancel();
    throw new LoadError(`${what} holds rows of ${display(part.header.table)}: the backup is inconsistent`);
  }
  const cols = part.header.columns ? ` (${part.header.columns})` : "";
  try {
    const writable = await conn.unsafe(`copy ${qualified(t.target)}${cols} from stdin${freeze ? " with (freeze)" : ""}`).writable();
    await pipeline(Readable.fromWeb(part.rows as unknown as import("node:stream/web").ReadableStream), writable, { signal });
  } catch (err) {
    if (signal.aborted && signal.reason !== err) throw signal.reason;
    throw new LoadError(`loading ${what} into ${display(t.target)} failed (${dbReason(err)}); its rows were rolled back`, { cause: err });
  }
  const rows = part.counted();
  if (t.object.rows !== undefined && rows !== t.object.rows) {
    throw new LoadError(`${what} held ${rows} rows, the manifest says ${t.object.rows}`);
  }
}

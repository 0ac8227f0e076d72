/**
 * The one-shot export driver: one consistent, streaming, encrypted logical backup of a
 * database into a store in a single run, needing nothing but a Postgres connection (no
 * pg_dump, no subprocess). The chunked driver (jobs/) runs the same core (snapshot.ts,
 * catalog.ts, ddl.ts, fingerprints.ts, table_copy.ts, schema_objects.ts,
 * manifest_builder.ts, policy.ts) across edge-function invocations.
 *
 * Consistency: a coordinator transaction (repeatable read, read only) exports its snapshot;
 * worker connections adopt it with SET TRANSACTION SNAPSHOT and copy tables in parallel.
 * DDL, sequence values, row counts and fingerprints are all read inside that snapshot.
 * The manifest is written last; a backup without one is incomplete.
 * @module
 */
import { beginSettled, copyOutRegistry, type Sql, type Tx } from "../db/mod.ts";
import type { Compression } from "../crypto/mod.ts";
import { backupPrefix, type FilesSection, type Manifest, MANIFEST_KEY, newBackupId, type StoredObjectEntry } from "../format/mod.ts";
import { SIGNATURE_KEY } from "../format/mod.ts";
import { storeManifest } from "./store_manifest.ts";
import { countLargeObjects, noteLargeObjects } from "./large_objects.ts";
import type { Store } from "../store/mod.ts";
import { listSequences, listTables, readServerInfo, type TableInfo } from "./catalog.ts";
import { copiedPlatformTables, readSchemaScripts } from "./ddl.ts";
import { type Fingerprints, readFingerprints } from "./fingerprints.ts";
import { manifestFromParts, type StoredPart } from "./manifest_builder.ts";
import type { SealConfig } from "./part_writer.ts";
import { decideCodec, decideEncryption, type PolicyProblem, sealOf } from "./policy.ts";
import { type ExportProgress, ProgressTracker } from "./progress.ts";
import { type SchemaKind, schemaObjectText, storeSchemaObject } from "./schema_objects.ts";
import type { Selection, TableRef } from "./selection.ts";
import { adoptSnapshot, currentLsn, DEFAULT_LOCK_TIMEOUT_MS, exportSnapshot } from "./snapshot.ts";
import { LockGate, lockTables, SnapshotConflictError, WORKER_LOCK_GRACE_MS } from "./locks.ts";
import { copyTableToParts } from "./table_copy.ts";

/** Default plain bytes per data part. */
// 8 MiB of COPY text seals to less than the 8 MiB of stored bytes a part may buffer (see
// part_writer.ts) unless the text does not compress at all, so parts go to S3 as one PUT
// with their sha256 known up front (bigger ones are still streamed, correctly). With
// 16 MiB, parts of poorly compressible text (md5 hex: 52 %) were streamed as multipart uploads
// and the exporter's peak RSS was 30-40 MB higher (bench/export/RESULTS.md).
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
/** Default number of tables exported at once. */
export const DEFAULT_CONCURRENCY = 2;

/** Snapshots an export tries when its tables cannot be held (see {@link ExportOptions.snapshotAttempts}). */
export const DEFAULT_SNAPSHOT_ATTEMPTS = 5;

/** An object the export has stored (reported as soon as the store confirms it). */
export interface ExportedObject extends StoredObjectEntry {
  /** Key inside the store (backup prefix included). */
  storeKey: string;
}

/** The two steps of a files phase (see {@link ExportOptions.files}). */
export interface FilesPhase {
  rows(tx: Tx): Promise<unknown>;
  copy(rows: unknown, ctx: { seal: SealConfig; signal: AbortSignal }): Promise<FilesSection>;
}

/** Options for {@link exportBackup}. */
export interface ExportOptions {
  /** A client whose pool allows `concurrency + 2` connections (see {@link poolSizeFor}). */
  sql: Sql;
  store: Store;
  /** age X25519 recipients. Empty only together with `unencrypted: true`. */
  recipients: string[];
  /** Write compressed-only objects; recorded in the manifest. Requires no recipients. */
  unencrypted?: boolean;
  selection?: Selection;
  label?: string | null;
  /** Backup id (default: a new one); objects go under `<id>/` in the store. */
  id?: string;
  concurrency?: number;
  partBytes?: number;
  batchBytes?: number;
  /** On-disk bytes read per COPY statement (default 4 MiB; see table_copy.ts). */
  sliceBytes?: number;
  /** Stored bytes a part may buffer to be put with a known sha256 (default 8 MiB). */
  bufferBytes?: number;
  /** Parts of a table that may upload while its next part is written (default 2; see table_copy.ts). */
  uploadsInFlight?: number;
  /** Codec of every object (default: zstd where node:zlib has it, else gzip; see crypto/compression.ts). */
  compression?: Compression;
  /** Compression level (default: the measured choice for the codec). */
  compressionLevel?: number;
  /** Record `lifeboat.fingerprint` of every table (default true). */
  fingerprints?: boolean;
  /** How long to wait for the ACCESS SHARE lock on each table (default 30 s). */
  lockTimeoutMs?: number;
  /**
   * Snapshots tried before the export gives up when its tables cannot be held (a TRUNCATE or
   * other exclusive request queued behind its locks, or a table rewritten after the snapshot;
   * see locks.ts): default 5. Nothing is stored before the tables are held.
   */
  snapshotAttempts?: number;
  signal?: AbortSignal;
  /** Called often (every batch); throttle rendering on the caller's side. */
  onProgress?: (p: ExportProgress) => void;
  /** Called once the run's snapshot is known, before any data is read. */
  onSnapshot?: (s: { snapshotId: string; lsn: string; tables: TableInfo[] }) => void | Promise<void>;
  /** Called for every stored object, in completion order. */
  onObject?: (o: ExportedObject) => void | Promise<void>;
  /** Ed25519 key the manifest is signed with (see format/signature.ts); null writes an unsigned backup. */
  signingKey?: CryptoKey | null;
  /**
   * The files phase (source/storage/): `rows` reads the snapshot's `storage.objects` rows
   * inside the backup's transaction; `copy` stores the files after it has ended (so the
   * tables' locks are not held while files are read); its section goes into the manifest as
   * `files`.
   */
  files?: FilesPhase;
  /** Without `files`: why the backup holds no Storage files, recorded in the manifest (`filesNotBackedUp`). */
  filesNotBackedUp?: string;
  /** Delete the objects already stored when the export fails (default true). */
  cleanupOnFailure?: boolean;
}

/** What {@link exportBackup} returns. */
export interface ExportResult {
  id: string;
  manifest: Manifest;
  /** The manifest's key in the store. */
  manifestKey: string;
  manifestSha256: string;
  progress: ExportProgress;
}

/** Thrown for options that cannot work; the message says what to change. */
export class ExportConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExportConfigError";
  }
}

/** The pool size an export with `concurrency` workers needs (coordinator and fingerprints included). */
export function poolSizeFor(concurrency: number): number {
  return concurrency + 2;
}

const TX_MODE = "isolation level repeatable read, read only";

const POLICY_MESSAGES: Record<PolicyProblem, string> = {
  no_recipient: "no age recipient given: pass at least one age1… recipient (or explicitly ask for an unencrypted backup)",
  recipients_with_unencrypted: "recipients were given for an unencrypted backup: drop one or the other",
  zstd_unavailable: "zstd is not available in this runtime (its node:zlib has no zstd): choose gzip compression",
};
const policyError = (p: PolicyProblem) => new ExportConfigError(POLICY_MESSAGES[p]);

/** Runs one full export; resolves after the manifest is stored. */
export async function exportBackup(opts: ExportOptions): Promise<ExportResult> {
  const encryption = decideEncryption(opts.recipients, opts.unencrypted ?? false, policyError);
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) {
    throw new ExportConfigError("concurrency must be an integer from 1 to 32");
  }
  const partBytes = opts.partBytes ?? DEFAULT_PART_BYTES;
  if (!Number.isInteger(partBytes) || partBytes < 1024) throw new ExportConfigError("partBytes must be at least 1024");
  const policy = { ...encryption, compression: decideCodec(opts.compression, policyError) };
  if (opts.selection?.includeVault && !policy.encrypted) {
    throw new ExportConfigError("Vault secrets are exported decrypted, so only into an encrypted backup: give a recipient, or leave the Vault out");
  }

  const startedAt = new Date();
  const id = opts.id ?? newBackupId(startedAt);
  const prefix = backupPrefix(id);
  const selection = opts.selection ?? {};
  const seal = sealOf(policy, opts.compressionLevel);
  // The caller's signal and this attempt's own abort (a new one per snapshot attempt).
  const linkedTo = (c: AbortController) => opts.signal ? AbortSignal.any([opts.signal, c.signal]) : c.signal;
  let abort = new AbortController();
  let signal = linkedTo(abort);
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const parts: StoredPart[] = [];
  let progress = new ProgressTracker([]);

  const record = async (p: StoredPart) => {
    parts.push(p);
    progress.stored(p.size);
    const { plainBytes: _b, ...o } = p;
    await opts.onObject?.({ ...o, storeKey: prefix + p.key });
  };

  try {
    let fileRows: unknown;
    const attempts = opts.snapshotAttempts ?? DEFAULT_SNAPSHOT_ATTEMPTS;
    // One attempt per snapshot: an attempt that cannot hold its tables stops before it stores
    // anything (the lock gate), so the next one starts clean.
    // The tables a failed attempt listed: the next one locks them before its snapshot exists,
    // so none of them can be truncated between the snapshot and the lock.
    let known: TableInfo[] = [];
    const attempt = () => beginSettled(opts.sql, TX_MODE, async (tx) => {
      if (known.length) {
        const prelock = known;
        known = [];
        await lockBeforeSnapshot(tx, prelock, lockTimeoutMs);
      }
      const snap = await exportSnapshot(tx, lockTimeoutMs);
      const server = await readServerInfo(tx);
      const scripts = await readSchemaScripts(tx, selection);
      const tables = await listTables(tx, selection, scripts.scope, copiedPlatformTables(scripts.platform));
      known = tables;
      await lockTables(tx, tables);
      const sequences = await listSequences(tx, selection, scripts.scope, tables);
      progress = new ProgressTracker(tables);
      await opts.onSnapshot?.({ snapshotId: snap.id, lsn: snap.lsn, tables });

      const finalizeFacts = { sequences, matviews: scripts.matviews, tables };
      const storeScript = async (kind: SchemaKind) => {
        const text = await schemaObjectText(kind, () => scripts, finalizeFacts);
        const w = await storeSchemaObject(opts.store, prefix, kind, text, seal, signal);
        await record({ key: w.key, kind, size: w.size, sha256: w.sha256 });
      };
      // The workers take their locks first; nothing is stored before all of them hold them.
      const n = Math.max(1, Math.min(concurrency, tables.length));
      const gate = new LockGate(tables.length ? n + ((opts.fingerprints ?? true) ? 1 : 0) : 0);
      const data = exportTables(opts, tables, {
        snapshotId: snap.id, concurrency: n, partBytes, prefix, seal, signal, progress, record, gate,
        fingerprints: opts.fingerprints ?? true,
        fail: (err) => abort.abort(err),
      });
      try {
        await gate.ready;
        await storeScript("roles");
        await storeScript("pre-data");
        gate.open();
      } catch (err) {
        gate.failed(err);
        abort.abort(err);
        await data.catch(() => {});
        throw err;
      }
      progress.phase("data");
      opts.onProgress?.(progress.snapshot());
      const fingerprints = await data;

      progress.phase("finishing");
      await storeScript("post-data");
      await storeScript("finalize");
      fileRows = opts.files ? await opts.files.rows(tx) : undefined;
      const lsnEnd = await currentLsn(tx);

      const largeObjects = await countLargeObjects(tx);
      return noteLargeObjects(manifestFromParts(
        {
          id,
          label: opts.label ?? null,
          kind: (selection.tables?.length ?? 0) > 0 ? "tables" : "full",
          startedAt,
          finishedAt: new Date(),
          selection,
          policy,
        },
        {
          server,
          snapshot: { consistent: true, snapshotIds: [snap.id], lsnStart: snap.lsn, lsnEnd, visibility: snap.visibility },
          stream: snap.stream,
          sequences,
          fingerprints,
          excludedSchemas: scripts.excludedSchemas,
          passwordsNotExported: scripts.passwordsNotExported,
          platform: scripts.platform,
        },
        parts,
      ), largeObjects);
    });
    let built: Manifest | undefined;
    for (let n = 1; !built; n++) {
      try {
        built = await attempt();
      } catch (err) {
        const conflict = err instanceof SnapshotConflictError ? err : abort.signal.reason instanceof SnapshotConflictError ? abort.signal.reason : null;
        if (!conflict || conflict.kind === "timeout" || n >= attempts || parts.length) throw conflict ?? err;
        // The conflicting request goes first once this attempt's locks are gone; then a new snapshot.
        abort = new AbortController();
        signal = linkedTo(abort);
        await new Promise((r) => setTimeout(r, 200 * n));
      }
    }
    const manifest: Manifest = opts.files
      ? { ...built, files: await opts.files.copy(fileRows, { seal, signal }), finishedAt: new Date().toISOString() }
      : opts.filesNotBackedUp
      ? { ...built, filesNotBackedUp: opts.filesNotBackedUp }
      : built;

    // Last, and only after every other object is confirmed: this marks the backup complete.
    signal.throwIfAborted();
    const stored = await storeManifest(opts.store, prefix, manifest, opts.signingKey ?? null, signal);
    progress.phase("done");
    const final = progress.snapshot();
    opts.onProgress?.(final);
    return { id, manifest, manifestKey: prefix + MANIFEST_KEY, manifestSha256: stored.sha256, progress: final };
  } catch (err) {
    abort.abort(err);
    if (opts.cleanupOnFailure ?? true) {
      for (const p of parts) await opts.store.delete(prefix + p.key).catch(() => {});
      await opts.store.delete(prefix + SIGNATURE_KEY).catch(() => {});
    }
    throw err;
  }
}

interface TableJobContext {
  snapshotId: string;
  concurrency: number;
  partBytes: number;
  prefix: string;
  seal: SealConfig;
  signal: AbortSignal;
  progress: ProgressTracker;
  record: (p: StoredPart) => Promise<void>;
  /** Every worker (and the fingerprinter) locks all tables (a bounded wait) and waits here before reading. */
  gate: LockGate;
  fingerprints: boolean;
  /** Stops every other worker at once. */
  fail: (err: unknown) => void;
}

/**
 * Copies every table on `concurrency` worker connections sharing the coordinator's snapshot;
 * returns the tables' fingerprints (none when they are not wanted).
 */
async function exportTables(opts: ExportOptions, tables: TableInfo[], ctx: TableJobContext): Promise<Fingerprints> {
  const queue = [...tables];
  let lastReport = 0;
  const report = () => {
    const now = Date.now();
    if (now - lastReport < 200) return;
    lastReport = now;
    opts.onProgress?.(ctx.progress.snapshot());
  };
  let firstError: unknown = null;

  const worker = () =>
    beginSettled(opts.sql, TX_MODE, async (tx) => {
      await adoptSnapshot(tx, ctx.snapshotId, { untimed: true });
      await holdTables(tx, tables, ctx.gate);
      for (let t = queue.shift(); t && !firstError; t = queue.shift()) {
        ctx.signal.throwIfAborted();
        const table = t;
        await copyTableToParts(tx, table, {
          store: opts.store,
          prefix: ctx.prefix,
          seal: ctx.seal,
          partBytes: ctx.partBytes,
          batchBytes: opts.batchBytes,
          bufferBytes: opts.bufferBytes,
          sliceBytes: opts.sliceBytes,
          uploadsInFlight: opts.uploadsInFlight,
          registry: copyOutRegistry(opts.sql),
          signal: ctx.signal,
          onBatch: (bytes, rows) => {
            ctx.progress.read(table.oid, bytes, rows);
            report();
          },
          onPart: (p) =>
            ctx.record({
              key: p.relKey, kind: "data", size: p.size, sha256: p.sha256, rows: p.rows, plainBytes: p.plainBytes,
              table: { schema: table.schema, name: table.name }, part: p.part,
            }),
        });
        ctx.progress.tableDone(table.oid);
        report();
      }
    });

  // Fingerprints read every table a second time, which costs the server about as much as the
  // COPY. One more connection in the same snapshot computes them while the workers copy, so
  // that work overlaps with compression and upload instead of following it.
  let fingerprints: Fingerprints = {};
  const fingerprinter = () =>
    beginSettled(opts.sql, TX_MODE, async (tx) => {
      await adoptSnapshot(tx, ctx.snapshotId, { untimed: true });
      await holdTables(tx, tables, ctx.gate);
      fingerprints = await readFingerprints(tx, tables, { signal: ctx.signal, stopped: () => firstError !== null });
    });

  const jobs = Array.from({ length: ctx.concurrency }, () => worker());
  if (ctx.fingerprints && tables.length) jobs.push(fingerprinter());
  // Every worker is waited for, also after a failure: a stopping worker still reports the
  // parts its store confirmed, and the caller's cleanup must see all of them.
  await Promise.allSettled(jobs.map((job) =>
    job.catch((err) => {
      // The first failure stops every worker (their COPY streams are destroyed by the signal).
      if (!firstError) {
        firstError = err;
        ctx.fail(err);
      }
      throw err;
    })
  ));
  if (firstError) throw firstError;
  return fingerprints;
}

/**
 * Locks `tables` as the first statements of `tx`: LOCK TABLE takes no snapshot, so the
 * snapshot the export then takes is later than every lock.
 */
async function lockBeforeSnapshot(tx: Tx, tables: TableInfo[], lockTimeoutMs: number): Promise<void> {
  await tx.unsafe(`set local lock_timeout = ${Math.max(0, Math.floor(lockTimeoutMs))}`);
  await lockTables(tx, tables, { beforeSnapshot: true });
}

/**
 * A worker's locks, taken before it reads anything: the coordinator holds every table already,
 * so a lock not granted at once waits behind an exclusive request that waits for this export;
 * it waits at most {@link WORKER_LOCK_GRACE_MS} for that request to give up by itself.
 */
async function holdTables(tx: Tx, tables: TableInfo[], gate: LockGate): Promise<void> {
  try {
    await lockTables(tx, tables, { graceMs: WORKER_LOCK_GRACE_MS });
  } catch (err) {
    gate.failed(err);
    throw err;
  }
  gate.locked();
  await gate.opened;
}

/** Builds the `TableRef` list of a manifest (for callers comparing what was exported). */
export function manifestTables(m: Manifest): TableRef[] {
  return m.tables.map((t) => ({ schema: t.schema, name: t.name }));
}

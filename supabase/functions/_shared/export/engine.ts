/**
 * The export engine: one consistent, streaming, encrypted logical backup of a database into
 * a store, needing nothing but a Postgres connection (no pg_dump, no subprocess), so the CLI
 * and the `backup-export` edge function run the same code.
 *
 * Consistency: a coordinator transaction (repeatable read, read only) exports its snapshot;
 * worker connections adopt it with SET TRANSACTION SNAPSHOT and copy tables in parallel.
 * DDL, sequence values, row counts and fingerprints are all read inside that snapshot.
 * The manifest is written last; a backup without one is incomplete.
 * @module
 */
import { copyOutRegistry, type Sql } from "../db/mod.ts";
import { type Compression, defaultCompression, hasZstd } from "../crypto/mod.ts";
import {
  type Manifest,
  MANIFEST_KEY,
  newBackupId,
  type ObjectKind,
  schemaKey,
  type StoredObjectEntry,
  type TableEntry,
} from "../format/manifest.ts";
import type { Store } from "../store/mod.ts";
import { listSequences, listTables, readServerInfo, type TableInfo } from "./catalog.ts";
import { readSchemaScripts } from "./ddl.ts";
import { finalizeScript } from "./finalize.ts";
import { buildManifest } from "./manifest_builder.ts";
import { qualified } from "./ident.ts";
import { type SealConfig, writeWholeObject } from "./part_writer.ts";
import { type ExportProgress, ProgressTracker } from "./progress.ts";
import type { Selection, TableRef } from "./selection.ts";
import { copyTableToParts, type DataPart } from "./table_copy.ts";

/** Default plain bytes per data part. */
// 8 MiB of COPY text seals to less than the 8 MiB of stored bytes a part may buffer (see
// part_writer.ts) unless the text does not compress at all, so parts go to S3 as one PUT
// with their sha256 known up front (bigger ones are still streamed, correctly). With
// 16 MiB, parts of poorly compressible text (md5 hex: 52 %) were streamed as multipart uploads
// and the exporter's peak RSS was 30-40 MB higher (bench/export/RESULTS.md).
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
/** Default number of tables exported at once. */
export const DEFAULT_CONCURRENCY = 2;

/** An object the export has stored (reported as soon as the store confirms it). */
export interface ExportedObject extends StoredObjectEntry {
  /** Key inside the store (backup prefix included). */
  storeKey: string;
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
  signal?: AbortSignal;
  /** Called often (every batch); throttle rendering on the caller's side. */
  onProgress?: (p: ExportProgress) => void;
  /** Called once the run's snapshot is known, before any data is read. */
  onSnapshot?: (s: { snapshotId: string; lsn: string; tables: TableInfo[] }) => void | Promise<void>;
  /** Called for every stored object, in completion order. */
  onObject?: (o: ExportedObject) => void | Promise<void>;
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

/** Runs one full export; resolves after the manifest is stored. */
export async function exportBackup(opts: ExportOptions): Promise<ExportResult> {
  const encrypted = !opts.unencrypted;
  if (encrypted && opts.recipients.length === 0) {
    throw new ExportConfigError("no age recipient given: pass at least one age1… recipient (or explicitly ask for an unencrypted backup)");
  }
  if (!encrypted && opts.recipients.length > 0) {
    throw new ExportConfigError("recipients were given for an unencrypted backup: drop one or the other");
  }
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) {
    throw new ExportConfigError("concurrency must be an integer from 1 to 32");
  }
  const partBytes = opts.partBytes ?? DEFAULT_PART_BYTES;
  if (!Number.isInteger(partBytes) || partBytes < 1024) throw new ExportConfigError("partBytes must be at least 1024");
  const compression = opts.compression ?? defaultCompression();
  if (compression === "zstd" && !hasZstd()) {
    throw new ExportConfigError("zstd is not available in this runtime (its node:zlib has no zstd): choose gzip compression");
  }

  const startedAt = new Date();
  const id = opts.id ?? newBackupId(startedAt);
  const prefix = `${id}/`;
  const selection = opts.selection ?? {};
  const seal: SealConfig = { recipients: encrypted ? opts.recipients : [], compression, level: opts.compressionLevel };
  const abort = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;
  const objects: ExportedObject[] = [];
  let progress = new ProgressTracker([]);

  const record = async (o: ExportedObject) => {
    objects.push(o);
    progress.stored(o.size);
    await opts.onObject?.(o);
  };
  const storeScript = async (kind: Exclude<ObjectKind, "data">, text: string) => {
    const relKey = schemaKey(kind, encrypted, compression);
    const w = await writeWholeObject(opts.store, prefix + relKey, text, seal, signal);
    await record({ key: relKey, storeKey: prefix + relKey, kind, size: w.size, sha256: w.sha256 });
  };

  try {
    const manifest = await opts.sql.begin(TX_MODE, async (tx) => {
      // The coordinator sits idle while workers copy: no server-side timeout may end it.
      await tx`select pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true),
                      pg_catalog.set_config('statement_timeout', '0', true),
                      pg_catalog.set_config('lock_timeout', ${String(opts.lockTimeoutMs ?? 30_000)}, true)`;
      const [snap] = await tx`
        select pg_catalog.pg_export_snapshot() as id,
               (case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn()
                     else pg_catalog.pg_current_wal_lsn() end)::text as lsn`;
      const snapshotId = String(snap.id);
      const server = await readServerInfo(tx);
      const scripts = await readSchemaScripts(tx, selection);
      const excluded = scripts.excludedSchemas;
      const tables = await listTables(tx, selection, scripts.scope);
      // As pg_dump does: no table may be dropped or altered under the export.
      for (let i = 0; i < tables.length; i += 500) {
        const names = tables.slice(i, i + 500).map((t) => qualified(t.schema, t.name)).join(", ");
        await tx.unsafe(`lock table only ${names} in access share mode`);
      }
      const sequences = await listSequences(tx, selection, scripts.scope, tables);
      const matviews = scripts.matviews;
      progress = new ProgressTracker(tables);
      await opts.onSnapshot?.({ snapshotId, lsn: String(snap.lsn), tables });

      await storeScript("roles", scripts.roles);
      await storeScript("pre-data", scripts.preData);
      progress.phase("data");
      opts.onProgress?.(progress.snapshot());

      const tableEntries = await exportTables(opts, tables, {
        snapshotId, concurrency, partBytes, prefix, seal, signal, progress, record,
        fingerprints: opts.fingerprints ?? true,
        fail: (err) => abort.abort(err),
      });

      progress.phase("finishing");
      await storeScript("post-data", scripts.postData);
      await storeScript("finalize", finalizeScript(sequences, matviews, tables));
      const [end] = await tx`
        select (case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn()
                     else pg_catalog.pg_current_wal_lsn() end)::text as lsn`;

      return buildManifest({
        id,
        label: opts.label ?? null,
        kind: (selection.tables?.length ?? 0) > 0 ? "tables" : "full",
        server,
        startedAt,
        finishedAt: new Date(),
        snapshot: { consistent: true, snapshotIds: [snapshotId], lsnStart: String(snap.lsn), lsnEnd: String(end.lsn) },
        recipients: opts.recipients,
        encrypted,
        compression,
        excludedSchemas: excluded,
        selection,
        passwordsNotExported: scripts.passwordsNotExported,
        tables: tableEntries,
        sequences,
        objects: objects.map(({ storeKey: _k, ...o }) => o),
      });
    });

    // Last, and only after every other object is confirmed: this marks the backup complete.
    const body = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n");
    signal.throwIfAborted();
    const stored = await opts.store.put(prefix + MANIFEST_KEY, body, { contentType: "application/json", signal });
    progress.phase("done");
    const final = progress.snapshot();
    opts.onProgress?.(final);
    return { id, manifest, manifestKey: prefix + MANIFEST_KEY, manifestSha256: stored.sha256, progress: final };
  } catch (err) {
    abort.abort(err);
    if (opts.cleanupOnFailure ?? true) {
      for (const o of objects) await opts.store.delete(o.storeKey).catch(() => {});
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
  record: (o: ExportedObject) => Promise<void>;
  fingerprints: boolean;
  /** Stops every other worker at once. */
  fail: (err: unknown) => void;
}

/** Copies every table on `concurrency` worker connections sharing the coordinator's snapshot. */
async function exportTables(opts: ExportOptions, tables: TableInfo[], ctx: TableJobContext): Promise<TableEntry[]> {
  if (!/^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$/i.test(ctx.snapshotId)) throw new Error("unexpected snapshot id from the server");
  const queue = [...tables];
  const entries = new Map<number, TableEntry>();
  let lastReport = 0;
  const report = () => {
    const now = Date.now();
    if (now - lastReport < 200) return;
    lastReport = now;
    opts.onProgress?.(ctx.progress.snapshot());
  };
  let firstError: unknown = null;

  const worker = () =>
    opts.sql.begin(TX_MODE, async (tx) => {
      await tx.unsafe(`set transaction snapshot '${ctx.snapshotId}'`);
      await tx`select pg_catalog.set_config('statement_timeout', '0', true),
                      pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true)`;
      for (let t = queue.shift(); t && !firstError; t = queue.shift()) {
        ctx.signal.throwIfAborted();
        const table = t;
        const parts: DataPart[] = await copyTableToParts(tx, table, {
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
              key: p.relKey, storeKey: ctx.prefix + p.relKey, kind: "data", size: p.size, sha256: p.sha256,
              rows: p.rows, table: { schema: table.schema, name: table.name }, part: p.part,
            }),
        });
        ctx.progress.tableDone(table.oid);
        entries.set(table.oid, {
          schema: table.schema,
          name: table.name,
          rows: parts.reduce((n, p) => n + p.rows, 0),
          bytes: parts.reduce((n, p) => n + p.plainBytes, 0),
          fingerprint: null,
          parts: parts.map((p) => p.relKey),
        });
        report();
      }
    });

  // Fingerprints read every table a second time, which costs the server about as much as the
  // COPY. One more connection in the same snapshot computes them while the workers copy, so
  // that work overlaps with compression and upload instead of following it.
  const fingerprints = new Map<number, unknown>();
  const fingerprinter = () =>
    opts.sql.begin(TX_MODE, async (tx) => {
      await tx.unsafe(`set transaction snapshot '${ctx.snapshotId}'`);
      await tx`select pg_catalog.set_config('statement_timeout', '0', true),
                      pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true)`;
      for (const t of tables) {
        if (firstError) return;
        ctx.signal.throwIfAborted();
        const [f] = await tx`select lifeboat.fingerprint(${t.oid}::oid::regclass) as f`;
        fingerprints.set(t.oid, f.f);
      }
    });

  const n = Math.max(1, Math.min(ctx.concurrency, tables.length));
  const jobs = Array.from({ length: n }, () => worker());
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
  // buildManifest puts them in manifest order.
  return tables.map((t) => ({ ...entries.get(t.oid)!, fingerprint: ctx.fingerprints ? fingerprints.get(t.oid) : null }));
}

/** Builds the `TableRef` list of a manifest (for callers comparing what was exported). */
export function manifestTables(m: Manifest): TableRef[] {
  return m.tables.map((t) => ({ schema: t.schema, name: t.name }));
}

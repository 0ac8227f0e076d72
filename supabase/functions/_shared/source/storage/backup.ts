/**
 * The files phase of a backup: every file of the snapshot's `storage.objects` rows, read
 * through the Storage API and stored as a content-addressed blob (`files/<ns>/<sha256>…`,
 * compressed and age-encrypted like every other object).
 *
 * - Consistency: each file is downloaded and its ETag and size compared with the row's; a
 *   file changed or deleted since the snapshot is recorded in `skipped` with the reason,
 *   never stored with other bytes.
 * - Incremental: a file whose row (ETag, size, version) equals the previous backup's entry
 *   keeps that entry's blob without a read; a new file whose bytes are already a blob is
 *   not stored twice.
 * - Memory: files up to `smallBytes` are read whole (a pool of `concurrency` at once);
 *   bigger ones are streamed once (multipart to the store) to a staging key while hashed,
 *   then copied by the store to their blob key, never held. Dead buffers (download chunks, sealed small files, parts) are
 *   freed as soon as they are consumed (release.ts), not at V8's next collection.
 * @module
 */
import { ageHeader, sealBytes, type SealOptions, sealStream } from "../../crypto/mod.ts";
import {
  blobKey,
  blobNamespace,
  blobStagingKey,
  type FileEntry,
  type FilesSection,
  type SkippedFile,
} from "../../format/mod.ts";
import { copyWithinStore, type Store } from "../../store/mod.ts";
import type { SealConfig } from "../../export/mod.ts";
import type { StorageApi } from "./client.ts";
import { hashingStream, ownedChunks, readExactly, sha256Of } from "./hashing.ts";
import { releaseOwned } from "../../release.ts";
import { runPool } from "./pool.ts";
import type { ObjectRow } from "./rows.ts";
import type { BucketEntry } from "../../format/mod.ts";

/** Files read whole below this size (default 4 MiB). */
export const DEFAULT_SMALL_FILE_BYTES = 4 * 1024 * 1024;
/** Files in flight at once (default 8). */
export const DEFAULT_FILE_CONCURRENCY = 8;

/** Options for {@link backupFiles}. */
export interface FilesBackupOptions {
  api: StorageApi;
  store: Store;
  seal: SealConfig;
  /** The previous backup's manifest (or its files), whose unchanged files are carried over without a read; their entry objects are reused (updated) in the result, not copied. */
  previous?: { files?: Pick<FilesSection, "blobNamespace" | "objects"> } | null;
  concurrency?: number;
  smallBytes?: number;
  signal?: AbortSignal;
  /** Called after each file with the plain bytes read for it (0 when reused). */
  onFile?: (bytesRead: number) => void;
}

const fileId = (bucket: string, name: string) => `${bucket}\u0000${name}`;

/** Backs up the files of `rows` (the snapshot's), returning the manifest's `files` section. */
export async function backupFiles(
  rows: { buckets: BucketEntry[]; objects: ObjectRow[] },
  opts: FilesBackupOptions,
): Promise<FilesSection> {
  const encrypted = opts.seal.recipients.length > 0;
  // One age header (file key) for the blobs of this run: an X25519 agreement per blob cost
  // more CPU than compressing, encrypting and hashing an 8 KiB file (bench/storage/RESULTS.md).
  // Each blob keeps its own random payload nonce, so its own payload key.
  const seal: SealOptions = encrypted ? { ...opts.seal, ageHeader: await ageHeader(opts.seal.recipients) } : opts.seal;
  const ns = await blobNamespace(opts.seal.compression, opts.seal.recipients);
  const keyOf = (sha: string) => blobKey(ns, sha, encrypted, opts.seal.compression);
  const small = opts.smallBytes ?? DEFAULT_SMALL_FILE_BYTES;

  // The previous backup's entries, usable only if it wrote into the same namespace.
  const prev = new Map<string, FileEntry>();
  const knownBlobs = new Set<string>();
  if (opts.previous?.files?.blobNamespace === ns) {
    for (const f of opts.previous.files.objects) {
      prev.set(fileId(f.bucket, f.name), f);
      knownBlobs.add(f.blob);
    }
  }

  const objects: FileEntry[] = [];
  const skipped: SkippedFile[] = [];
  let bytesRead = 0;
  let reused = 0;
  const pending = new Map<string, Promise<void>>(); // blob key -> its store write, so two files with one body write once

  const storeBlob = async (key: string, write: () => Promise<void>) => {
    if (knownBlobs.has(key)) return;
    let p = pending.get(key);
    if (!p) {
      // No HEAD first: a put of a content-addressed key is idempotent, and one request per
      // new file is cheaper than two (a rewrite also refreshes the blob's age for the sweep).
      p = write();
      pending.set(key, p);
    }
    await p;
    knownBlobs.add(key);
  };

  const entryOf = (row: ObjectRow, sha256: string): FileEntry => ({
    bucket: row.bucket,
    name: row.name,
    size: row.size,
    sha256,
    contentType: row.contentType,
    cacheControl: row.cacheControl,
    userMetadata: row.userMetadata ?? null,
    version: row.version,
    etag: row.etag,
    blob: keyOf(sha256),
  });

  /** Downloads a file and checks it is still the row's; a reason when it is not. */
  const open = async (row: ObjectRow) => {
    const d = await opts.api.download(row.bucket, row.name, opts.signal);
    if (!d) return { reason: "deleted after the snapshot (Storage answered not found)" as string };
    if ((d.etag !== null && d.etag !== row.etag) || (d.size !== null && d.size !== row.size)) {
      await d.body.cancel();
      return {
        reason: `changed after the snapshot (ETag ${d.etag ?? "?"} and ${d.size ?? "?"} bytes, the snapshot's row says ${row.etag} and ${row.size} bytes)` as string,
      };
    }
    return { body: d.body };
  };

  const one = async (row: ObjectRow) => {
    opts.signal?.throwIfAborted();
    const before = prev.get(fileId(row.bucket, row.name));
    if (before && before.etag === row.etag && before.size === row.size && before.version === row.version) {
      // The previous entry itself, updated (it is this backup's own parsed copy): no second
      // object per reused file.
      before.contentType = row.contentType;
      before.cacheControl = row.cacheControl;
      before.userMetadata = row.userMetadata ?? null;
      objects.push(before);
      reused++;
      opts.onFile?.(0);
      return;
    }
    const first = await open(row);
    if (first.reason !== undefined || !first.body) {
      skipped.push({ bucket: row.bucket, name: row.name, reason: first.reason ?? "changed after the snapshot" });
      return;
    }
    if (row.size <= small) {
      const bytes = await readExactly(first.body, row.size);
      if (bytes === null || bytes.byteLength !== row.size) {
        skipped.push({ bucket: row.bucket, name: row.name, reason: `changed while read (${bytes?.byteLength ?? "more"} bytes, the row says ${row.size})` });
        return;
      }
      const sha = sha256Of(bytes);
      try {
        await storeBlob(keyOf(sha), async () => {
          const sealed = await sealBytes(bytes, seal);
          try {
            await opts.store.put(keyOf(sha), sealed, { signal: opts.signal });
          } finally {
            releaseOwned(sealed); // sent (or given up on); only this put held it
          }
        });
      } finally {
        // readExactly's buffer, hashed and sealed (the compressor copied it): nothing reads it now.
        releaseOwned(bytes);
      }
      bytesRead += row.size;
      objects.push(entryOf(row, sha));
      opts.onFile?.(row.size);
      return;
    }
    // A big file: one streamed read, hashed while it is sealed and written to a staging key
    // (its blob key needs the sha256, known only at the end); then the store copies it to its
    // blob key (S3: server-side) unless that blob exists, and the staging key is deleted.
    const staging = blobStagingKey(ns, encrypted, opts.seal.compression);
    try {
      // The download is read into buffers of its own (ownedChunks), handed over: the compressor
      // (or encrypter, or the store's part buffer) frees each once consumed, so dead chunks do
      // not wait for V8's collector.
      const h = hashingStream();
      await opts.store.put(staging, await sealStream(ownedChunks(first.body).pipeThrough(h.stream), seal), { signal: opts.signal });
      bytesRead += h.size();
      if (h.size() !== row.size) {
        skipped.push({ bucket: row.bucket, name: row.name, reason: `changed while read (${h.size()} bytes, the row says ${row.size})` });
        return;
      }
      const sha = h.digest();
      await storeBlob(keyOf(sha), async () => void await copyWithinStore(opts.store, staging, keyOf(sha), { signal: opts.signal }));
      objects.push(entryOf(row, sha));
      opts.onFile?.(row.size);
    } finally {
      // Best effort: a staging key left behind (a crash, a failed delete) is the sweep's.
      await opts.store.delete(staging).catch(() => {});
    }
  };

  // A file whose read breaks off (Storage restarting, a reset connection) is read again from
  // the start: up to 4 attempts over ~15 s, on top of the client's own retries of requests.
  const withRetry = async (row: ObjectRow) => {
    for (let attempt = 1;; attempt++) {
      try {
        return await one(row);
      } catch (err) {
        if (opts.signal?.aborted || attempt >= 4) throw err;
        await new Promise((r) => setTimeout(r, 1000 * 2 ** (attempt - 1)));
      }
    }
  };
  await runPool(rows.objects, opts.concurrency ?? DEFAULT_FILE_CONCURRENCY, withRetry);
  const order = (a: { bucket: string; name: string }, b: { bucket: string; name: string }) =>
    a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  objects.sort(order);
  skipped.sort(order);
  return { blobNamespace: ns, buckets: rows.buckets, objects, skipped, bytesRead, reused };
}

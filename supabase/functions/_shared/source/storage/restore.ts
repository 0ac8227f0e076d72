/**
 * Restore of Storage files into a project through its Storage API: buckets created with their
 * settings, every file uploaded (so the target's Storage server writes its own rows and
 * metadata) while its sha256 is computed, then proved stored by the target's ETag or read back
 * (see {@link restoreFiles}). Partial restores pick
 * a bucket, a prefix or one file; `dryRun` only plans; names the target already has are
 * refused unless `clean`, which replaces exactly those.
 * @module
 */
import { type Compression, openStream } from "../../crypto/mod.ts";
import type { FileEntry, FilesSection } from "../../format/mod.ts";
import type { Store } from "../../store/mod.ts";
import type { StorageApi } from "./client.ts";
import { hashingStream, hashOnly } from "./hashing.ts";
import { runPool } from "./pool.ts";

/** Which files to restore (all when empty). */
export interface FileSelection {
  bucket?: string;
  /** Names starting with this (within `bucket`, or any bucket). */
  prefix?: string;
  /** Exactly this name (within `bucket`, or any bucket). */
  file?: string;
}

/** Options for {@link restoreFiles}. */
export interface FilesRestoreOptions {
  files: FilesSection;
  store: Store;
  /** age identities; null for an unencrypted backup. */
  identities: string[] | null;
  compression: Compression;
  api: StorageApi;
  select?: FileSelection;
  /** Put every file into this one bucket as `<bucket>/<name>` (the drill's scratch bucket). */
  intoBucket?: string;
  dryRun?: boolean;
  /** Replace files of the same names (only those). */
  clean?: boolean;
  concurrency?: number;
  /** Stop starting new files after this many ms (the drill's budget); files are shuffled first. */
  budgetMs?: number;
  /** At most this many files, chosen at random (the drill's sample). */
  sample?: number;
  signal?: AbortSignal;
}

/** What a files restore did or (dry run) would do. */
export interface FilesRestoreReport {
  /** Files selected, and their bytes. */
  files: number;
  bytes: number;
  /** Buckets that would be or were created. */
  bucketsCreated: string[];
  /** Names the target already had (replaced with `clean`). */
  existing: string[];
  /** Files uploaded and checked (see {@link restoreFiles}), and their bytes. */
  verified: number;
  verifiedBytes: number;
  /** Of `verified`, those the target's own ETag proved (the others were read back). */
  verifiedByEtag: number;
  dryRun: boolean;
}

/** The target already has files of those names and `clean` was not given. */
export class FilesConflictError extends Error {
  constructor(readonly names: string[]) {
    super(
      `the target already has ${names.length} file(s) of the same names (${names.slice(0, 5).join(", ")}${names.length > 5 ? ", …" : ""}): ` +
        "restore into another project or bucket, or pass --clean to replace those files (only those)",
    );
    this.name = "FilesConflictError";
  }
}

/** A file read back from the target differs from the backup. */
export class FileMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FileMismatchError";
  }
}

/** The files of a section a selection picks. */
export function selectFiles(files: FilesSection, s: FileSelection = {}): FileEntry[] {
  return files.objects.filter((f) =>
    (s.bucket === undefined || f.bucket === s.bucket) &&
    (s.prefix === undefined || f.name.startsWith(s.prefix)) &&
    (s.file === undefined || f.name === s.file)
  );
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Where a file goes in the target. */
const placeOf = (f: FileEntry, into?: string) => into ? { bucket: into, name: `${f.bucket}/${f.name}` } : { bucket: f.bucket, name: f.name };

/** An ETag that is a plain MD5 (Storage's file backend, and S3 for a single-part upload). */
const MD5_ETAG = /^[0-9a-f]{32}$/;

/**
 * Whether the target's Storage recorded the file as exactly the bytes sent: its row's size
 * and ETag equal the size and MD5 of the upload stream, whose sha256 was already checked
 * against the manifest. Storage computes that ETag from the bytes it stored, so a match
 * proves them without reading them back; any other ETag (the `mtime` algorithm, a multipart
 * `<md5>-<parts>`) or a mismatch answers false and the caller reads the file back.
 */
async function storedAsSent(
  api: StorageApi,
  p: { bucket: string; name: string },
  sent: { md5: string | null; size: number } | null,
  signal?: AbortSignal,
): Promise<boolean> {
  if (!sent?.md5) return false;
  const info = await api.info(p.bucket, p.name, signal);
  if (!info || info.etag === null || !MD5_ETAG.test(info.etag.toLowerCase())) return false;
  return info.etag.toLowerCase() === sent.md5 && info.size === sent.size;
}

/**
 * Restores (or plans) the selected files into the target's Storage. Each file's sha256 is
 * checked twice over: the upload stream is hashed as it goes (it must be the manifest's
 * sha256 and size), and the target must prove it stored those bytes, by its ETag (the MD5 of
 * the stored bytes, compared with the MD5 of the same stream) or, when its ETag is not an MD5
 * or differs, by reading the file back and comparing its sha256.
 */
export async function restoreFiles(opts: FilesRestoreOptions): Promise<FilesRestoreReport> {
  let chosen = selectFiles(opts.files, opts.select);
  if (opts.sample !== undefined || opts.budgetMs !== undefined) chosen = shuffle([...chosen]);
  if (opts.sample !== undefined) chosen = chosen.slice(0, opts.sample);
  const report: FilesRestoreReport = {
    files: chosen.length,
    bytes: chosen.reduce((n, f) => n + f.size, 0),
    bucketsCreated: [],
    existing: [],
    verified: 0,
    verifiedBytes: 0,
    verifiedByEtag: 0,
    dryRun: Boolean(opts.dryRun),
  };
  const have = await opts.api.buckets();
  const wanted = opts.intoBucket ? [opts.intoBucket] : [...new Set(chosen.map((f) => f.bucket))];
  report.bucketsCreated = wanted.filter((b) => !have.has(b));

  // Names the target already has (only in buckets it already has).
  const concurrency = opts.concurrency ?? 8;
  await runPool(chosen, concurrency, async (f) => {
    const p = placeOf(f, opts.intoBucket);
    if (have.has(p.bucket) && await opts.api.exists(p.bucket, p.name, opts.signal)) report.existing.push(`${p.bucket}/${p.name}`);
  });
  report.existing.sort();
  if (opts.dryRun) return report;
  if (report.existing.length > 0 && !opts.clean) throw new FilesConflictError(report.existing);

  for (const id of report.bucketsCreated) {
    const b = opts.files.buckets.find((x) => x.id === id);
    await opts.api.createBucket(id, b ?? { public: false, fileSizeLimit: null, allowedMimeTypes: null });
  }

  const started = Date.now();
  let uploaded = 0;
  await runPool(chosen, concurrency, async (f) => {
    if (opts.budgetMs !== undefined && uploaded > 0 && Date.now() - started > opts.budgetMs) return;
    uploaded++;
    const p = placeOf(f, opts.intoBucket);
    let sent: { md5: string | null; size: number } | null = null;
    for (let attempt = 1;; attempt++) {
      try {
        const plain = await openStream(await opts.store.get(f.blob, { signal: opts.signal }), opts.identities, opts.compression);
        const h = hashingStream({ md5: true });
        await opts.api.upload(p.bucket, p.name, plain.pipeThrough(h.stream), {
          contentType: f.contentType,
          cacheControl: f.cacheControl,
          userMetadata: f.userMetadata,
          upsert: Boolean(opts.clean) || Boolean(opts.intoBucket),
          signal: opts.signal,
        });
        if (h.digest() !== f.sha256 || h.size() !== f.size) {
          throw new FileMismatchError(`${f.bucket}/${f.name}: the blob ${f.blob} decrypts to other bytes than the manifest says (sha256 ${h.digest()})`);
        }
        sent = { md5: h.md5(), size: h.size() };
        break;
      } catch (err) {
        if (err instanceof FileMismatchError || attempt >= 3 || opts.signal?.aborted) throw err;
      }
    }
    if (await storedAsSent(opts.api, p, sent, opts.signal)) {
      report.verifiedByEtag++;
    } else {
      // Read back what the target's Storage serves.
      const d = await opts.api.download(p.bucket, p.name, opts.signal);
      if (!d) throw new FileMismatchError(`${p.bucket}/${p.name}: uploaded, but the target does not serve it`);
      const back = await hashOnly(d.body);
      if (back.sha256 !== f.sha256 || back.size !== f.size) {
        throw new FileMismatchError(
          `${p.bucket}/${p.name}: the target serves ${back.size} bytes with sha256 ${back.sha256}, the backup has ${f.size} bytes with ${f.sha256}`,
        );
      }
    }
    report.verified++;
    report.verifiedBytes += f.size;
  });
  return report;
}

/**
 * The files part of `lifeboat restore` and `lifeboat drill`: the Storage target from flags and
 * environment, and the restore of a backup's files into it, reported in plain lines.
 * @module
 */
import {
  FilesConflictError,
  type FileSelection,
  type FilesRestoreReport,
  restoreFiles,
  StorageApi,
  StorageKeyError,
} from "../../supabase/functions/_shared/source/storage/mod.ts";
import type { Manifest } from "../../supabase/functions/_shared/format/mod.ts";
import type { Store } from "../../supabase/functions/_shared/store/mod.ts";
import { formatBytes } from "../../supabase/functions/_shared/text/mod.ts";
import { type ManifestTrust, readAuthenticManifest } from "../../supabase/functions/_shared/verify/mod.ts";

/** Opens a project's Storage and checks its key (before any work); an Error that says what to pass. */
export async function openStorage(url: string | undefined, key: string | undefined, what: string): Promise<StorageApi> {
  if (!url) throw new Error(`${what}: no project URL`);
  try {
    const api = new StorageApi({ url, key: key ?? "", direct: Deno.env.get("LIFEBOAT_STORAGE_DIRECT") === "1" });
    await api.probe();
    return api;
  } catch (err) {
    if (err instanceof StorageKeyError) throw new Error(`${what}: ${err.message}`);
    throw new Error(`${what}: ${(err as Error).message}`);
  }
}

/** Options for {@link restoreBackupFiles}. */
export interface CliFilesRestore {
  manifest: Manifest;
  store: Store;
  identities: string[] | null;
  api: StorageApi;
  select: FileSelection;
  dryRun: boolean;
  clean: boolean;
  intoBucket?: string;
  sample?: number;
  budgetMs?: number;
}

/** Restores (or plans) the files; returns the report and the lines to print. Throws FilesConflictError. */
export async function restoreBackupFiles(o: CliFilesRestore): Promise<{ report: FilesRestoreReport; lines: string[] }> {
  const m = o.manifest;
  if (!m.files) throw new Error(`backup ${m.id} holds no Storage files (it was taken without --files)`);
  const report = await restoreFiles({
    files: m.files,
    store: o.store,
    identities: m.encryption.scheme === "none" ? null : o.identities,
    compression: m.compression,
    api: o.api,
    select: o.select,
    dryRun: o.dryRun,
    clean: o.clean,
    intoBucket: o.intoBucket,
    sample: o.sample,
    budgetMs: o.budgetMs,
  });
  const d = (n: number) => formatBytes(n, { base: 1000 });
  const lines = o.dryRun
    ? [
      `files (dry run, nothing written): ${report.files} file(s), ${d(report.bytes)} into ${o.api.describe()}`,
      ...(report.bucketsCreated.length ? [`  buckets to create: ${report.bucketsCreated.join(", ")}`] : []),
      ...(report.existing.length
        ? [`  ${report.existing.length} name(s) already exist in the target (refused without --clean, replaced with it): ${report.existing.slice(0, 10).join(", ")}${report.existing.length > 10 ? ", …" : ""}`]
        : []),
    ]
    : [
      `files: ${report.verified} of ${report.files} file(s) uploaded with matching sha256, ${d(report.verifiedBytes)} ` +
      `(${report.verifiedByEtag} proved by the target's ETag, ${report.verified - report.verifiedByEtag} read back)` +
      (report.bucketsCreated.length ? `; buckets created: ${report.bucketsCreated.join(", ")}` : "") +
      (report.existing.length ? `; ${report.existing.length} existing file(s) replaced (--clean)` : ""),
    ];
  if (m.files.skipped.length) lines.push(`  note: ${m.files.skipped.length} file(s) changed or were deleted while that backup ran and are not in it`);
  return { report, lines };
}

export { FilesConflictError };

/** What the files part of a drill found. */
export interface FilesDrill {
  passed: boolean;
  scratchBucket: string;
  files: number;
  bytes: number;
  /** Files in the backup (the drill may check a sample). */
  total: number;
  removed: boolean;
  error?: string;
  line: string;
}

/**
 * The files part of `lifeboat drill`: restores the backup's files (all, a random sample, or as
 * many as fit in `budgetSeconds`) into a new scratch bucket, each checked by sha256 as the
 * project serves it, then removes the bucket.
 */
export async function drillFiles(
  api: StorageApi,
  store: Store,
  backupId: string,
  identities: string[] | null,
  trust: ManifestTrust,
  sample?: number,
  budgetSeconds?: number,
): Promise<FilesDrill> {
  const scratch = `lifeboat-drill-${crypto.randomUUID().slice(0, 8)}`;
  const out: FilesDrill = { passed: false, scratchBucket: scratch, files: 0, bytes: 0, total: 0, removed: false, line: "" };
  try {
    const { manifest } = await readAuthenticManifest(store, backupId, trust);
    if (!manifest.files) throw new Error(`backup ${backupId} holds no Storage files (it was taken without --files)`);
    out.total = manifest.files.objects.length;
    const { report } = await restoreBackupFiles({
      manifest, store, identities, api, select: {}, dryRun: false, clean: false, intoBucket: scratch, sample,
      budgetMs: budgetSeconds === undefined ? undefined : budgetSeconds * 1000,
    });
    out.files = report.verified;
    out.bytes = report.verifiedBytes;
    out.passed = report.verified > 0 || out.total === 0;
  } catch (err) {
    out.error = (err as Error).message;
  } finally {
    out.removed = await api.removeBucket(scratch).then(() => true, () => false);
  }
  const d = (n: number) => formatBytes(n, { base: 1000 });
  out.line = out.error
    ? `FILES DRILL FAILED: ${out.error}; scratch bucket ${scratch} ${out.removed ? "removed" : "NOT removed"}`
    : `files: ${out.files} of ${out.total} file(s) restored into scratch bucket ${scratch} and verified by sha256 (${d(out.bytes)}); bucket ${out.removed ? "removed" : "NOT removed"}`;
  return out;
}

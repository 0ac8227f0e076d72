/**
 * The files phase as the export engine takes it (`ExportOptions.files`): the snapshot's rows,
 * the previous backup of the same blob namespace, then {@link backupFiles}.
 * @module
 */
import type { Tx } from "../../db/mod.ts";
import type { SealConfig } from "../../export/mod.ts";
import { blobNamespace, type FilesSection } from "../../format/mod.ts";
import type { Store } from "../../store/mod.ts";
import { backupFiles } from "./backup.ts";
import { type StorageApi, StorageKeyError } from "./client.ts";
import { previousFilesManifest } from "./latest.ts";
import { type BucketFilter, readStorageRows, type StorageRows } from "./rows.ts";
import type { FilesPhase } from "../../export/mod.ts";

/** Options for {@link filesPhase}. */
export interface FilesPhaseOptions {
  api: StorageApi;
  store: Store;
  /** Only these buckets (default all). */
  buckets?: BucketFilter;
  concurrency?: number;
  onFile?: (bytesRead: number) => void;
}

/**
 * Throws {@link StorageKeyError} unless the key sees every one of `ids` (buckets of
 * storage.buckets): a key that does not would make hidden files look deleted.
 */
export async function assertBucketsVisible(api: StorageApi, ids: string[]): Promise<void> {
  const visible = await api.buckets();
  const hidden = ids.filter((id) => !visible.has(id));
  if (hidden.length > 0) {
    throw new StorageKeyError(
      `the Storage key does not see the bucket(s) ${hidden.join(", ")} of storage.buckets: pass the project's secret key (service role)`,
    );
  }
}

/** The `files` option of an export: the snapshot's rows, then (after it) the files. */
export function filesPhase(opts: FilesPhaseOptions): FilesPhase {
  return {
    rows: (tx: Tx) => readStorageRows(tx, opts.buckets ?? null),
    copy: async (r, ctx: { seal: SealConfig; signal: AbortSignal }): Promise<FilesSection> => {
      const rows = r as StorageRows;
      await assertBucketsVisible(opts.api, rows.buckets.map((b) => b.id));
      const previous = await previousFilesManifest(opts.store, await blobNamespace(ctx.seal.compression, ctx.seal.recipients));
      return backupFiles(rows, {
        api: opts.api,
        store: opts.store,
        seal: ctx.seal,
        previous,
        concurrency: opts.concurrency,
        signal: ctx.signal,
        onFile: opts.onFile,
      });
    },
  };
}

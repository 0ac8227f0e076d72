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

/** The `files` option of an export: the snapshot's rows, then (after it) the files. */
export function filesPhase(opts: FilesPhaseOptions): FilesPhase {
  return {
    rows: (tx: Tx) => readStorageRows(tx, opts.buckets ?? null),
    copy: async (r, ctx: { seal: SealConfig; signal: AbortSignal }): Promise<FilesSection> => {
      const rows = r as StorageRows;
      // A key that does not see every bucket would make hidden files look deleted.
      const visible = await opts.api.buckets();
      const hidden = rows.buckets.filter((b) => !visible.has(b.id)).map((b) => b.id);
      if (hidden.length > 0) {
        throw new StorageKeyError(
          `the Storage key does not see the bucket(s) ${hidden.join(", ")} of storage.buckets: pass the project's secret key (service role)`,
        );
      }
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

/**
 * Proof of a backup's files: every blob decrypted and its size and sha256 compared with the
 * manifest, and (given the source's rows) every file of the source's `storage.objects`
 * accounted for (in the backup, or skipped with a reason).
 * @module
 */
import { type Compression, openStream } from "../../crypto/mod.ts";
import type { FilesSection } from "../../format/mod.ts";
import type { Store } from "../../store/mod.ts";
import { hashOnly } from "./hashing.ts";
import { runPool } from "./pool.ts";

/** What {@link verifyFiles} found. */
export interface FilesVerifyReport {
  files: number;
  bytes: number;
  /** One line per problem (empty: all good). */
  problems: string[];
}

/** Checks every file blob of `files`; with `sourceNames` (bucket/name), completeness too. */
export async function verifyFiles(
  files: FilesSection,
  store: Store,
  identities: string[] | null,
  compression: Compression,
  opts: { sourceNames?: string[]; concurrency?: number; signal?: AbortSignal } = {},
): Promise<FilesVerifyReport> {
  const report: FilesVerifyReport = { files: 0, bytes: 0, problems: [] };
  await runPool(files.objects, opts.concurrency ?? 8, async (f) => {
    try {
      const plain = await openStream(await store.get(f.blob, { signal: opts.signal }), identities, compression);
      const got = await hashOnly(plain);
      if (got.sha256 !== f.sha256 || got.size !== f.size) {
        report.problems.push(`${f.bucket}/${f.name}: blob ${f.blob} holds ${got.size} bytes with sha256 ${got.sha256}, the manifest says ${f.size} bytes with ${f.sha256}`);
        return;
      }
      report.files++;
      report.bytes += f.size;
    } catch (err) {
      report.problems.push(`${f.bucket}/${f.name}: blob ${f.blob} cannot be read: ${(err as Error).message}`);
    }
  });
  if (opts.sourceNames) {
    const covered = new Set([...files.objects, ...files.skipped].map((f) => `${f.bucket}/${f.name}`));
    const missing = opts.sourceNames.filter((n) => !covered.has(n));
    if (missing.length > 0) {
      report.problems.push(
        `${missing.length} file(s) of the source's storage.objects are not in the backup (${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}): they were added after it; take a new backup`,
      );
    }
  }
  report.problems.sort();
  return report;
}

/**
 * The files checks of `lifeboat verify` (one {@link Check} shape, as every other check):
 * `file_blobs` (every blob decrypts to the manifest's size and sha256) and
 * `files_completeness` (every file of the source's `storage.objects`, in the buckets the
 * backup covers, that existed when the backup started is in it, or skipped with a reason).
 * @module
 */
import { type Check, check } from "../../checks.ts";
import type { Sql } from "../../db/mod.ts";
import type { Manifest } from "../../format/mod.ts";
import type { Store } from "../../store/mod.ts";
import { verifyFiles } from "./verify.ts";

/** The files checks of a backup; none for a backup without files. */
export async function checkFiles(
  store: Store,
  m: Manifest,
  identities: string[] | null,
  source: Sql | null,
  signal?: AbortSignal,
): Promise<Check[]> {
  if (!m.files) return [];
  const encrypted = m.encryption.scheme !== "none";
  if (encrypted && !identities) {
    return [check("file_blobs", "ok", m.id, "not attempted: no identity given, so file blobs were not decrypted", "", { skipped: true })];
  }
  let sourceNames: string[] | undefined;
  if (source) {
    try {
      // Only the buckets the backup covers (a backup may be limited with --bucket).
      const buckets = m.files.buckets.map((b) => b.id);
      const rows = await source<{ n: string }[]>`
        select bucket_id || '/' || name as n from storage.objects
         where name is not null and created_at <= ${m.startedAt}::timestamptz
           and bucket_id = any(${buckets}::text[])`;
      sourceNames = rows.map((r) => r.n);
    } catch {
      sourceNames = undefined; // no storage schema, or no right to read it
    }
  }
  const r = await verifyFiles(m.files, store, encrypted ? identities : null, m.compression, { sourceNames, signal });
  const out: Check[] = [];
  const blobProblems = r.problems.filter((p) => !p.includes("storage.objects"));
  out.push(
    blobProblems.length === 0
      ? check("file_blobs", "ok", m.id, `${r.files} file(s), ${r.bytes} bytes: every blob decrypts to the manifest's size and sha256`, "", { files: r.files, bytes: r.bytes })
      : check("file_blobs", "error", m.id, `${blobProblems.length} file blob(s) are damaged or missing: ${blobProblems.slice(0, 3).join("; ")}`,
        "Restore those files from an older backup; take a new backup.", { problems: blobProblems.slice(0, 50) }),
  );
  if (m.files.skipped.length) {
    out.push(check("files_skipped", "warn", m.id, `${m.files.skipped.length} file(s) changed or were deleted while the backup ran and are not in it`,
      "The next backup takes them; see the manifest's files.skipped for each reason.", { skipped: m.files.skipped.slice(0, 50) }));
  }
  if (sourceNames) {
    const missing = r.problems.filter((p) => p.includes("storage.objects"));
    out.push(
      missing.length === 0
        ? check("files_completeness", "ok", m.id, `every one of the source's ${sourceNames.length} file(s) older than the backup is in it`)
        : check("files_completeness", "error", m.id, missing[0], "Take a new backup with --files."),
    );
  }
  return out;
}

/**
 * Change segments (`stream/…`, written by the change stream) copied as they are: every key
 * under the prefix that the destination lacks (or holds with another size) is copied with the
 * sha256 the primary recorded for it.
 * @module
 */
import { type Store, StoreError } from "../store/mod.ts";
import { copyObject } from "./object.ts";

/** The prefix change segments live under. */
export const STREAM_PREFIX = "stream/";

/** What a segment pass did. */
export interface SegmentReport {
  copied: number;
  present: number;
  bytes: number;
}

/** Copies the segments `dst` lacks; `checkBudget` throws to stop between objects. */
export async function copySegments(
  src: Store,
  dst: Store,
  opts: { checkBudget: () => void; signal?: AbortSignal },
): Promise<SegmentReport> {
  const report: SegmentReport = { copied: 0, present: 0, bytes: 0 };
  const there = new Map<string, number>();
  for await (const o of dst.list(STREAM_PREFIX, { signal: opts.signal })) there.set(o.key, o.size);
  for await (const o of src.list(STREAM_PREFIX, { signal: opts.signal })) {
    if (there.get(o.key) === o.size) {
      report.present++;
      continue;
    }
    opts.checkBudget();
    const info = await src.head(o.key, { signal: opts.signal });
    if (!info) continue; // deleted since the listing
    if (!info.sha256) throw new StoreError("integrity", `${o.key}: the primary recorded no sha256; it cannot be verified`);
    await copyObject(src, dst, { key: o.key, size: info.size, sha256: info.sha256 }, opts.signal);
    report.copied++;
    report.bytes += info.size;
  }
  return report;
}

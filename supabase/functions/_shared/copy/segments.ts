/**
 * Change segments (`stream/…`, written by the change stream) copied as they are and recorded
 * per location in `lifeboat.location_segments`: the primary's listing plans a pending row for
 * every other location, and every key the destination lacks (or holds with another size) is
 * copied with the sha256 the primary recorded for it; what is copied or already there is
 * recorded as copied, so the status counts the rest among the objects pending copy.
 * @module
 */
import type { Sql } from "../db/mod.ts";
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

/** One segment on the primary. */
export interface Segment {
  key: string;
  size: number;
}

/** Records the primary's segments (all of them, as listed now) pending for every other enabled location. */
export async function planSegments(sql: Sql, segments: Segment[]): Promise<void> {
  await sql`select lifeboat.segment_plan(${segments.map((s) => s.key)}::text[], ${segments.map((s) => s.size)}::bigint[])`;
}

/**
 * Copies the segments of `segments` that `dst` lacks and records at `location` every one that is
 * there now (also when the pass stops early: `checkBudget` throws to stop between objects).
 */
export async function copySegments(
  sql: Sql,
  location: string,
  src: Store,
  dst: Store,
  segments: Segment[],
  opts: { checkBudget: () => void; signal?: AbortSignal },
): Promise<SegmentReport> {
  const report: SegmentReport = { copied: 0, present: 0, bytes: 0 };
  const there = new Map<string, number>();
  for await (const o of dst.list(STREAM_PREFIX, { signal: opts.signal })) there.set(o.key, o.size);
  const done: Segment[] = [];
  try {
    for (const o of segments) {
      if (there.get(o.key) === o.size) {
        report.present++;
        done.push(o);
        continue;
      }
      opts.checkBudget();
      const info = await src.head(o.key, { signal: opts.signal });
      if (!info) continue; // deleted since the listing
      if (!info.sha256) throw new StoreError("integrity", `${o.key}: the primary recorded no sha256; it cannot be verified`);
      await copyObject(src, dst, { key: o.key, size: info.size, sha256: info.sha256 }, opts.signal);
      report.copied++;
      report.bytes += info.size;
      done.push({ key: o.key, size: info.size });
    }
  } finally {
    if (done.length > 0) {
      await sql`select lifeboat.segment_record_copied(${location}, ${done.map((s) => s.key)}::text[], ${done.map((s) => s.size)}::bigint[])`;
    }
  }
  return report;
}

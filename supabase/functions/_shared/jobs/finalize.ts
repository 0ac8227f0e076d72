/**
 * Finishing a job: once every part is done, one invocation (the finalizer) checks that
 * every recorded object is in the store as recorded, removes anything else under the
 * backup's prefix, builds the manifest from the recorded parts and stores it last. Only
 * then is the job marked completed. A job that spanned several snapshots says so
 * (`consistent: false`, with every snapshot id and the LSN range).
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { type Manifest, MANIFEST_KEY, type ManifestPlatform } from "../format/mod.ts";
import { manifestFromParts, type StoredPart } from "../export/mod.ts";
import { storeManifest } from "../export/mod.ts";
import { countLargeObjects, noteLargeObjects } from "../export/mod.ts";
import { SIGNATURE_KEY } from "../format/mod.ts";
import { loadSigningKey } from "./signing_key.ts";
import type { Store } from "../store/mod.ts";
import { claimFinalize, completeJob, type DonePart, doneParts, failJob, type Job, type JobFacts, jobPolicy } from "./repo.ts";
import { jobSelection } from "./plan.ts";
import { filesSectionOf } from "./files.ts";

/** What a database job's manifest says about Storage files. */
export const DATABASE_JOB_FILES =
  'a backup-export database job holds no Storage files: they are backed up by files jobs ({"mode":"files"}, scheduled per bucket by the setting files.buckets)';

/** Compares two LSNs (`X/Y` hex). */
export function compareLsn(a: string, b: string): number {
  const n = (s: string) => {
    const [hi, lo] = s.split("/");
    return BigInt(`0x${hi || "0"}`) * 2n ** 32n + BigInt(`0x${lo || "0"}`);
  };
  const x = n(a), y = n(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Builds the manifest of a job from its done parts and facts. */
export function buildJobManifest(job: Job, facts: JobFacts, parts: DonePart[], finishedAt: Date): Manifest {
  const snaps = new Map<string, string>([[facts.snapshotId, facts.lsn]]);
  for (const p of parts) if (p.snapshotId) snaps.set(p.snapshotId, p.lsn);
  const ordered = [...snaps.entries()].sort((a, b) => compareLsn(a[1], b[1]));
  const roles = parts.find((p) => p.kind === "roles");
  const files = filesSectionOf(job, parts);
  const manifest = manifestFromParts(
    {
      id: job.metadata.backup_id,
      label: job.label,
      kind: job.kind,
      startedAt: new Date(job.startedAt ?? finishedAt),
      finishedAt,
      // The job exports what its request selected (see plan.ts).
      selection: jobSelection(job.metadata),
      policy: jobPolicy(job.metadata),
    },
    {
      server: facts.server,
      snapshot: {
        // Only true when the facts, the schema and every data part were read in one snapshot.
        consistent: ordered.length === 1,
        snapshotIds: ordered.map(([id]) => id),
        lsnStart: ordered[0][1],
        lsnEnd: ordered[ordered.length - 1][1],
        visibility: facts.visibility,
      },
      stream: facts.stream,
      sequences: facts.sequences,
      fingerprints: facts.fingerprints,
      excludedSchemas: (roles?.details.excludedSchemas as string[] | undefined) ?? job.metadata.excluded_schemas,
      passwordsNotExported: (roles?.details.passwordsNotExported as string[] | undefined) ?? [],
      platform: roles?.details.platform as ManifestPlatform | undefined,
    },
    // File batches store no object of their own: they become the files section.
    parts.flatMap((p): StoredPart[] =>
      p.kind === "files" ? [] : p.kind === "data"
        ? [{
          key: p.key, kind: p.kind, size: p.size, sha256: p.sha256, rows: p.rows, plainBytes: p.plainBytes,
          table: { schema: p.tableSchema, name: p.tableName }, part: p.chunk,
        }]
        : [{ key: p.key, kind: p.kind, size: p.size, sha256: p.sha256 }]
    ),
  );
  return files ? { ...manifest, files } : { ...manifest, filesNotBackedUp: DATABASE_JOB_FILES };
}

/** What finalizing did. */
export interface FinalizeResult {
  state: "completed" | "not_ready" | "failed";
  manifestKey?: string;
  consistent?: boolean;
  strayObjectsDeleted?: number;
  error?: string;
}

/** Writes the manifest and completes the job, if this invocation may. */
export async function finalizeJob(
  sql: Sql,
  store: Store,
  job: Job,
  worker: string,
  lease: string,
  now: () => Date = () => new Date(),
): Promise<FinalizeResult> {
  if (!(await claimFinalize(sql, job, worker, lease))) return { state: "not_ready" };
  const [r] = await sql`select metadata -> 'facts' as facts from lifeboat.backup_runs where id = ${job.id}`;
  const facts = r.facts as JobFacts | null;
  if (!facts) {
    await failJob(sql, job, "every part is done but the job's facts were never recorded");
    return { state: "failed", error: "the job's facts were never recorded" };
  }
  const parts = await doneParts(sql, job);
  const prefix = `${job.metadata.backup_id}/`;
  // Every recorded object must be in the store exactly as recorded before the manifest
  // vouches for it.
  for (const p of parts) {
    if (p.kind === "files") continue; // no object: its blobs were confirmed by the store as they were written
    const info = await store.head(prefix + p.key);
    if (!info || info.size !== p.size || (info.sha256 && info.sha256 !== p.sha256)) {
      const error = `object ${p.key} is missing or differs from what was recorded; the backup cannot be completed`;
      await failJob(sql, job, error);
      return { state: "failed", error };
    }
  }
  // Anything else under the prefix would be picked up by the documented psql restore loop.
  const recorded = new Set(parts.map((p) => prefix + p.key));
  let stray = 0;
  for await (const o of store.list(prefix)) {
    if (!recorded.has(o.key) && o.key !== prefix + MANIFEST_KEY && o.key !== prefix + SIGNATURE_KEY) {
      await store.delete(o.key);
      stray++;
    }
  }
  // Counted at the end (not in the job's snapshot): a warning, not data.
  const manifest = noteLargeObjects(buildJobManifest(job, facts, parts, now()), await countLargeObjects(sql));
  const stored = await storeManifest(store, prefix, manifest, await loadSigningKey(sql));
  const done = await completeJob(sql, job, worker, prefix + MANIFEST_KEY, manifest.snapshot.consistent);
  if (!done) {
    // The job stopped (e.g. swept as stale) while we wrote: a manifest must not outlive it.
    await store.delete(prefix + MANIFEST_KEY).catch(() => {});
    await store.delete(prefix + SIGNATURE_KEY).catch(() => {});
    return { state: "failed", error: "the job stopped before it could be completed" };
  }
  await sql`update lifeboat.backup_runs set manifest_sha256 = ${stored.sha256},
    metadata = metadata || jsonb_build_object('table_count', ${manifest.tables.length}::int) where id = ${job.id}`;
  return { state: "completed", manifestKey: prefix + MANIFEST_KEY, consistent: manifest.snapshot.consistent, strayObjectsDeleted: stray };
}

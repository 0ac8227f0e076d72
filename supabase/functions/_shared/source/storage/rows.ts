/**
 * The Storage rows of a snapshot: `storage.buckets` and `storage.objects` as the backup's
 * transaction sees them. They decide which files a backup holds and what each must be
 * (size, ETag); the bytes read later must match them.
 * @module
 */
import type { Sql, Tx } from "../../db/mod.ts";
import type { BucketEntry } from "../../format/mod.ts";

/** One `storage.objects` row, as the backup needs it. */
export interface ObjectRow {
  bucket: string;
  name: string;
  size: number;
  /** ETag without quotes. */
  etag: string;
  contentType: string | null;
  cacheControl: string | null;
  userMetadata: unknown;
  version: string | null;
}

/** A snapshot's buckets and files. */
export interface StorageRows {
  buckets: BucketEntry[];
  objects: ObjectRow[];
}

/** Only these buckets (null: all). */
export type BucketFilter = string[] | null;

/** Buckets and files of the snapshot `tx` runs in, ordered by bucket and name. */
export async function readStorageRows(
  tx: Sql | Tx,
  buckets: BucketFilter = null,
): Promise<StorageRows> {
  const only = buckets ?? [];
  const b = await tx`
    select id, name, public, file_size_limit, allowed_mime_types
      from storage.buckets
     where ${only.length === 0} or id = any(${only}::text[])
     order by id`;
  // to_jsonb: user_metadata and version are newer columns; a Storage schema without them
  // reads as null rather than failing.
  const o = await tx`
    select o.bucket_id, o.name, o.metadata, j->'user_metadata' as user_metadata, j->>'version' as version
      from storage.objects o, lateral to_jsonb(o) j
     where o.name is not null
       and (${only.length === 0} or o.bucket_id = any(${only}::text[]))
     order by o.bucket_id, o.name collate "C"`;
  return {
    buckets: b.map((r) => ({
      id: String(r.id),
      name: String(r.name),
      public: Boolean(r.public),
      fileSizeLimit: r.file_size_limit === null ? null : Number(r.file_size_limit),
      allowedMimeTypes: r.allowed_mime_types ?? null,
    })),
    objects: o.map((r) => {
      const m = (r.metadata ?? {}) as Record<string, unknown>;
      return {
        bucket: String(r.bucket_id),
        name: String(r.name),
        size: Number(m.size ?? m.contentLength ?? 0),
        etag: String(m.eTag ?? "").replace(/^W\//, "").replace(/^"|"$/g, ""),
        contentType: (m.mimetype as string | undefined) ?? null,
        cacheControl: (m.cacheControl as string | undefined) ?? null,
        userMetadata: r.user_metadata ?? null,
        version: r.version ?? null,
      };
    }),
  };
}

/**
 * The Lifeboat backup format, version 1: the manifest schema and the object naming rules.
 * docs/format.md is the prose specification; this module is its executable form, shared by
 * the exporter (CLI and `backup-export`), `verify`, `restore` and `drill`.
 * @module
 */
import { z } from "zod";

/** The format version this code writes and reads. */
export const FORMAT_VERSION = 1;

/** Lifeboat's own version, recorded in every manifest. */
export const LIFEBOAT_VERSION = "0.1.0";

/** The manifest's key inside a backup prefix. It is written last: its presence marks completion. */
export const MANIFEST_KEY = "manifest.json";

/**
 * The shape of a backup id: UTC time to the second, then 8 hex digits (see {@link newBackupId}).
 * A backup's objects live under the prefix `<id>/` ({@link backupPrefix}).
 */
export const BACKUP_ID_PATTERN = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$/;

/** Whether a string has the shape of a backup id. */
export function isBackupId(s: string): boolean {
  return BACKUP_ID_PATTERN.test(s);
}

/** The key prefix every object of a backup is stored under: `<id>/`. */
export function backupPrefix(id: string): string {
  return `${id}/`;
}

/** The store key of an object of a backup, from its key relative to the backup prefix. */
export function objectKey(id: string, key: string): string {
  return `${backupPrefix(id)}${key}`;
}

/** A new backup id: UTC time plus 8 random hex digits, sortable by time. */
export function newBackupId(now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  const rand = crypto.getRandomValues(new Uint8Array(4));
  return `${ts}-${Array.from(rand, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** What an object in a backup holds, in restore order. */
export const OBJECT_KINDS = ["roles", "pre-data", "data", "post-data", "finalize"] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/**
 * The codecs stored objects may be compressed with, one per backup. Readers that predate
 * zstd refuse a zstd manifest (they expect "gzip") instead of misreading it.
 */
export const COMPRESSIONS = ["gzip", "zstd"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex sha256");

/** One stored object: its key relative to the backup prefix, size and checksum of the stored bytes. */
export const StoredObjectEntry = z.object({
  key: z.string().min(1),
  kind: z.enum(OBJECT_KINDS),
  size: z.number().int().nonnegative(),
  sha256: sha256Hex,
  /** Rows in a data part. */
  rows: z.number().int().nonnegative().optional(),
  /** The table a data part belongs to. */
  table: z.object({ schema: z.string(), name: z.string() }).optional(),
  /** Part number within the table, from 0. */
  part: z.number().int().nonnegative().optional(),
});
export type StoredObjectEntry = z.infer<typeof StoredObjectEntry>;

/** A table in the backup, with the fingerprint `lifeboat.fingerprint` gave inside the snapshot. */
export const TableEntry = z.object({
  schema: z.string(),
  name: z.string(),
  rows: z.number().int().nonnegative(),
  /** Uncompressed COPY bytes. */
  bytes: z.number().int().nonnegative(),
  /** The jsonb `lifeboat.fingerprint(table)` returned, stored verbatim and compared verbatim. */
  fingerprint: z.unknown(),
  /** Keys of the table's data parts, in order. */
  parts: z.array(z.string()),
});
export type TableEntry = z.infer<typeof TableEntry>;

/** A sequence's state at the snapshot. */
export const SequenceEntry = z.object({
  schema: z.string(),
  name: z.string(),
  lastValue: z.string().nullable(),
  isCalled: z.boolean(),
});
export type SequenceEntry = z.infer<typeof SequenceEntry>;

/** A table named in a backup's scope. */
const TableName = z.object({ schema: z.string(), name: z.string() });

/**
 * The include/exclude rules a backup was taken with. Optional (manifests written before it
 * existed have none); `verify` uses it to know which of the source's tables a backup covers.
 */
export const ManifestScope = z.object({
  /** Only these schemas; null = every schema not excluded. */
  includeSchemas: z.array(z.string()).nullable(),
  /** Schemas left out on request, besides the managed ones in `excludedSchemas`. */
  excludeSchemas: z.array(z.string()),
  /** Only these tables (a `tables` backup); null = every table in the schemas. */
  tables: z.array(TableName).nullable(),
  /** Tables left out on request. */
  excludeTables: z.array(TableName),
});
export type ManifestScope = z.infer<typeof ManifestScope>;

/**
 * The platform's schemas in a backup (absent in older manifests): the GoTrue and Storage
 * schema versions of the source (a restore refuses a target with older ones), which of their
 * tables the backup copies, and with which options. Storage files have a section of their own.
 */
export const ManifestPlatform = z.object({
  /** GoTrue's latest auth.schema_migrations version; null when the source has no auth schema. */
  authVersion: z.string().nullable(),
  /** Storage's latest storage.migrations id; null when the source has no storage schema. */
  storageVersion: z.number().int().nullable(),
  /** --include-auth-sessions and --include-auth-audit. */
  authSessions: z.boolean(),
  authAudit: z.boolean(),
  /** Vault secrets in the (encrypted) post-data, with --include-vault; absent without it. */
  vaultSecrets: z.number().int().optional(),
  /** Every auth and storage table of the source, its class and whether its rows are in the backup. */
  tables: z.array(z.object({ schema: z.string(), name: z.string(), class: z.string(), copied: z.boolean() })),
});
export type ManifestPlatform = z.infer<typeof ManifestPlatform>;

/** A Storage bucket with the settings a restore re-creates it with. */
export const BucketEntry = z.object({
  id: z.string(),
  name: z.string(),
  public: z.boolean(),
  fileSizeLimit: z.number().int().nullable(),
  allowedMimeTypes: z.array(z.string()).nullable(),
});
export type BucketEntry = z.infer<typeof BucketEntry>;

/** One Storage file as its `storage.objects` row stood in the snapshot, and the blob holding its bytes. */
export const FileEntry = z.object({
  bucket: z.string(),
  name: z.string(),
  /** Plain bytes. */
  size: z.number().int().nonnegative(),
  /** sha256 of the plain bytes. */
  sha256: sha256Hex,
  contentType: z.string().nullable(),
  cacheControl: z.string().nullable(),
  userMetadata: z.unknown().nullable(),
  /** The row's `version` (Storage's object version id). */
  version: z.string().nullable(),
  /** The row's ETag without quotes: what the next backup compares to skip unchanged files. */
  etag: z.string(),
  /** The blob's key from the store's root ({@link blobKey}). */
  blob: z.string(),
});
export type FileEntry = z.infer<typeof FileEntry>;

/** A file of the snapshot that is not in the backup, and why (changed or deleted before it was read). */
export const SkippedFile = z.object({ bucket: z.string(), name: z.string(), reason: z.string() });
export type SkippedFile = z.infer<typeof SkippedFile>;

/** The Storage files of a backup (absent when files were not backed up). */
export const FilesSection = z.object({
  /** The folder of the blobs this backup wrote or reused: `files/<namespace>/` ({@link blobNamespace}). */
  blobNamespace: z.string().regex(/^[0-9a-f]{16}$/),
  buckets: z.array(BucketEntry),
  objects: z.array(FileEntry),
  skipped: z.array(SkippedFile),
  /** File bytes read from Storage by this backup (0 when nothing changed). */
  bytesRead: z.number().int().nonnegative(),
  /** Files whose blob came from the previous backup without reading them. */
  reused: z.number().int().nonnegative(),
});
export type FilesSection = z.infer<typeof FilesSection>;

/** The store prefix every file blob lives under (outside any backup prefix: blobs are shared). */
export const BLOBS_PREFIX = "files/";

/**
 * The blob namespace of a backup: 16 hex digits of sha256(codec, sorted recipients). A blob is
 * reused only by backups sealed the same way, so a new recipient never reads an old blob.
 */
export async function blobNamespace(compression: Compression, recipients: string[]): Promise<string> {
  const text = [compression, ...[...recipients].sort()].join("\n");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A file blob's key from the store's root: `files/<namespace>/<sha256[0:2]>/<sha256><suffix>`. */
export function blobKey(namespace: string, sha256: string, encrypted: boolean, compression: Compression): string {
  return `${BLOBS_PREFIX}${namespace}/${sha256.slice(0, 2)}/${sha256}${objectSuffix(encrypted, compression)}`;
}

/**
 * Where a big file's sealed bytes are written while they are read, hashed and sealed in one
 * pass (its sha256, hence its {@link blobKey}, is known only at the end), before the store
 * copies them to the blob key: `files/<namespace>/staging/<32 random hex><suffix>`. No
 * manifest names a staging key; the blob sweep deletes those older than its grace period.
 */
export function blobStagingKey(namespace: string, encrypted: boolean, compression: Compression): string {
  const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${BLOBS_PREFIX}${namespace}/staging/${id}${objectSuffix(encrypted, compression)}`;
}

/** The whole manifest. */
export const Manifest = z.object({
  format: z.literal("lifeboat-backup"),
  formatVersion: z.literal(FORMAT_VERSION),
  id: z.string().regex(BACKUP_ID_PATTERN),
  label: z.string().nullable(),
  /** "files": a backup-export files job (Storage files only, no tables). */
  kind: z.enum(["full", "tables", "files"]),
  lifeboatVersion: z.string(),
  server: z.object({ version: z.string(), versionNum: z.number().int() }),
  database: z.string(),
  extensions: z.array(z.object({ name: z.string(), version: z.string(), schema: z.string() })),
  startedAt: z.string().datetime(),
  finishedAt: z.string().datetime(),
  snapshot: z.object({
    /** True only if every table was read in one exported snapshot. */
    consistent: z.boolean(),
    snapshotIds: z.array(z.string()),
    lsnStart: z.string(),
    lsnEnd: z.string(),
    /**
     * What the snapshot sees, for the hand-off to the change stream (absent in older manifests
     * and when the backup was not read in one snapshot): a transaction is in the backup unless
     * its xid is >= `xmax` or in `xip` (64-bit xids as decimal text). `takenAt`: the database
     * clock just after the snapshot was taken.
     */
    xmin: z.string().regex(/^[0-9]+$/).optional(),
    xmax: z.string().regex(/^[0-9]+$/).optional(),
    xip: z.array(z.string().regex(/^[0-9]+$/)).optional(),
    takenAt: z.string().datetime().optional(),
  }),
  /** The change stream's slot at the snapshot (absent in older manifests; null without a stream). */
  stream: z.object({ slot: z.string(), confirmedFlushLsn: z.string().nullable() }).nullable().optional(),
  encryption: z.object({
    scheme: z.enum(["age-x25519", "none"]),
    recipients: z.array(z.string()),
    /** Set when the operator explicitly asked for unencrypted output. */
    unencryptedByRequest: z.boolean(),
  }),
  /** The codec of every object but the manifest (see {@link COMPRESSIONS}). */
  compression: z.enum(COMPRESSIONS),
  excludedSchemas: z.array(z.string()),
  /** The selection the backup was taken with (absent in older manifests). */
  scope: ManifestScope.optional(),
  roles: z.object({ passwordsNotExported: z.array(z.string()) }),
  /**
   * Large objects (pg_largeobject) the database held, which the backup does NOT contain: oid
   * columns that reference them point at nothing after a restore. Absent when there were none.
   */
  largeObjectsNotExported: z.number().int().positive().optional(),
  /** The platform's schemas: versions and the tables copied (absent in older manifests). */
  platform: ManifestPlatform.optional(),
  tables: z.array(TableEntry),
  sequences: z.array(SequenceEntry),
  objects: z.array(StoredObjectEntry),
  /** Storage files (absent in backups without files). */
  files: FilesSection.optional(),
  /**
   * Why this backup holds no Storage files (set whenever `files` is absent, by writers that
   * know: `--no-files`, no Storage URL or key configured, a `tables` backup, a backup-export
   * database job). Absent in older manifests.
   */
  filesNotBackedUp: z.string().optional(),
});
export type Manifest = z.infer<typeof Manifest>;

/** Parses and validates a manifest, with an error naming the bad field. */
export function parseManifest(json: unknown): Manifest {
  const r = Manifest.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(
      `not a valid Lifeboat manifest: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
  }
  return r.data;
}

/**
 * The suffix of stored objects: the codec's (`.gz` or `.zst`), then `.age` unless the backup
 * is unencrypted.
 */
export function objectSuffix(encrypted: boolean, compression: Compression): string {
  const codec = compression === "zstd" ? ".zst" : ".gz";
  return encrypted ? `${codec}.age` : codec;
}

/** A key-safe slug for a table: only [A-Za-z0-9_.-], with a short hash to keep it unique. */
export async function tableSlug(schema: string, name: string): Promise<string> {
  const safe = `${schema}.${name}`.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 80);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${schema}\u0000${name}`));
  const hex = Array.from(new Uint8Array(digest).slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${safe}-${hex}`;
}

/** Key of a table's data part, relative to the backup prefix. */
export function dataPartKey(slug: string, part: number, encrypted: boolean, compression: Compression): string {
  return `data/${slug}/part-${String(part).padStart(5, "0")}.copy.sql${objectSuffix(encrypted, compression)}`;
}

/** Keys of the schema objects, relative to the backup prefix. */
export function schemaKey(kind: Exclude<ObjectKind, "data">, encrypted: boolean, compression: Compression): string {
  const base = kind === "roles" ? "roles.sql" : `schema/${kind}.sql`;
  return `${base}${objectSuffix(encrypted, compression)}`;
}

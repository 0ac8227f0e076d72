/**
 * The object store contract that backups are written to, plus the key rules
 * and the error type every store implementation shares.
 *
 * A store is a flat namespace of immutable-once-written objects addressed by
 * `/`-separated keys. Implementations: fs/ (a local directory), s3/ (any S3-compatible
 * service) and azure/ (Azure Blob Storage, Azurite). Open one with `openStore` from
 * {@link ./mod.ts}.
 *
 * @module
 */

/** What a store knows about an object without reading it. */
export interface ObjectInfo {
  /** Key relative to the store's root/prefix, e.g. `backups/2024/db.dump`. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Lowercase hex sha256 of the stored bytes, when the store recorded one.
   * Always set for objects written through a Lifeboat store (and always set
   * by the fs store's `head`); absent from S3 listings, which carry no
   * metadata, and from objects other tools wrote to S3. */
  sha256?: string;
  /** Last modification time, when the store reports one. */
  lastModified?: Date;
  /** The storage class (S3) or access tier (Azure) `head` reports, e.g. `STANDARD_IA`,
   * `Archive`; absent from listings and from stores without classes. */
  storageClass?: string;
  /** The object's write-once lock as `head` reports it (S3 Object Lock retention, Azure
   * immutability policy); absent when unlocked. */
  lock?: ObjectLock;
}

/** A write-once lock: until `retainUntil` the object cannot be deleted or overwritten;
 * `compliance` binds every user, `governance` can be lifted by a user with the special
 * permission (S3 `s3:BypassGovernanceRetention`; an unlocked Azure policy). */
export interface ObjectLock {
  mode: "compliance" | "governance";
  retainUntil: Date;
}

/** An object the store has confirmed as durably stored. */
export interface StoredObject extends ObjectInfo {
  sha256: string;
}

/** Options for {@link Store.put}. */
export interface PutOptions {
  /** MIME type to record with the object (S3 only; default
   * `application/octet-stream`). */
  contentType?: string;
  /** If the caller already knows the sha256 of the body, pass it: the store
   * verifies the bytes against it and fails with code `integrity` on a
   * mismatch (nothing is left visible under the key). On S3 this also saves
   * a metadata-rewrite request after a multipart upload. */
  sha256?: string;
  /** Cancels the write; a cancelled write leaves nothing visible. */
  signal?: AbortSignal;
}

/** Options for reads. */
export interface ReadOptions {
  signal?: AbortSignal;
  /**
   * Ask for a readable byte stream, which a reader that does not keep the bytes (a hash) reads
   * into one buffer of its own with `getReader({ mode: "byob" })`: no fresh buffer per chunk
   * for the collector, about half the CPU per byte on S3 (bench/verify/RESULTS.md). A driver
   * may ignore it; its stream then works with a default reader only (see verify's readEach).
   */
  byteStream?: boolean;
}

/**
 * A backup destination. Keys are validated with {@link validateKey}; all
 * methods reject with {@link StoreError}.
 */
export interface Store {
  /**
   * Write an object, replacing any existing one with the same key. Resolves
   * only once the store has confirmed the bytes are durable; until then
   * (and if it fails) readers see either the previous object or none, never
   * a partial one. A stream body is consumed with bounded memory.
   */
  put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts?: PutOptions,
  ): Promise<StoredObject>;
  /** Stream an object's bytes. Rejects with code `not_found` if absent. */
  get(key: string, opts?: ReadOptions): Promise<ReadableStream<Uint8Array>>;
  /** Read a whole (small) object into memory. */
  getBytes(key: string, opts?: ReadOptions): Promise<Uint8Array>;
  /** Describe an object, or `null` if there is none under `key`. */
  head(key: string, opts?: ReadOptions): Promise<ObjectInfo | null>;
  /** All objects whose key starts with `prefix` (`""` for all), sorted by
   * key. The fs store sorts by UTF-16 code units, S3 by UTF-8 bytes: the same
   * order for the ASCII keys {@link validateKey} allows. */
  list(prefix?: string, opts?: ReadOptions): AsyncIterable<ObjectInfo>;
  /** Delete an object. Deleting a missing key is not an error. */
  delete(key: string, opts?: ReadOptions): Promise<void>;
  /**
   * Copy an object inside the store without sending its bytes through the caller (S3
   * CopyObject), resolving once the copy is confirmed (size and sha256). Optional: a driver
   * without it is copied by a read and a put ({@link ../copy.ts}'s `copyObject`).
   */
  copy?(from: string, to: string, opts?: ReadOptions): Promise<StoredObject>;
  /** Human-readable location, safe to log: never contains credentials. */
  describe(): string;
}

/** Why a store operation failed; stable, for callers to branch on. */
export type StoreErrorCode =
  /** The key or prefix breaks the key rules (see {@link validateKey}). */
  | "invalid_key"
  /** The store configuration is incomplete or malformed. */
  | "config"
  /** No object under the key. */
  | "not_found"
  /** Credentials were rejected or lack permission. */
  | "auth"
  /** The bucket or root directory does not exist. */
  | "no_bucket"
  /** The stored bytes do not match what was sent or expected. */
  | "integrity"
  /** The store could not be reached or kept failing after retries. */
  | "unavailable"
  /** The operation was cancelled by the caller's AbortSignal. */
  | "aborted"
  /** The object is in an offline tier (Azure Archive, S3 Glacier/Deep Archive) and must be
   * rehydrated or restored before it can be read; the message says how. */
  | "archived"
  /** A write-once lock (object lock, immutability policy) refused a delete or overwrite. */
  | "locked"
  /** Anything else the store rejected. */
  | "failed";

/** The error every store operation rejects with. Messages say what to fix
 * and never contain credentials. */
export class StoreError extends Error {
  /** Machine-readable reason. */
  readonly code: StoreErrorCode;
  /** HTTP status from the store, when there was one. */
  readonly status?: number;
  /** The service's own error code (e.g. S3's `SlowDown`), when it sent one. */
  readonly serviceCode?: string;

  constructor(
    code: StoreErrorCode,
    message: string,
    options?: { status?: number; serviceCode?: string; cause?: unknown },
  ) {
    super(
      message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "StoreError";
    this.code = code;
    this.status = options?.status;
    this.serviceCode = options?.serviceCode;
  }
}

/** Longest key accepted, in characters (S3 allows 1024 bytes; keys are ASCII). */
export const MAX_KEY_LENGTH = 1024;

// Deliberately narrow: the same key must be a safe file path on every OS and
// an S3 key that signs identically in every SigV4 implementation. Backup keys
// are generated by Lifeboat, so nothing needs more.
const SEGMENT = /^[A-Za-z0-9._\-=+,@:~]+$/;

/** Names starting with this are the fs store's temp and metadata files. */
export const RESERVED_PREFIX = ".lifeboat-";

/**
 * Check that `key` is a valid object key and return it: `/`-separated
 * segments of letters, digits and `. _ - = + , @ : ~`, no empty, `.` or `..`
 * segments, no leading or trailing `/`, no segment starting with
 * `.lifeboat-`. Throws {@link StoreError} with code `invalid_key` otherwise.
 */
export function validateKey(key: string): string {
  const problem = keyProblem(key);
  if (problem) {
    throw new StoreError(
      "invalid_key",
      `Invalid object key ${JSON.stringify(key)}: ${problem}.`,
    );
  }
  return key;
}

/**
 * Check a listing prefix: `""`, a key, a key followed by `/`, or a key whose
 * last segment is partial (`backups/2024-0`). Returns it or throws like
 * {@link validateKey}.
 */
export function validatePrefix(prefix: string): string {
  if (prefix === "") return prefix;
  const problem = keyProblem(
    prefix.endsWith("/") ? prefix.slice(0, -1) : prefix,
  );
  if (problem) {
    throw new StoreError(
      "invalid_key",
      `Invalid list prefix ${JSON.stringify(prefix)}: ${problem}.`,
    );
  }
  return prefix;
}

function keyProblem(key: string): string | undefined {
  if (typeof key !== "string" || key.length === 0) {
    return "keys must be non-empty strings";
  }
  if (key.length > MAX_KEY_LENGTH) {
    return `keys are limited to ${MAX_KEY_LENGTH} characters`;
  }
  if (key.startsWith("/")) return "keys are relative; remove the leading '/'";
  if (key.endsWith("/")) return "keys cannot end with '/'";
  const segments = key.split("/");
  for (const seg of segments) {
    if (seg === "") return "keys cannot contain empty segments ('//')";
    if (seg === "." || seg === "..") {
      return "keys cannot contain '.' or '..' segments";
    }
    if (!SEGMENT.test(seg)) {
      return "use only letters, digits, '/' and . _ - = + , @ : ~";
    }
    if (seg.startsWith(RESERVED_PREFIX)) {
      return `segments starting with '${RESERVED_PREFIX}' are reserved for Lifeboat's own files`;
    }
  }
  return undefined;
}

/** Lowercase hex of a byte array. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Whether `s` looks like a sha256 hex digest. */
export function isSha256Hex(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

/**
 * Check a put's arguments before any I/O, the same for every store: the key
 * (see {@link validateKey}) and, when given, `opts.sha256` as 64 lowercase
 * hex characters. Throws {@link StoreError} otherwise.
 */
export function validatePut(key: string, opts: PutOptions): void {
  validateKey(key);
  if (opts.sha256 !== undefined && !isSha256Hex(opts.sha256)) {
    throw new StoreError(
      "config",
      `put(${JSON.stringify(key)}): opts.sha256 must be 64 lowercase hex characters.`,
    );
  }
}

/**
 * Refuse a store URL whose path has a `.` or `..` segment (also percent-encoded): URL
 * parsing resolves them, so `s3://bucket/../escape` would write under `escape/` while the
 * location recorded for the run still reads `../escape`. Throws {@link StoreError} `config`.
 */
export function refuseDotSegments(location: string): void {
  const path = location.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/, "").replace(/[?#].*$/, "");
  for (const seg of path.split(/[/\\]/)) {
    let plain = seg;
    try {
      plain = decodeURIComponent(seg);
    } catch {
      // a malformed escape is reported by the URL parser
    }
    if (plain === "." || plain === "..") {
      throw new StoreError(
        "config",
        `Store location ${JSON.stringify(location)} has a '${plain}' path segment: name the prefix directly (no '.' or '..').`,
      );
    }
  }
}

/**
 * A {@link Store} on any S3-compatible service (Ceph RGW, Supabase Storage,
 * AWS S3, MinIO...), signed with SigV4 via aws4fetch, using path-style URLs.
 *
 * - Small bodies go up in one PUT; streams and large bodies in a multipart
 *   upload of fixed-size parts, several in flight, buffering only those
 *   parts (memory ≈ (concurrency + 1) × partSize).
 * - Every request body is a buffered `Uint8Array` (Deno's fetch drops the
 *   Content-Length of stream bodies and S3 then answers 411) and carries its
 *   sha256 in `x-amz-content-sha256`, so the server rejects corrupted bytes.
 * - The object's sha256 is stored as `x-amz-meta-sha256`. For multipart
 *   uploads it is only known at the end, so it is attached by an in-place
 *   CopyObject (metadata REPLACE) unless the caller passed it up front.
 * - A put resolves only after a HEAD confirms size and sha256; a failed
 *   multipart upload is aborted.
 * - 5xx, 429/SlowDown/throttling, network errors and timeouts are retried
 *   with backoff; auth and other 4xx errors are not.
 *
 * Runs in the Deno CLI and in Supabase Edge Functions (web APIs plus
 * `node:crypto` for incremental hashing). Requests, signing and retries are
 * in client.ts, multipart uploads in multipart.ts, XML in xml.ts, and the
 * settings (options and environment names) in options.ts.
 *
 * @module
 */

import { DEFAULT_RETRY, type RetryOptions } from "../retry.ts";
import { expectSha256 } from "../expect.ts";
import {
  isSha256Hex,
  type ObjectInfo,
  type PutOptions,
  type ReadOptions,
  type Store,
  type StoredObject,
  StoreError,
  validateKey,
  validatePrefix,
  validatePut,
} from "../types.ts";
import { S3Client, sha256Hex } from "./client.ts";
import { confirm, putMultipart } from "./multipart.ts";
import { MAX_COPY_BYTES, sendCopy } from "./copy.ts";
import { sliceParts, streamParts } from "../parts.ts";
import { MIN_PART_SIZE, S3_ENV } from "./options.ts";
import { handOverChunk, releaseOwned } from "../../release.ts";
import { xmlBlocks, xmlText } from "./xml.ts";
import { firstVersion, firstVersions, listVersions, lockFrom, requireBucketLock, type WritePolicy, writeHeaders } from "./lock.ts";
import { createHash } from "node:crypto";

/** Everything an {@link S3Store} needs. Validate untrusted input with
 * `openStore` in store/mod.ts, which builds this (s3/options.ts). */
export interface S3StoreConfig {
  /** Service URL, e.g. `http://127.0.0.1:54330` or
   * `https://<ref>.supabase.co/storage/v1/s3`. Buckets are addressed
   * path-style below it. */
  endpoint: string;
  /** SigV4 region, e.g. `us-east-1`. */
  region: string;
  bucket: string;
  /** Key prefix inside the bucket: `""` or ending in `/`. */
  prefix?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Multipart part size in bytes (≥ 5 MiB; default 8 MiB). Bodies up to
   * this size are sent in a single PUT. */
  partSize?: number;
  /** Parts uploaded in parallel (default 4). */
  concurrency?: number;
  /** Retry policy for every request. */
  retry?: RetryOptions;
  /** Idle limit while streaming a `get` body: no bytes for this long fails
   * the stream (default: the retry timeout). */
  readIdleTimeoutMs?: number;
  /** Keys per ListObjectsV2 page (default 1000, the S3 maximum). */
  listPageSize?: number;
  /** `x-amz-storage-class` of every object written. */
  storageClass?: string;
  /** Object Lock retention of every object written; makes the store write-once (lock.ts). */
  objectLock?: { mode: "COMPLIANCE" | "GOVERNANCE"; days: number };
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 4;

/** A store in one bucket (and optional prefix) of an S3-compatible service. */
export class S3Store implements Store {
  readonly #cfg: Required<Omit<S3StoreConfig, "retry" | "storageClass" | "objectLock">> & {
    retry: Required<RetryOptions>;
  } & WritePolicy;
  /** The bucket's Object Lock, checked once before the first write of a locked store. */
  #lockChecked?: Promise<void>;
  readonly #client: S3Client;

  constructor(config: S3StoreConfig) {
    const partSize = config.partSize ?? DEFAULT_PART_SIZE;
    const concurrency = config.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE) {
      throw new StoreError(
        "config",
        `S3 partSize must be an integer of at least ${MIN_PART_SIZE} bytes (5 MiB).`,
      );
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new StoreError(
        "config",
        "S3 concurrency must be a positive integer.",
      );
    }
    const prefix = config.prefix ?? "";
    if (
      prefix !== "" &&
      (!prefix.endsWith("/") || (validatePrefix(prefix), false))
    ) {
      throw new StoreError(
        "config",
        `S3 prefix ${JSON.stringify(prefix)} must be empty or end with '/'.`,
      );
    }
    const retryOpts = { ...DEFAULT_RETRY, ...config.retry };
    this.#cfg = {
      ...config,
      prefix,
      partSize,
      concurrency,
      retry: retryOpts,
      readIdleTimeoutMs: config.readIdleTimeoutMs ?? retryOpts.timeoutMs,
      listPageSize: config.listPageSize ?? 1000,
    };
    this.#client = new S3Client({ ...this.#cfg });
  }

  describe(): string {
    return this.#client.describe();
  }

  // ------------------------------------------------------------------ put

  async put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts: PutOptions = {},
  ): Promise<StoredObject> {
    validatePut(key, opts);
    if (this.#cfg.objectLock) {
      this.#lockChecked ??= requireBucketLock(this.#client, this.#cfg.bucket, opts.signal).catch((err) => {
        this.#lockChecked = undefined;
        throw err;
      });
      await this.#lockChecked;
    }
    const parts = body instanceof Uint8Array
      ? sliceParts(body, this.#cfg.partSize)
      : streamParts(body, this.#cfg.partSize, opts.signal);
    try {
      const first = await parts.next();
      if (first.done || first.value.last) {
        const single = first.done ? new Uint8Array(0) : first.value.bytes;
        try {
          return await this.#putSingle(key, single, opts);
        } finally {
          if (!first.done && first.value.owned) releaseOwned(single); // streamParts' buffer, sent
        }
      }
      return await putMultipart({
        client: this.#client,
        partSize: this.#cfg.partSize,
        concurrency: this.#cfg.concurrency,
        retryAttempts: this.#cfg.retry.attempts,
        writeHeaders: writeHeaders(this.#cfg),
        writeOnce: this.#cfg.objectLock !== undefined,
        head: (k, o) => this.head(k, o),
        delete: (k) => this.delete(k),
      }, key, first.value, parts, opts);
    } catch (err) {
      if (err instanceof StoreError && err.serviceCode === "InvalidArgument" && this.#cfg.storageClass) {
        // RGW answers an unknown class with a bare InvalidArgument.
        throw new StoreError(
          "config",
          `S3 rejected the write of ${JSON.stringify(key)} with storage class ${this.#cfg.storageClass} (InvalidArgument): the service does not offer this storage class; set ${S3_ENV.storageClass} to one it offers (RGW: a placement storage class).`,
          { status: err.status, serviceCode: err.serviceCode, cause: err },
        );
      }
      throw this.#abortedOr(err, `PUT ${JSON.stringify(key)}`, opts.signal);
    } finally {
      // Releases (and on failure cancels) the source stream.
      await parts.return(undefined);
    }
  }

  async #putSingle(
    key: string,
    bytes: Uint8Array,
    opts: PutOptions,
  ): Promise<StoredObject> {
    const sha256 = sha256Hex(bytes);
    expectSha256(key, sha256, opts);
    await this.#client.send({ name: "PutObject", key }, {
      method: "PUT",
      key,
      body: bytes,
      payloadSha256: sha256,
      headers: {
        "content-type": opts.contentType ?? "application/octet-stream",
        "x-amz-meta-sha256": sha256,
        ...writeHeaders(this.#cfg),
        // S3 requires Content-MD5 on a write that sets a retention.
        ...(this.#cfg.objectLock ? { "content-md5": md5Base64(bytes) } : {}),
      },
      signal: opts.signal,
    });
    // A 200 to a PUT whose payload hash the server checked is the service's
    // own durability confirmation; no extra HEAD needed.
    return { key, size: bytes.byteLength, sha256, lastModified: new Date() };
  }

  // ------------------------------------------------------------------ reads

  async get(
    key: string,
    opts: ReadOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    validateKey(key);
    try {
      const res = await this.#client.send({ name: "GetObject", key }, {
        method: "GET",
        key,
        query: await this.#readVersion(key, opts.signal),
        signal: opts.signal,
        read: "response",
      });
      return guardBody(
        res.body ?? emptyStream(),
        this.#cfg.readIdleTimeoutMs,
        opts.signal,
        (why) =>
          new StoreError(
            "unavailable",
            `Reading ${this.#client.where(key)} from S3 ${why}; retry the read.`,
          ),
        opts.byteStream === true,
      );
    } catch (err) {
      throw this.#abortedOr(err, `GET ${JSON.stringify(key)}`, opts.signal);
    }
  }

  async getBytes(key: string, opts: ReadOptions = {}): Promise<Uint8Array> {
    validateKey(key);
    try {
      return await this.#client.send({ name: "GetObject", key }, {
        method: "GET",
        key,
        query: await this.#readVersion(key, opts.signal),
        signal: opts.signal,
        read: "bytes",
      });
    } catch (err) {
      throw this.#abortedOr(err, `GET ${JSON.stringify(key)}`, opts.signal);
    }
  }

  async head(key: string, opts: ReadOptions = {}): Promise<ObjectInfo | null> {
    validateKey(key);
    try {
      let query: Record<string, string> | undefined;
      try {
        query = await this.#readVersion(key, opts.signal);
      } catch (err) {
        if (err instanceof StoreError && err.code === "not_found") return null;
        throw err;
      }
      const h = await this.#client.send({ name: "HeadObject", key }, {
        method: "HEAD",
        key,
        query,
        signal: opts.signal,
        read: "headers",
        okStatus: [200, 404],
      });
      if (h.get("x-lifeboat-status") === "404") return null;
      const size = Number(h.get("content-length"));
      const sha = h.get("x-amz-meta-sha256")?.toLowerCase();
      const lm = h.get("last-modified");
      const lock = lockFrom(h);
      return {
        key,
        size: Number.isFinite(size) ? size : 0,
        ...(sha && isSha256Hex(sha) ? { sha256: sha } : {}),
        ...(lm ? { lastModified: new Date(lm) } : {}),
        // S3 omits the header for STANDARD.
        storageClass: h.get("x-amz-storage-class") ?? "STANDARD",
        ...(lock ? { lock } : {}),
      };
    } catch (err) {
      throw this.#abortedOr(err, `HEAD ${JSON.stringify(key)}`, opts.signal);
    }
  }

  async *list(prefix = "", opts: ReadOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const full = this.#cfg.prefix + prefix;
    if (this.#cfg.objectLock) {
      // Write-once: a key whose latest version is a delete marker (or an overwrite) still
      // holds the version the backup wrote.
      try {
        for await (const v of firstVersions(this.#client, full, this.#cfg.listPageSize, opts.signal)) {
          if (!v.key.startsWith(this.#cfg.prefix)) continue;
          yield { key: v.key.slice(this.#cfg.prefix.length), size: v.size, ...(v.lastModified ? { lastModified: v.lastModified } : {}) };
        }
      } catch (err) {
        throw this.#abortedOr(err, `list ${JSON.stringify(prefix)}`, opts.signal);
      }
      return;
    }
    let token: string | undefined;
    do {
      let xml: string;
      try {
        xml = await this.#client.send({ name: "ListObjectsV2" }, {
          method: "GET",
          query: {
            "list-type": "2",
            "max-keys": String(this.#cfg.listPageSize),
            "prefix": full,
            ...(token ? { "continuation-token": token } : {}),
          },
          signal: opts.signal,
          read: "text",
        });
      } catch (err) {
        throw this.#abortedOr(
          err,
          `list ${JSON.stringify(prefix)}`,
          opts.signal,
        );
      }
      for (const block of xmlBlocks(xml, "Contents")) {
        const fullKey = xmlText(block, "Key") ?? "";
        if (!fullKey.startsWith(this.#cfg.prefix)) continue;
        const lm = xmlText(block, "LastModified");
        yield {
          key: fullKey.slice(this.#cfg.prefix.length),
          size: Number(xmlText(block, "Size") ?? 0),
          ...(lm ? { lastModified: new Date(lm) } : {}),
        };
      }
      token = xmlText(xml, "IsTruncated") === "true"
        ? xmlText(xml, "NextContinuationToken")
        : undefined;
    } while (token);
  }

  async copy(from: string, to: string, opts: ReadOptions = {}): Promise<StoredObject> {
    validateKey(from);
    validateKey(to);
    const src = await this.head(from, opts);
    if (!src) throw new StoreError("not_found", `No object ${JSON.stringify(from)} to copy in ${this.describe()}.`);
    if (!src.sha256) {
      throw new StoreError("integrity", `${JSON.stringify(from)} in ${this.describe()} has no recorded sha256; it was not written by Lifeboat and is not copied.`);
    }
    if (src.size > MAX_COPY_BYTES) return await this.put(to, await this.get(from, opts), { sha256: src.sha256, signal: opts.signal });
    try {
      // COPY keeps the source's metadata (its sha256, content type); the store's class and
      // retention apply to the new object as to any write.
      await sendCopy(this.#client, "CopyObject", from, to, { "x-amz-metadata-directive": "COPY", ...writeHeaders(this.#cfg) }, opts.signal);
      return await confirm({ client: this.#client, head: (k, o) => this.head(k, o) }, to, src.size, src.sha256, opts.signal);
    } catch (err) {
      throw this.#abortedOr(err, `COPY ${JSON.stringify(from)} to ${JSON.stringify(to)}`, opts.signal);
    }
  }

  async delete(key: string, opts: ReadOptions = {}): Promise<void> {
    validateKey(key);
    if (this.#cfg.objectLock) return await this.#deleteAllVersions(key, opts.signal);
    try {
      await this.#client.send({ name: "DeleteObject", key }, {
        method: "DELETE",
        key,
        signal: opts.signal,
      });
    } catch (err) {
      // S3 answers 204 for a missing key; some services say 404 NoSuchKey.
      if (err instanceof StoreError && err.code === "not_found") return;
      throw this.#abortedOr(err, `DELETE ${JSON.stringify(key)}`, opts.signal);
    }
  }

  /** In a write-once (locked) store, reads address the key's first version. */
  async #readVersion(key: string, signal?: AbortSignal): Promise<Record<string, string> | undefined> {
    if (!this.#cfg.objectLock) return undefined;
    const first = await firstVersion(this.#client, this.#cfg.prefix + key, signal);
    if (!first) throw new StoreError("not_found", `S3 object ${this.#client.where(key)}: no such object (no version of it).`);
    return { versionId: first.versionId };
  }

  /** Deletes every version and delete marker of `key`; refused while its lock holds. */
  async #deleteAllVersions(key: string, signal?: AbortSignal): Promise<void> {
    const info = await this.head(key, { signal });
    if (info?.lock && info.lock.retainUntil.getTime() > Date.now()) {
      throw new StoreError(
        "locked",
        `${this.#client.where(key)} is under S3 Object Lock (${info.lock.mode}) until ${info.lock.retainUntil.toISOString()}: it cannot be deleted before then.`,
      );
    }
    const full = this.#cfg.prefix + key;
    try {
      const versions = [];
      for await (const v of listVersions(this.#client, full, 1000, signal)) if (v.key === full) versions.push(v);
      for (const v of versions) {
        await this.#client.send({ name: "DeleteObject (version)", key }, {
          method: "DELETE",
          key,
          query: { versionId: v.versionId },
          signal,
        });
      }
    } catch (err) {
      if (err instanceof StoreError && err.code === "auth") {
        throw new StoreError(
          "locked",
          `${this.#client.where(key)}: S3 refused to delete a version (${err.message}); a version under Object Lock or a legal hold cannot be deleted until it expires.`,
          { status: err.status, serviceCode: err.serviceCode, cause: err },
        );
      }
      throw this.#abortedOr(err, `DELETE ${JSON.stringify(key)}`, signal);
    }
  }

  // Network failures and timeouts never get here (S3Client.send turns exhausted
  // retries into StoreErrors); what remains is cancellation, or an error
  // from the caller's own body stream, which we pass through untouched.
  #abortedOr(err: unknown, what: string, signal?: AbortSignal): unknown {
    if (err instanceof StoreError) return err;
    if (
      signal?.aborted || (err instanceof Error && err.name === "AbortError")
    ) {
      return new StoreError(
        "aborted",
        `Cancelled: ${what} on ${this.describe()}.`,
        { cause: err },
      );
    }
    return err;
  }

}

// ---------------------------------------------------------------- helpers

/** Wrap a response body: fail it if no bytes arrive for `idleMs`, and cancel
 * it when `signal` aborts. Each chunk is handed over (release.ts): fetch reads
 * into a fresh 64 KiB buffer per chunk, and a stage that copies the chunk out
 * (streamParts, hashStream) frees it at once instead of leaving 1 GiB of
 * garbage to V8's next collection (bench/copy/RESULTS.md).
 * With `byteStream`, the wrapper is a readable byte stream that passes each
 * reader's buffer down to fetch's body (a BYOB read of the socket into it):
 * a reader that reuses one buffer makes no garbage at all. A default reader
 * of it gets 64 KiB chunks, not marked as handed over. */
function guardBody(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  signal: AbortSignal | undefined,
  stalled: (why: string) => Error,
  byteStream = false,
): ReadableStream<Uint8Array> {
  const byob = byteStream ? byobReaderOf(body) : null;
  const reader = byob ?? body.getReader();
  let onAbort: (() => void) | undefined;
  const cleanup = () => {
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  };
  const start = (controller: { error(e: unknown): void }) => {
    if (signal) {
      onAbort = () => {
        controller.error(signal.reason);
        reader.cancel(signal.reason).catch(() => {});
      };
      signal.addEventListener("abort", onAbort, { once: true });
    }
  };
  /** The next read of the body, failed when no bytes come for idleMs. */
  const timed = async <T>(read: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        read,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(stalled(`stalled (no data for ${idleMs} ms)`)),
            idleMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  const fail = (controller: { error(e: unknown): void }, err: unknown) => {
    cleanup();
    reader.cancel(err).catch(() => {});
    controller.error(
      err instanceof TypeError ? stalled(`was interrupted (${err.message})`) : err,
    );
  };
  const cancel = (reason: unknown) => {
    cleanup();
    return reader.cancel(reason);
  };
  if (byob) {
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: 64 * 1024, // what fetch reads per chunk for a default reader
      start,
      async pull(controller) {
        const req = controller.byobRequest!; // always set: autoAllocateChunkSize
        const view = req.view!;
        try {
          // fetch transfers the buffer it reads into: answer with the view it returns.
          const r = await timed(byob.read(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)));
          if (r.done) {
            cleanup();
            controller.close();
          }
          if (r.value) req.respondWithNewView(r.value);
          else if (!r.done) throw new TypeError("the body returned no bytes for a read");
        } catch (err) {
          fail(controller, err);
        }
      },
      cancel,
    });
  }
  const chunks = reader as ReadableStreamDefaultReader<Uint8Array>;
  return new ReadableStream<Uint8Array>({
    start,
    async pull(controller) {
      try {
        const r = await timed(chunks.read());
        if (r.done) {
          cleanup();
          controller.close();
        } else controller.enqueue(handOverChunk(r.value)); // a stage that copies it out frees it (release.ts)
      } catch (err) {
        fail(controller, err);
      }
    },
    cancel,
  }, { highWaterMark: 0 });
}

/** A BYOB reader of `body`, or null when it is not a byte stream. */
function byobReaderOf(body: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | null {
  try {
    return body.getReader({ mode: "byob" });
  } catch {
    return null;
  }
}

function md5Base64(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("base64");
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ type: "bytes", start: (c) => c.close() });
}

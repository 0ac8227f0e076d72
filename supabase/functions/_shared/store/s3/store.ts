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
 * `node:crypto` for incremental hashing).
 *
 * @module
 */

import { AwsClient } from "aws4fetch";
import { createHash } from "node:crypto";
import { escapeXml } from "../text/mod.ts";
import {
  DEFAULT_RETRY,
  describeFailure,
  RetriesExhaustedError,
  retry,
  type RetryOptions,
  TransientError,
} from "./retry.ts";
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
} from "./types.ts";

/** Smallest part S3 accepts (except the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Most parts one multipart upload may have. */
export const MAX_PARTS = 10_000;

/** Everything an {@link S3Store} needs. Validate untrusted input with
 * `openStore` in mod.ts, which builds this. */
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
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 4;
const THROTTLE_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequests",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestTimeout", // a 400, but S3 means "you were too slow sending; retry"
  "InternalError",
  "ServiceUnavailable",
]);

/** What a request is doing, for error messages. */
interface Op {
  /** e.g. "PUT", "UploadPart 3", "ListObjectsV2". */
  name: string;
  /** Object key (relative to the store prefix), if any. */
  key?: string;
}

/** A store in one bucket (and optional prefix) of an S3-compatible service. */
export class S3Store implements Store {
  readonly #cfg: Required<Omit<S3StoreConfig, "retry">> & {
    retry: Required<RetryOptions>;
  };
  readonly #client: AwsClient;
  readonly #base: string;

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
    // retries: 0 — aws4fetch's own retry loop would hide failures from ours.
    this.#client = new AwsClient({
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      region: config.region,
      service: "s3",
      retries: 0,
    });
    this.#base = `${config.endpoint.replace(/\/+$/, "")}/${
      encodeURIComponent(config.bucket)
    }`;
  }

  describe(): string {
    const c = this.#cfg;
    return `s3://${c.bucket}/${c.prefix} at ${
      redactUrl(c.endpoint)
    } (region ${c.region})`;
  }

  // ------------------------------------------------------------------ put

  async put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts: PutOptions = {},
  ): Promise<StoredObject> {
    validatePut(key, opts);
    const parts = body instanceof Uint8Array
      ? sliceParts(body, this.#cfg.partSize)
      : streamParts(body, this.#cfg.partSize, opts.signal);
    try {
      const first = await parts.next();
      if (first.done || first.value.last) {
        return await this.#putSingle(
          key,
          first.done ? new Uint8Array(0) : first.value.bytes,
          opts,
        );
      }
      return await this.#putMultipart(key, first.value.bytes, parts, opts);
    } catch (err) {
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
    this.#checkExpected(key, sha256, opts);
    await this.#send({ name: "PutObject", key }, {
      method: "PUT",
      key,
      body: bytes,
      payloadSha256: sha256,
      headers: {
        "content-type": opts.contentType ?? "application/octet-stream",
        "x-amz-meta-sha256": sha256,
      },
      signal: opts.signal,
    });
    // A 200 to a PUT whose payload hash the server checked is the service's
    // own durability confirmation; no extra HEAD needed.
    return { key, size: bytes.byteLength, sha256, lastModified: new Date() };
  }

  async #putMultipart(
    key: string,
    firstPart: Uint8Array,
    rest: AsyncGenerator<Part>,
    opts: PutOptions,
  ): Promise<StoredObject> {
    const { concurrency, partSize } = this.#cfg;
    const contentType = opts.contentType ?? "application/octet-stream";
    const initXml = await this.#send({ name: "CreateMultipartUpload", key }, {
      method: "POST",
      key,
      query: { uploads: "" },
      headers: {
        "content-type": contentType,
        ...(opts.sha256 ? { "x-amz-meta-sha256": opts.sha256 } : {}),
      },
      signal: opts.signal,
      read: "text",
    });
    const uploadId = xmlText(initXml, "UploadId");
    if (!uploadId) {
      throw new StoreError(
        "failed",
        `S3 CreateMultipartUpload for ${
          this.#where(key)
        } returned no UploadId; is ${redactUrl(this.#cfg.endpoint)} really S3?`,
      );
    }

    // One failing part cancels the others instead of letting them run on.
    const stop = new AbortController();
    const signal = opts.signal
      ? AbortSignal.any([opts.signal, stop.signal])
      : stop.signal;
    const etags: string[] = [];
    const inflight = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    const hash = createHash("sha256");
    let size = 0;
    let partNumber = 0;
    let completed = false;

    const launch = (bytes: Uint8Array) => {
      partNumber++;
      if (partNumber > MAX_PARTS) {
        throw new StoreError(
          "config",
          `Object ${
            this.#where(key)
          } needs more than ${MAX_PARTS} parts of ${partSize} bytes: raise the S3 part size.`,
        );
      }
      hash.update(bytes);
      size += bytes.byteLength;
      const n = partNumber;
      const p = this.#uploadPart(key, uploadId, n, bytes, signal).then(
        (etag) => void (etags[n - 1] = etag),
        (err) => {
          failure ??= { err };
          stop.abort(err);
        },
      );
      const tracked = p.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
    };

    try {
      launch(firstPart);
      for (;;) {
        // Bounded memory: read the next part only when a slot is free.
        while (inflight.size >= concurrency) await Promise.race(inflight);
        if (failure) break;
        const next = await rest.next();
        if (next.done) break;
        launch(next.value.bytes);
      }
      await Promise.all(inflight);
      if (failure) throw failure.err;
      opts.signal?.throwIfAborted();

      const sha256 = hash.digest("hex");
      this.#checkExpected(key, sha256, opts);
      await this.#completeMultipart(key, uploadId, etags, size, opts.signal);
      completed = true;
      if (!opts.sha256) {
        await this.#attachSha(key, sha256, contentType, opts.signal);
      }
      return await this.#confirm(key, size, sha256, opts.signal);
    } catch (err) {
      stop.abort(err);
      await Promise.allSettled(inflight);
      if (completed) {
        // Visible but unconfirmed (or without its sha256): a failed put
        // should leave nothing that looks like a finished object.
        await this.delete(key).catch(() => {});
      } else {
        await this.#abortMultipart(key, uploadId);
      }
      throw err;
    }
  }

  async #uploadPart(
    key: string,
    uploadId: string,
    n: number,
    bytes: Uint8Array,
    signal: AbortSignal,
  ): Promise<string> {
    const sha = sha256Hex(bytes);
    const res = await this.#send({ name: `UploadPart ${n}`, key }, {
      method: "PUT",
      key,
      query: { partNumber: String(n), uploadId },
      body: bytes,
      payloadSha256: sha,
      signal,
      read: "headers",
    });
    const etag = res.get("etag");
    if (!etag) {
      throw new StoreError(
        "failed",
        `S3 UploadPart ${n} for ${this.#where(key)} returned no ETag.`,
      );
    }
    return etag;
  }

  async #completeMultipart(
    key: string,
    uploadId: string,
    etags: string[],
    size: number,
    signal?: AbortSignal,
  ) {
    const xml = "<CompleteMultipartUpload>" +
      etags.map((etag, i) =>
        `<Part><PartNumber>${i + 1}</PartNumber><ETag>${
          escapeXml(etag)
        }</ETag></Part>`
      ).join("") +
      "</CompleteMultipartUpload>";
    const body = new TextEncoder().encode(xml);
    try {
      const text = await this.#send({ name: "CompleteMultipartUpload", key }, {
        method: "POST",
        key,
        query: { uploadId },
        body,
        payloadSha256: sha256Hex(body),
        headers: { "content-type": "application/xml" },
        signal,
        read: "text",
      });
      // S3 may answer 200 and report the failure in the body.
      if (/<Error>/.test(text)) {
        throw this.#errorFromXml(200, text, {
          name: "CompleteMultipartUpload",
          key,
        });
      }
      // Note: RGW's ETag in this response is not reliable; #confirm HEADs.
    } catch (err) {
      // A retried Complete whose first attempt succeeded sees NoSuchUpload.
      if (err instanceof StoreError && err.serviceCode === "NoSuchUpload") {
        const info = await this.head(key, { signal });
        if (info && info.size === size) return;
      }
      throw err;
    }
  }

  // S3 fixes user metadata at CreateMultipartUpload, before the hash of a
  // stream is known; rewrite it in place (servers copy by reference or fast).
  async #attachSha(
    key: string,
    sha256: string,
    contentType: string,
    signal?: AbortSignal,
  ) {
    const source = `/${this.#cfg.bucket}/${
      encodeKeyPath(this.#cfg.prefix + key)
    }`;
    const text = await this.#send({ name: "CopyObject (set sha256)", key }, {
      method: "PUT",
      key,
      headers: {
        "x-amz-copy-source": source,
        "x-amz-metadata-directive": "REPLACE",
        "x-amz-meta-sha256": sha256,
        "content-type": contentType,
      },
      signal,
      read: "text",
    });
    if (/<Error>/.test(text)) {
      throw this.#errorFromXml(200, text, {
        name: "CopyObject (set sha256)",
        key,
      });
    }
  }

  async #confirm(
    key: string,
    size: number,
    sha256: string,
    signal?: AbortSignal,
  ): Promise<StoredObject> {
    const info = await this.head(key, { signal });
    if (!info) {
      throw new StoreError(
        "integrity",
        `S3 reported ${
          this.#where(key)
        } stored, but a HEAD right after finds nothing; the service may be eventually consistent or misbehaving.`,
      );
    }
    if (info.size !== size || info.sha256 !== sha256) {
      throw new StoreError(
        "integrity",
        `S3 stored ${this.#where(key)} as ${info.size} bytes (sha256 ${
          info.sha256 ?? "unknown"
        }) but ${size} bytes (sha256 ${sha256}) were sent; do not trust this object.`,
      );
    }
    return { key, size, sha256, lastModified: info.lastModified };
  }

  async #abortMultipart(key: string, uploadId: string): Promise<void> {
    // Best effort and deliberately not tied to the caller's (maybe aborted)
    // signal: a leaked upload keeps its parts billed until a lifecycle rule.
    try {
      await this.#send({ name: "AbortMultipartUpload", key }, {
        method: "DELETE",
        key,
        query: { uploadId },
        okStatus: [200, 204, 404],
        // The store is likely unhealthy right now; don't double the wait.
        attempts: Math.min(2, this.#cfg.retry.attempts),
      });
    } catch { /* the original failure matters more */ }
  }

  #checkExpected(key: string, sha256: string, opts: PutOptions) {
    if (opts.sha256 !== undefined && opts.sha256 !== sha256) {
      throw new StoreError(
        "integrity",
        `put(${
          JSON.stringify(key)
        }): body sha256 ${sha256} does not match the expected ${opts.sha256}; nothing was stored.`,
      );
    }
  }

  // ------------------------------------------------------------------ reads

  async get(
    key: string,
    opts: ReadOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    validateKey(key);
    try {
      const res = await this.#send({ name: "GetObject", key }, {
        method: "GET",
        key,
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
            `Reading ${this.#where(key)} from S3 ${why}; retry the read.`,
          ),
      );
    } catch (err) {
      throw this.#abortedOr(err, `GET ${JSON.stringify(key)}`, opts.signal);
    }
  }

  async getBytes(key: string, opts: ReadOptions = {}): Promise<Uint8Array> {
    validateKey(key);
    try {
      return await this.#send({ name: "GetObject", key }, {
        method: "GET",
        key,
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
      const h = await this.#send({ name: "HeadObject", key }, {
        method: "HEAD",
        key,
        signal: opts.signal,
        read: "headers",
        okStatus: [200, 404],
      });
      if (h.get("x-lifeboat-status") === "404") return null;
      const size = Number(h.get("content-length"));
      const sha = h.get("x-amz-meta-sha256")?.toLowerCase();
      const lm = h.get("last-modified");
      return {
        key,
        size: Number.isFinite(size) ? size : 0,
        ...(sha && isSha256Hex(sha) ? { sha256: sha } : {}),
        ...(lm ? { lastModified: new Date(lm) } : {}),
      };
    } catch (err) {
      throw this.#abortedOr(err, `HEAD ${JSON.stringify(key)}`, opts.signal);
    }
  }

  async *list(prefix = "", opts: ReadOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const full = this.#cfg.prefix + prefix;
    let token: string | undefined;
    do {
      let xml: string;
      try {
        xml = await this.#send({ name: "ListObjectsV2" }, {
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

  async delete(key: string, opts: ReadOptions = {}): Promise<void> {
    validateKey(key);
    try {
      await this.#send({ name: "DeleteObject", key }, {
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

  // ------------------------------------------------------------------ HTTP

  /**
   * Sign and send one request with retries; resolve per `read` once the
   * status is acceptable. Non-retryable failures become {@link StoreError}s
   * with a hint; exhausted retries become code `unavailable`.
   */
  #send(op: Op, req: SendRequest & { read: "text" }): Promise<string>;
  #send(op: Op, req: SendRequest & { read: "bytes" }): Promise<Uint8Array>;
  #send(op: Op, req: SendRequest & { read: "headers" }): Promise<Headers>;
  #send(op: Op, req: SendRequest & { read: "response" }): Promise<Response>;
  #send(op: Op, req: SendRequest & { read?: undefined }): Promise<void>;
  async #send(op: Op, req: SendRequest): Promise<unknown> {
    const url = this.#url(req.key, req.query);
    const ok = req.okStatus ?? [200, 204];
    try {
      return await retry(async (signal) => {
        const headers: Record<string, string> = {
          ...req.headers,
          "x-amz-content-sha256": req.payloadSha256 ??
            (req.body ? "UNSIGNED-PAYLOAD" : EMPTY_SHA256),
        };
        const signed = await this.#client.sign(url, {
          method: req.method,
          headers,
        });
        // Send our own buffered body: a Request built around it could turn it
        // into a stream and lose Content-Length.
        const res = await fetch(url, {
          method: req.method,
          headers: signed.headers,
          body: req.body as BodyInit | undefined,
          signal,
        });
        if (!ok.includes(res.status)) {
          throw await this.#errorFrom(res, op, req);
        }
        switch (req.read) {
          case "text":
            return await res.text();
          case "bytes":
            return new Uint8Array(await res.arrayBuffer());
          case "headers": {
            await res.body?.cancel();
            const h = new Headers(res.headers);
            h.set("x-lifeboat-status", String(res.status));
            return h;
          }
          case "response":
            return res;
          default:
            await res.body?.cancel();
            return undefined;
        }
      }, {
        ...this.#cfg.retry,
        attempts: req.attempts ?? this.#cfg.retry.attempts,
        signal: req.signal,
      });
    } catch (err) {
      if (err instanceof RetriesExhaustedError) {
        throw new StoreError(
          "unavailable",
          this.#scrub(
            `S3 ${op.name} for ${
              this.#where(op.key)
            } failed ${err.attempts} times; last: ${
              describeFailure(err.cause)
            }. ` +
              `Check that ${
                redactUrl(this.#cfg.endpoint)
              } is up and reachable, then retry.`,
          ),
          {
            cause: err.cause,
            status: err.cause instanceof TransientError
              ? err.cause.status
              : undefined,
          },
        );
      }
      throw err;
    }
  }

  #url(
    key: string | undefined,
    query: Record<string, string> | undefined,
  ): string {
    let url = this.#base +
      (key === undefined ? "/" : `/${encodeKeyPath(this.#cfg.prefix + key)}`);
    if (query) {
      url += "?" +
        Object.entries(query).map(([k, v]) =>
          `${encodeRfc3986(k)}=${encodeRfc3986(v)}`
        ).join("&");
    }
    return url;
  }

  async #errorFrom(res: Response, op: Op, req: SendRequest): Promise<Error> {
    const text = req.method === "HEAD" ? "" : await res.text().catch(() => "");
    if (req.method === "HEAD") await res.body?.cancel().catch(() => {});
    const err = this.#errorFromXml(res.status, text, op);
    if (err instanceof TransientError) {
      const ra = Number(res.headers.get("retry-after"));
      if (Number.isFinite(ra) && ra > 0) {
        return new TransientError(err.message, {
          status: res.status,
          retryAfterMs: ra * 1000,
        });
      }
    }
    return err;
  }

  #errorFromXml(status: number, xml: string, op: Op): Error {
    const code = xmlText(xml, "Code") ?? "";
    const serverMsg = xmlText(xml, "Message") ?? "";
    const what = `${code || "(no error code)"}${
      serverMsg ? ` (${serverMsg})` : ""
    }`;
    const bucket = this.#cfg.bucket;
    const head = `S3 ${op.name} for ${
      this.#where(op.key)
    } returned ${status} ${what}`;
    if (status >= 500 || status === 429 || THROTTLE_CODES.has(code)) {
      return new TransientError(this.#scrub(`${status} ${what}`), { status });
    }
    const fail = (c: StoreError["code"], hint: string) =>
      new StoreError(c, this.#scrub(`${head}: ${hint}`), {
        status,
        serviceCode: code || undefined,
      });
    switch (code) {
      case "InvalidAccessKeyId":
        return fail(
          "auth",
          "check LIFEBOAT_S3_ACCESS_KEY_ID (the service does not know this key).",
        );
      case "SignatureDoesNotMatch":
        return fail(
          "auth",
          "check LIFEBOAT_S3_SECRET_ACCESS_KEY, and that LIFEBOAT_S3_REGION is the service's region.",
        );
      case "AccessDenied":
      case "AllAccessDisabled":
        return fail(
          "auth",
          `the credentials lack permission for bucket '${bucket}'; grant it or use other keys.`,
        );
      case "RequestTimeTooSkewed":
        return fail(
          "auth",
          "this machine's clock is off; sync it (NTP) and retry.",
        );
      case "AuthorizationHeaderMalformed":
      case "AuthorizationQueryParametersError":
        return fail(
          "auth",
          "check LIFEBOAT_S3_REGION and the access key format.",
        );
      case "NoSuchBucket":
        return fail(
          "no_bucket",
          `create bucket '${bucket}' at ${
            redactUrl(this.#cfg.endpoint)
          }, or fix the bucket in the s3:// URL.`,
        );
      case "NoSuchKey":
        return fail("not_found", "no such object.");
      case "NoSuchUpload":
        return fail(
          "failed",
          "the multipart upload vanished (aborted or expired); retry the put.",
        );
      case "EntityTooLarge":
      case "InvalidPart":
      case "InvalidPartOrder":
      case "EntityTooSmall":
        return fail(
          "failed",
          "the service rejected the upload's part layout; try a different S3 part size.",
        );
      case "XAmzContentSHA256Mismatch":
      case "BadDigest":
        return fail(
          "integrity",
          "the bytes were corrupted in transit; retry the put.",
        );
    }
    if (status === 401 || status === 403) {
      return fail(
        "auth",
        "check LIFEBOAT_S3_ACCESS_KEY_ID, LIFEBOAT_S3_SECRET_ACCESS_KEY and LIFEBOAT_S3_REGION, and the key's permissions.",
      );
    }
    if (status === 404) {
      return op.key === undefined
        ? fail(
          "no_bucket",
          `create bucket '${bucket}' at ${
            redactUrl(this.#cfg.endpoint)
          }, or fix the s3:// URL.`,
        )
        : fail("not_found", "no such object.");
    }
    if (status === 411) {
      return fail(
        "failed",
        "the request lacked Content-Length; this is a Lifeboat bug, please report it.",
      );
    }
    return fail("failed", "see the service's message above.");
  }

  #where(key?: string): string {
    return `s3://${this.#cfg.bucket}/${this.#cfg.prefix}${key ?? ""}`;
  }

  // Network failures and timeouts never get here (#send turns exhausted
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

  // Server messages are echoed into errors; make sure credentials never are.
  #scrub(message: string): string {
    let out = message;
    for (const secret of [this.#cfg.secretAccessKey, this.#cfg.accessKeyId]) {
      if (secret) out = out.split(secret).join("***");
    }
    return out;
  }
}

interface SendRequest {
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  /** Object key relative to the store prefix; absent for bucket requests. */
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** sha256 hex of `body`, sent as x-amz-content-sha256 so the server
   * verifies the payload. */
  payloadSha256?: string;
  signal?: AbortSignal;
  read?: "text" | "bytes" | "headers" | "response";
  okStatus?: number[];
  /** Override the configured number of attempts. */
  attempts?: number;
}

const EMPTY_SHA256 =
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// ---------------------------------------------------------------- parts

interface Part {
  bytes: Uint8Array;
  /** No more data follows this part. */
  last: boolean;
}

async function* sliceParts(
  body: Uint8Array,
  partSize: number,
): AsyncGenerator<Part> {
  if (body.byteLength === 0) {
    yield { bytes: body, last: true };
    return;
  }
  for (let off = 0; off < body.byteLength; off += partSize) {
    const end = Math.min(off + partSize, body.byteLength);
    yield { bytes: body.subarray(off, end), last: end === body.byteLength };
  }
}

/** Cut a stream into parts of exactly `partSize` bytes (the last may be
 * shorter), holding at most one part plus one source chunk in memory. When
 * `signal` aborts, the source is cancelled and the generator throws (a
 * cancelled source must never look like a short, complete one). */
async function* streamParts(
  stream: ReadableStream<Uint8Array>,
  partSize: number,
  signal?: AbortSignal,
): AsyncGenerator<Part> {
  const reader = stream.getReader();
  let done = false;
  let carry: Uint8Array | undefined;
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const nextChunk = async (): Promise<Uint8Array | undefined> => {
      if (carry) {
        const c = carry;
        carry = undefined;
        return c;
      }
      for (;;) {
        signal?.throwIfAborted();
        const r = await reader.read();
        signal?.throwIfAborted();
        if (r.done) return undefined;
        if (r.value.byteLength > 0) return r.value;
      }
    };
    for (;;) {
      const buf = new Uint8Array(partSize);
      let filled = 0;
      while (filled < partSize) {
        const chunk = await nextChunk();
        if (!chunk) break;
        const take = Math.min(chunk.byteLength, partSize - filled);
        buf.set(chunk.subarray(0, take), filled);
        filled += take;
        if (take < chunk.byteLength) carry = chunk.subarray(take);
      }
      // Peek so the consumer knows whether this part is the last one.
      if (filled === partSize && !carry) carry = await nextChunk();
      const last = !carry;
      if (last) done = true; // the source is drained: nothing to cancel
      if (filled > 0 || last) yield { bytes: buf.subarray(0, filled), last };
      if (last) return;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!done) await reader.cancel(new Error("upload stopped")).catch(() => {});
    reader.releaseLock();
  }
}

// ---------------------------------------------------------------- helpers

/** Wrap a response body: fail it if no bytes arrive for `idleMs`, and cancel
 * it when `signal` aborts. */
function guardBody(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  signal: AbortSignal | undefined,
  stalled: (why: string) => Error,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let onAbort: (() => void) | undefined;
  const cleanup = () => {
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (signal) {
        onAbort = () => {
          controller.error(signal.reason);
          reader.cancel(signal.reason).catch(() => {});
        };
        signal.addEventListener("abort", onAbort, { once: true });
      }
    },
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const r = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(stalled(`stalled (no data for ${idleMs} ms)`)),
              idleMs,
            );
          }),
        ]);
        if (r.done) {
          cleanup();
          controller.close();
        } else controller.enqueue(r.value);
      } catch (err) {
        cleanup();
        reader.cancel(err).catch(() => {});
        controller.error(
          err instanceof TypeError
            ? stalled(`was interrupted (${err.message})`)
            : err,
        );
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      cleanup();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** Percent-encode each `/`-separated segment of a key. */
export function encodeKeyPath(key: string): string {
  return key.split("/").map(encodeRfc3986).join("/");
}

function unescapeXml(s: string): string {
  return s.replace(
    /&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g,
    (_, e: string) => {
      switch (e) {
        case "amp":
          return "&";
        case "lt":
          return "<";
        case "gt":
          return ">";
        case "quot":
          return '"';
        case "apos":
          return "'";
        default:
          return String.fromCodePoint(
            e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10),
          );
      }
    },
  );
}

// S3 replies are small, flat and machine-generated: a full XML parser (none
// is built into Deno or the Edge runtime) would buy nothing here.
function xmlText(xml: string, tag: string): string | undefined {
  const m = xml.match(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`));
  return m ? unescapeXml(m[1]) : undefined;
}

function xmlBlocks(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))]
    .map((m) => m[1]);
}

/** Drop any userinfo from a URL before showing it. */
function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    return "(invalid endpoint URL)";
  }
}

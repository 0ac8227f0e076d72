/**
 * The HTTP side of the S3 driver: one bucket (and key prefix) of an
 * S3-compatible service, addressed with path-style URLs, every request
 * signed with SigV4 (aws4fetch) and retried with backoff. Failures become
 * {@link StoreError}s that say what to fix (credentials are scrubbed from
 * every message).
 * @module
 */
import { AwsClient } from "aws4fetch";
import { createHash } from "node:crypto";
import {
  describeFailure,
  RetriesExhaustedError,
  retry,
  type RetryOptions,
  TransientError,
} from "../retry.ts";
import { StoreError } from "../types.ts";
import { xmlText } from "./xml.ts";
import { S3_ENV } from "./options.ts";
import { sendBytes } from "../send_bytes.ts";

/** Where and as whom an {@link S3Client} sends. */
export interface S3ClientConfig {
  endpoint: string;
  region: string;
  bucket: string;
  /** Key prefix inside the bucket: `""` or ending in `/`. */
  prefix: string;
  accessKeyId: string;
  secretAccessKey: string;
  retry: Required<RetryOptions>;
}

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
export interface Op {
  /** e.g. "PUT", "UploadPart 3", "ListObjectsV2". */
  name: string;
  /** Object key (relative to the store prefix), if any. */
  key?: string;
}

/** Signs, sends and retries requests to one bucket and prefix. */
export class S3Client {
  readonly #cfg: S3ClientConfig;
  readonly #aws: AwsClient;
  readonly #base: string;

  constructor(config: S3ClientConfig) {
    this.#cfg = config;
    // retries: 0 — aws4fetch's own retry loop would hide failures from ours.
    this.#aws = new AwsClient({
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

  /** The bucket, prefix and endpoint (without userinfo), for people. */
  describe(): string {
    const c = this.#cfg;
    return `s3://${c.bucket}/${c.prefix} at ${
      redactUrl(c.endpoint)
    } (region ${c.region})`;
  }

  /** The `x-amz-copy-source` of an object of this store. */
  copySource(key: string): string {
    return `/${this.#cfg.bucket}/${encodeKeyPath(this.#cfg.prefix + key)}`;
  }

  /** The endpoint without userinfo, for messages. */
  endpointForPeople(): string {
    return redactUrl(this.#cfg.endpoint);
  }

  /**
   * Sign and send one request with retries; resolve per `read` once the
   * status is acceptable. Non-retryable failures become {@link StoreError}s
   * with a hint; exhausted retries become code `unavailable`.
   */
  send(op: Op, req: SendRequest & { read: "text" }): Promise<string>;
  send(op: Op, req: SendRequest & { read: "bytes" }): Promise<Uint8Array>;
  send(op: Op, req: SendRequest & { read: "headers" }): Promise<Headers>;
  send(op: Op, req: SendRequest & { read: "response" }): Promise<Response>;
  send(op: Op, req: SendRequest & { read?: undefined }): Promise<void>;
  async send(op: Op, req: SendRequest): Promise<unknown> {
    const url = this.#url(req.key, req.query);
    const ok = req.okStatus ?? [200, 204];
    try {
      return await retry(async (signal) => {
        const headers: Record<string, string> = {
          ...req.headers,
          "x-amz-content-sha256": req.payloadSha256 ??
            (req.body ? "UNSIGNED-PAYLOAD" : EMPTY_SHA256),
        };
        const signed = await this.#aws.sign(url, {
          method: req.method,
          headers,
        });
        // A byte body goes through node:http, which sends it without the copy
        // fetch makes and leaves to V8's collector (send_bytes.ts); a Request
        // built around it could also turn it into a stream and lose
        // Content-Length.
        const res = req.body
          ? await sendBytes(url, { method: req.method, headers: signed.headers, body: req.body, signal })
          : await fetch(url, { method: req.method, headers: signed.headers, signal });
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
          this.scrub(
            `S3 ${op.name} for ${
              this.where(op.key)
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
    const err = this.errorFromXml(res.status, text, op);
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

  errorFromXml(status: number, xml: string, op: Op): Error {
    const code = xmlText(xml, "Code") ?? "";
    const serverMsg = xmlText(xml, "Message") ?? "";
    const what = `${code || "(no error code)"}${
      serverMsg ? ` (${serverMsg})` : ""
    }`;
    const bucket = this.#cfg.bucket;
    const head = `S3 ${op.name} for ${
      this.where(op.key)
    } returned ${status} ${what}`;
    if (status >= 500 || status === 429 || THROTTLE_CODES.has(code)) {
      return new TransientError(this.scrub(`${status} ${what}`), { status });
    }
    const fail = (c: StoreError["code"], hint: string) =>
      new StoreError(c, this.scrub(`${head}: ${hint}`), {
        status,
        serviceCode: code || undefined,
      });
    switch (code) {
      case "InvalidAccessKeyId":
        return fail(
          "auth",
          `check ${S3_ENV.accessKeyId} (the service does not know this key).`,
        );
      case "SignatureDoesNotMatch":
        return fail(
          "auth",
          `check ${S3_ENV.secretAccessKey}, and that ${S3_ENV.region} is the service's region.`,
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
          `check ${S3_ENV.region} and the access key format.`,
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
      case "InvalidObjectState":
        // GetObject of an object in GLACIER / DEEP_ARCHIVE (or tiered to the cloud) that was
        // not restored: offline until a RestoreObject completes.
        return new StoreError(
          "archived",
          this.scrub(
            `${this.where(op.key)} is in an archive storage class (offline): restore it first: ` +
              `aws s3api restore-object --bucket ${bucket} --key ${this.#cfg.prefix}${op.key ?? ""} ` +
              `--restore-request '{"Days":7,"GlacierJobParameters":{"Tier":"Standard"}}' ` +
              `(hours for GLACIER, up to 48 hours for DEEP_ARCHIVE; Expedited is faster and costs more; restores are billed per GB), then retry.`,
          ),
          { status, serviceCode: code },
        );
      case "InvalidStorageClass":
        return fail(
          "config",
          `the service does not offer this storage class; set ${S3_ENV.storageClass} to one it offers (RGW: a placement storage class).`,
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
        `check ${S3_ENV.accessKeyId}, ${S3_ENV.secretAccessKey} and ${S3_ENV.region}, and the key's permissions.`,
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

  /** The object (or the store itself) as an s3:// URL, for messages. */
  where(key?: string): string {
    return `s3://${this.#cfg.bucket}/${this.#cfg.prefix}${key ?? ""}`;
  }

  // Server messages are echoed into errors; make sure credentials never are.
  scrub(message: string): string {
    let out = message;
    for (const secret of [this.#cfg.secretAccessKey, this.#cfg.accessKeyId]) {
      if (secret) out = out.split(secret).join("***");
    }
    return out;
  }
}

/** One request: method, key (relative to the store prefix), query, body and what to read. */
export interface SendRequest {
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

/** Lowercase hex sha256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
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

/** Drop any userinfo from a URL before showing it. */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    return "(invalid endpoint URL)";
  }
}

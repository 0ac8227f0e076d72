/**
 * Multipart uploads: streams and bodies larger than one part go up as
 * fixed-size parts, several in flight, buffering only those parts
 * (memory ≈ (concurrency + 1) × partSize). The object's sha256 is known only
 * at the end, so it is attached by an in-place CopyObject (metadata REPLACE)
 * unless the caller passed it up front. The put resolves only after a HEAD
 * confirms size and sha256; a failed upload is aborted, and an object that
 * was completed but not confirmed is deleted.
 * @module
 */
import { createHash } from "node:crypto";
import { expectSha256 } from "../expect.ts";
import { type ObjectInfo, type PutOptions, type ReadOptions, type StoredObject, StoreError } from "../types.ts";
import { type S3Client, sha256Hex } from "./client.ts";
import { MAX_PARTS } from "./options.ts";
import { completeMultipartXml, xmlText } from "./xml.ts";
import { sendCopy } from "./copy.ts";
import { type Part, uploadChunks } from "../parts.ts";

/** What a multipart upload needs from the store it writes into. */
export interface MultipartTarget {
  client: S3Client;
  partSize: number;
  /** Parts uploaded in parallel. */
  concurrency: number;
  /** The configured attempts per request (an abort makes at most 2). */
  retryAttempts: number;
  /** Storage class and retention headers for CreateMultipartUpload (lock.ts). */
  writeHeaders: Record<string, string>;
  /** A write-once (locked) store: no in-place metadata rewrite, which would add a second
   * locked version; parts carry Content-MD5, as S3 requires under a retention. */
  writeOnce: boolean;
  head(key: string, opts?: ReadOptions): Promise<ObjectInfo | null>;
  delete(key: string): Promise<void>;
}

export async function putMultipart(
  t: MultipartTarget,
  key: string,
  firstPart: Part,
  rest: AsyncGenerator<Part>,
  opts: PutOptions,
): Promise<StoredObject> {
  const { concurrency, partSize } = t;
  const contentType = opts.contentType ?? "application/octet-stream";
  const initXml = await t.client.send({ name: "CreateMultipartUpload", key }, {
    method: "POST",
    key,
    query: { uploads: "" },
    headers: {
      "content-type": contentType,
      ...(opts.sha256 ? { "x-amz-meta-sha256": opts.sha256 } : {}),
      ...t.writeHeaders,
    },
    signal: opts.signal,
    read: "text",
  });
  const uploadId = xmlText(initXml, "UploadId");
  if (!uploadId) {
    throw new StoreError(
      "failed",
      `S3 CreateMultipartUpload for ${
        t.client.where(key)
      } returned no UploadId; is ${t.client.endpointForPeople()} really S3?`,
    );
  }

  const etags: string[] = [];
  let completed = false;
  try {
    const { sha256, size } = await uploadChunks(firstPart, rest, {
      concurrency,
      maxChunks: MAX_PARTS,
      tooMany: () =>
        new StoreError(
          "config",
          `Object ${t.client.where(key)} needs more than ${MAX_PARTS} parts of ${partSize} bytes: raise the S3 part size.`,
        ),
      upload: async (bytes, i, signal) => void (etags[i] = await uploadPart(t, key, uploadId, i + 1, bytes, signal)),
      signal: opts.signal,
    });
    expectSha256(key, sha256, opts);
    await completeMultipart(t, key, uploadId, etags, size, opts.signal);
    completed = true;
    if (!opts.sha256 && !t.writeOnce) {
      await attachSha(t, key, sha256, contentType, opts.signal);
    }
    // A write-once upload has no sha256 metadata to compare unless the caller gave it; the
    // size is checked, and each part's bytes were checked by the service (x-amz-content-sha256).
    return await confirm(t, key, size, sha256, opts.signal, t.writeOnce && !opts.sha256);
  } catch (err) {
    if (completed) {
      // Visible but unconfirmed (or without its sha256): a failed put
      // should leave nothing that looks like a finished object.
      await t.delete(key).catch(() => {});
    } else {
      await abortMultipart(t, key, uploadId);
    }
    throw err;
  }
}

async function uploadPart(
  t: MultipartTarget,
  key: string,
  uploadId: string,
  n: number,
  bytes: Uint8Array,
  signal: AbortSignal,
): Promise<string> {
  const sha = sha256Hex(bytes);
  const res = await t.client.send({ name: `UploadPart ${n}`, key }, {
    method: "PUT",
    key,
    query: { partNumber: String(n), uploadId },
    body: bytes,
    payloadSha256: sha,
    ...(t.writeOnce ? { headers: { "content-md5": createHash("md5").update(bytes).digest("base64") } } : {}),
    signal,
    read: "headers",
  });
  const etag = res.get("etag");
  if (!etag) {
    throw new StoreError(
      "failed",
      `S3 UploadPart ${n} for ${t.client.where(key)} returned no ETag.`,
    );
  }
  return etag;
}

async function completeMultipart(
  t: MultipartTarget,
  key: string,
  uploadId: string,
  etags: string[],
  size: number,
  signal?: AbortSignal,
) {
  const body = new TextEncoder().encode(completeMultipartXml(etags));
  try {
    const text = await t.client.send({ name: "CompleteMultipartUpload", key }, {
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
      throw t.client.errorFromXml(200, text, {
        name: "CompleteMultipartUpload",
        key,
      });
    }
    // Note: RGW's ETag in this response is not reliable; confirm() HEADs.
  } catch (err) {
    // A retried Complete whose first attempt succeeded sees NoSuchUpload.
    if (err instanceof StoreError && err.serviceCode === "NoSuchUpload") {
      const info = await t.head(key, { signal });
      if (info && info.size === size) return;
    }
    throw err;
  }
}

// S3 fixes user metadata at CreateMultipartUpload, before the hash of a
// stream is known; rewrite it in place (servers copy by reference or fast).
async function attachSha(
  t: MultipartTarget,
  key: string,
  sha256: string,
  contentType: string,
  signal?: AbortSignal,
) {
  await sendCopy(t.client, "CopyObject (set sha256)", key, key, {
    "x-amz-metadata-directive": "REPLACE",
    "x-amz-meta-sha256": sha256,
    "content-type": contentType,
    // A copy takes the bucket's default class unless told: keep the store's.
    ...t.writeHeaders,
  }, signal);
}

/** HEADs `key` and checks it holds `size` bytes with `sha256` (after a multipart upload or a copy). */
export async function confirm(
  t: Pick<MultipartTarget, "client" | "head">,
  key: string,
  size: number,
  sha256: string,
  signal?: AbortSignal,
  sizeOnly = false,
): Promise<StoredObject> {
  const info = await t.head(key, { signal });
  if (!info) {
    throw new StoreError(
      "integrity",
      `S3 reported ${
        t.client.where(key)
      } stored, but a HEAD right after finds nothing; the service may be eventually consistent or misbehaving.`,
    );
  }
  if (info.size !== size || (!sizeOnly && info.sha256 !== sha256)) {
    throw new StoreError(
      "integrity",
      `S3 stored ${t.client.where(key)} as ${info.size} bytes (sha256 ${
        info.sha256 ?? "unknown"
      }) but ${size} bytes (sha256 ${sha256}) were sent; do not trust this object.`,
    );
  }
  return { key, size, sha256, lastModified: info.lastModified };
}

async function abortMultipart(t: MultipartTarget, key: string, uploadId: string): Promise<void> {
  // Best effort and deliberately not tied to the caller's (maybe aborted)
  // signal: a leaked upload keeps its parts billed until a lifecycle rule.
  try {
    await t.client.send({ name: "AbortMultipartUpload", key }, {
      method: "DELETE",
      key,
      query: { uploadId },
      okStatus: [200, 204, 404],
      // The store is likely unhealthy right now; don't double the wait.
      attempts: Math.min(2, t.retryAttempts),
    });
  } catch { /* the original failure matters more */ }
}

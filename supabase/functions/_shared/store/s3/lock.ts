/**
 * S3 Object Lock and storage classes: the headers every write carries, the lock state a HEAD
 * reports, the bucket check, and the versions a write-once store reads and deletes.
 *
 * A bucket with Object Lock is versioned. An attacker holding the exporter's keys can still
 * add versions (an overwrite) and delete markers (a plain DELETE), but cannot remove or change
 * a locked version. So a store with a lock is write-once: it reads each key's FIRST version
 * (the one the backup wrote, whatever was put on top), lists keys whose latest version is a
 * delete marker, and deletes a key by deleting every version, which the service refuses
 * while the lock holds.
 * @module
 */
import type { ObjectLock } from "../types.ts";
import { StoreError } from "../types.ts";
import type { S3Client } from "./client.ts";
import { S3_ENV } from "./options.ts";
import { xmlText } from "./xml.ts";

/** What a store writes with. */
export interface WritePolicy {
  storageClass?: string;
  objectLock?: { mode: "COMPLIANCE" | "GOVERNANCE"; days: number };
}

/** Headers for PutObject, CreateMultipartUpload and CopyObject: class and retention. */
export function writeHeaders(p: WritePolicy, now = new Date()): Record<string, string> {
  const h: Record<string, string> = {};
  if (p.storageClass) h["x-amz-storage-class"] = p.storageClass;
  if (p.objectLock) {
    const until = new Date(now.getTime() + p.objectLock.days * 86_400_000);
    h["x-amz-object-lock-mode"] = p.objectLock.mode;
    h["x-amz-object-lock-retain-until-date"] = until.toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  return h;
}

/** The lock a HEAD reports, if any. */
export function lockFrom(h: Headers): ObjectLock | undefined {
  const mode = h.get("x-amz-object-lock-mode")?.toUpperCase();
  const until = h.get("x-amz-object-lock-retain-until-date");
  if (!until || (mode !== "COMPLIANCE" && mode !== "GOVERNANCE")) return undefined;
  const retainUntil = new Date(until);
  if (Number.isNaN(retainUntil.getTime())) return undefined;
  return { mode: mode === "COMPLIANCE" ? "compliance" : "governance", retainUntil };
}

/** Throws {@link StoreError} `config` unless the bucket has Object Lock enabled. */
export async function requireBucketLock(client: S3Client, bucket: string, signal?: AbortSignal): Promise<void> {
  let xml: string;
  try {
    xml = await client.send({ name: "GetObjectLockConfiguration" }, {
      method: "GET",
      query: { "object-lock": "" },
      signal,
      read: "text",
    });
  } catch (err) {
    if (err instanceof StoreError && (err.status === 404 || /ObjectLockConfiguration/.test(err.serviceCode ?? ""))) {
      xml = "";
    } else throw err;
  }
  if (xmlText(xml, "ObjectLockEnabled") !== "Enabled") {
    throw new StoreError(
      "config",
      `Bucket '${bucket}' has no S3 Object Lock, but this store requires one (${S3_ENV.objectLockMode}): create a bucket with object lock enabled (x-amz-bucket-object-lock-enabled: true; it cannot be turned on later) and use it, or unset ${S3_ENV.objectLockMode} and ${S3_ENV.objectLockDays}.`,
    );
  }
}

/** One stored version of a key (or a delete marker). */
export interface Version {
  key: string;
  versionId: string;
  size: number;
  lastModified?: Date;
  deleteMarker: boolean;
}

/**
 * Every version and delete marker of the keys under `fullPrefix`, in the service's order
 * (by key, then newest first), page by page.
 */
export async function* listVersions(client: S3Client, fullPrefix: string, pageSize: number, signal?: AbortSignal): AsyncGenerator<Version> {
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const xml = await client.send({ name: "ListObjectVersions" }, {
      method: "GET",
      query: {
        versions: "",
        prefix: fullPrefix,
        "max-keys": String(pageSize),
        ...(keyMarker !== undefined ? { "key-marker": keyMarker } : {}),
        ...(versionMarker !== undefined ? { "version-id-marker": versionMarker } : {}),
      },
      signal,
      read: "text",
    });
    // Versions and delete markers interleave in the reply; keep the service's order.
    for (const m of xml.matchAll(/<(Version|DeleteMarker)>([\s\S]*?)<\/\1>/g)) {
      const block = m[2];
      const lm = xmlText(block, "LastModified");
      yield {
        key: xmlText(block, "Key") ?? "",
        versionId: xmlText(block, "VersionId") ?? "null",
        size: Number(xmlText(block, "Size") ?? 0),
        ...(lm ? { lastModified: new Date(lm) } : {}),
        deleteMarker: m[1] === "DeleteMarker",
      };
    }
    if (xmlText(xml, "IsTruncated") !== "true") return;
    keyMarker = xmlText(xml, "NextKeyMarker");
    versionMarker = xmlText(xml, "NextVersionIdMarker");
    if (keyMarker === undefined) return;
  }
}

/** The first version ever written under `fullKey` (not a delete marker), or null. */
export async function firstVersion(client: S3Client, fullKey: string, signal?: AbortSignal): Promise<Version | null> {
  let first: Version | null = null;
  for await (const v of listVersions(client, fullKey, 1000, signal)) {
    // Newest first within a key: the last real version seen is the oldest.
    if (v.key === fullKey && !v.deleteMarker) first = v;
  }
  return first;
}

/** Each key under `fullPrefix` once, with its first version, sorted by key. */
export async function* firstVersions(client: S3Client, fullPrefix: string, pageSize: number, signal?: AbortSignal): AsyncGenerator<Version> {
  let current: Version | null = null;
  for await (const v of listVersions(client, fullPrefix, pageSize, signal)) {
    if (current && v.key !== current.key) {
      yield current;
      current = null;
    }
    if (!v.deleteMarker) current = v;
  }
  if (current) yield current;
}

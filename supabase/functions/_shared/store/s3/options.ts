/**
 * The S3 driver's settings: the {@link S3Options} a caller may pass, the environment variables
 * they fall back to ({@link S3_ENV}), and their validation into an {@link S3StoreConfig}.
 * @module
 */
import { z } from "zod";
import type { DriverOpenOptions } from "../driver.ts";
import type { RetryOptions } from "../retry.ts";
import { refuseDotSegments, StoreError, validatePrefix } from "../types.ts";
import type { S3StoreConfig } from "./store.ts";

/** S3 connection settings; any left out are read from the environment. */
export interface S3Options {
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Multipart part size in bytes (≥ 5 MiB, default 8 MiB). */
  partSize?: number;
  /** Parts uploaded in parallel (default 4). */
  concurrency?: number;
  retry?: RetryOptions;
  /** Fail a `get` stream that delivers nothing for this long. */
  readIdleTimeoutMs?: number;
  /** Keys per listing request (default 1000). */
  listPageSize?: number;
  /** `x-amz-storage-class` of every object written (e.g. `STANDARD_IA`, `GLACIER_IR`,
   * `DEEP_ARCHIVE`); default: the bucket's (STANDARD). */
  storageClass?: string;
  /** S3 Object Lock retention for every object written: mode and days from the write. The
   * bucket must have Object Lock enabled (checked by `preflight`). With a lock the store is
   * write-once: reads use each key's first version, deletes remove every version. */
  objectLock?: { mode: "COMPLIANCE" | "GOVERNANCE"; days: number };
}

/** The environment variables an s3:// store reads its connection settings from. */
export const S3_ENV = {
  endpoint: "LIFEBOAT_S3_ENDPOINT",
  region: "LIFEBOAT_S3_REGION",
  accessKeyId: "LIFEBOAT_S3_ACCESS_KEY_ID",
  secretAccessKey: "LIFEBOAT_S3_SECRET_ACCESS_KEY",
  storageClass: "LIFEBOAT_S3_STORAGE_CLASS",
  objectLockMode: "LIFEBOAT_S3_OBJECT_LOCK_MODE",
  objectLockDays: "LIFEBOAT_S3_OBJECT_LOCK_DAYS",
} as const;

/** Smallest part S3 accepts (except the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Largest part S3 accepts. */
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** Most parts one multipart upload may have. */
export const MAX_PARTS = 10_000;

const retrySchema = z.object({
  attempts: z.number().int().min(1).max(20).optional(),
  baseDelayMs: z.number().min(0).max(60_000).optional(),
  maxDelayMs: z.number().min(0).max(300_000).optional(),
  timeoutMs: z.number().min(1).max(3_600_000).optional(),
}).strict();

const s3Schema = z.object({
  endpoint: z.string({ error: "is missing" }).trim().min(1, "is missing").pipe(
    z.url({
      protocol: /^https?$/,
      error: "must be an http:// or https:// URL",
    }),
  ).refine((u) => !/[?#]/.test(u), "must not contain a query or fragment"),
  region: z.string().trim().min(1, "is empty").regex(
    /^[a-z0-9-]+$/,
    "must look like us-east-1",
  ).default("us-east-1"),
  accessKeyId: z.string({ error: "is missing" }).trim().min(1, "is missing"),
  secretAccessKey: z.string({ error: "is missing" }).min(1, "is missing"),
  partSize: z.number().int().min(MIN_PART_SIZE, "must be at least 5 MiB").max(
    MAX_PART_SIZE,
    "must be at most 5 GiB",
  )
    .optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  retry: retrySchema.optional(),
  readIdleTimeoutMs: z.number().min(1).optional(),
  listPageSize: z.number().int().min(1).max(1000).optional(),
  storageClass: z.string().trim().toUpperCase().regex(
    /^[A-Z][A-Z0-9_]{1,31}$/,
    "must be an S3 storage class such as STANDARD_IA, GLACIER_IR or DEEP_ARCHIVE",
  ).optional(),
  objectLockMode: z.string().trim().toUpperCase().pipe(
    z.enum(["COMPLIANCE", "GOVERNANCE"], { error: "must be COMPLIANCE or GOVERNANCE" }),
  ).optional(),
  objectLockDays: z.coerce.number({ error: "must be a number of days" }).int("must be whole days").min(
    1,
    "must be at least 1",
  ).max(36500).optional(),
});

// S3 bucket naming rules (the subset every service accepts).
const bucketSchema = z.string().regex(
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
  "must be 3-63 lowercase letters, digits, dots or hyphens",
);

/**
 * The {@link S3StoreConfig} for an `s3://bucket/prefix` location: connection settings from
 * `options.settings` (`openStore`'s `s3` option), else from the environment ({@link S3_ENV});
 * part size and concurrency from the settings, else from `options.tuning`. Throws
 * {@link StoreError} `config` naming what to set; never echoes values (secrets).
 */
export function s3ConfigFrom(raw: string, options: DriverOpenOptions<S3Options>): S3StoreConfig {
  refuseDotSegments(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StoreError(
      "config",
      `Cannot parse store URL ${
        JSON.stringify(raw)
      }; expected s3://bucket/prefix.`,
    );
  }
  if (url.username || url.password) {
    throw new StoreError(
      "config",
      `Do not put credentials in the s3:// URL; set ${S3_ENV.accessKeyId} and ${S3_ENV.secretAccessKey} instead.`,
    );
  }
  if (url.search || url.hash) {
    throw new StoreError(
      "config",
      `Store URL s3://${url.host}${url.pathname} must not have a query or fragment.`,
    );
  }
  const bucket = bucketSchema.safeParse(url.host);
  if (!bucket.success) {
    throw new StoreError(
      "config",
      `Bucket '${url.host}' in the store URL ${
        bucket.error.issues[0].message
      }.`,
    );
  }
  let prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "");
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
  try {
    validatePrefix(prefix);
  } catch (err) {
    throw new StoreError(
      "config",
      `Prefix in the store URL is invalid: ${(err as Error).message}`,
    );
  }

  const env = options.env ?? denoEnv();
  const given = options.settings ?? {};
  const input = {
    partSize: options.tuning?.uploadChunkBytes,
    concurrency: options.tuning?.uploadConcurrency,
    ...definedOnly(given),
    endpoint: given.endpoint ?? env[S3_ENV.endpoint],
    region: given.region ?? (env[S3_ENV.region] || undefined),
    accessKeyId: given.accessKeyId ?? env[S3_ENV.accessKeyId],
    secretAccessKey: given.secretAccessKey ?? env[S3_ENV.secretAccessKey],
    storageClass: given.storageClass ?? (env[S3_ENV.storageClass] || undefined),
    objectLockMode: given.objectLock?.mode ?? (env[S3_ENV.objectLockMode] || undefined),
    objectLockDays: given.objectLock?.days ?? (env[S3_ENV.objectLockDays] || undefined),
    objectLock: undefined,
  };
  const parsed = s3Schema.safeParse(input);
  if (!parsed.success) {
    // Name the setting and where it comes from; never echo values (secrets).
    const problems = parsed.error.issues.map((i) => {
      const field = String(i.path[0] ?? "settings");
      const envName = (S3_ENV as Record<string, string>)[field];
      const where = envName
        ? `${envName} (or options.s3.${field})`
        : `options.s3.${i.path.join(".")}`;
      return `${where} ${i.message}`;
    });
    throw new StoreError(
      "config",
      `S3 store s3://${bucket.data}/${prefix} is misconfigured: ${
        problems.join("; ")
      }.`,
    );
  }
  const { objectLockMode, objectLockDays, ...rest } = parsed.data;
  if ((objectLockMode === undefined) !== (objectLockDays === undefined)) {
    throw new StoreError(
      "config",
      `S3 store s3://${bucket.data}/${prefix} has half an object lock: set both ${S3_ENV.objectLockMode} (COMPLIANCE or GOVERNANCE) and ${S3_ENV.objectLockDays} (or options.s3.objectLock), or neither.`,
    );
  }
  return {
    ...rest,
    bucket: bucket.data,
    prefix,
    ...(objectLockMode ? { objectLock: { mode: objectLockMode, days: objectLockDays! } } : {}),
  };
}

// An explicit `undefined` in the settings must not hide the tuning's value.
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function denoEnv(): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const g = globalThis as {
    Deno?: { env?: { get(name: string): string | undefined } };
  };
  for (const name of Object.values(S3_ENV)) {
    try {
      out[name] = g.Deno?.env?.get(name);
    } catch {
      // No --allow-env: behave as unset; the error names the variable.
    }
  }
  return out;
}

/**
 * Open a backup {@link Store} from a location string.
 *
 * ```ts
 * import { openStore } from "./mod.ts";
 * const local = openStore("/var/backups/lifeboat");        // or file:///var/...
 * const remote = openStore("s3://lifeboat/prod/");         // endpoint etc. from env
 * await remote.put("db/2024-06-01.dump", bytes);
 * ```
 *
 * For `s3://bucket/prefix` URLs the connection settings come from
 * `options.s3`, falling back to the environment: `LIFEBOAT_S3_ENDPOINT`,
 * `LIFEBOAT_S3_REGION` (default `us-east-1`), `LIFEBOAT_S3_ACCESS_KEY_ID`,
 * `LIFEBOAT_S3_SECRET_ACCESS_KEY`.
 *
 * @module
 */

import { z } from "zod";
import { FsStore } from "./fs.ts";
import { MIN_PART_SIZE, S3Store } from "./s3.ts";
import type { RetryOptions } from "./retry.ts";
import { type Store, StoreError, validatePrefix } from "./types.ts";

export type {
  ObjectInfo,
  PutOptions,
  ReadOptions,
  Store,
  StoredObject,
  StoreErrorCode,
} from "./types.ts";
export { StoreError, validateKey, validatePrefix } from "./types.ts";
export { FsStore, type FsStoreOptions } from "./fs.ts";
export { S3Store, type S3StoreConfig } from "./s3.ts";
export type { RetryOptions } from "./retry.ts";

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
}

/** Options for {@link openStore}. */
export interface OpenStoreOptions {
  s3?: S3Options;
  /** fsync local writes (default true). */
  fsync?: boolean;
  /** Where to read `LIFEBOAT_S3_*` from; defaults to `Deno.env` when
   * available. Pass `{}` to ignore the environment. */
  env?: Record<string, string | undefined>;
}

/** Environment variables {@link openStore} reads for S3 stores. */
export const S3_ENV = {
  endpoint: "LIFEBOAT_S3_ENDPOINT",
  region: "LIFEBOAT_S3_REGION",
  accessKeyId: "LIFEBOAT_S3_ACCESS_KEY_ID",
  secretAccessKey: "LIFEBOAT_S3_SECRET_ACCESS_KEY",
} as const;

const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;

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
});

// S3 bucket naming rules (the subset every service accepts).
const bucketSchema = z.string().regex(
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
  "must be 3-63 lowercase letters, digits, dots or hyphens",
);

/**
 * Open the store at `spec`:
 * - a local path (`./backups`, `/var/backups`) or `file:///path`: {@link FsStore};
 * - `s3://bucket` or `s3://bucket/some/prefix`: {@link S3Store}.
 *
 * Throws {@link StoreError} with code `config` (saying what to set) when the
 * location or settings are invalid. Does no I/O.
 */
export function openStore(
  spec: string | URL,
  options: OpenStoreOptions = {},
): Store {
  const raw = String(spec).trim();
  if (raw === "") {
    throw new StoreError(
      "config",
      "Store location is empty: pass a directory, file:///path or s3://bucket/prefix.",
    );
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(raw)?.[1]
    ?.toLowerCase();
  if (scheme === undefined) return new FsStore(raw, { fsync: options.fsync });
  if (scheme === "file") {
    return new FsStore(filePath(raw), { fsync: options.fsync });
  }
  if (scheme === "s3") return openS3(raw, options);
  throw new StoreError(
    "config",
    `Unsupported store location scheme '${scheme}://': use a directory path, file:///path or s3://bucket/prefix.`,
  );
}

function filePath(raw: string): string {
  const url = new URL(raw);
  if (url.host !== "" && url.host !== "localhost") {
    throw new StoreError(
      "config",
      `file:// URLs must name a local path (file:///path), not host '${url.host}'.`,
    );
  }
  const path = decodeURIComponent(url.pathname);
  if (path === "" || path === "/") {
    throw new StoreError(
      "config",
      "Refusing to use the file system root as a store; name a directory.",
    );
  }
  return path;
}

function openS3(raw: string, options: OpenStoreOptions): Store {
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
  const given = options.s3 ?? {};
  const input = {
    ...given,
    endpoint: given.endpoint ?? env[S3_ENV.endpoint],
    region: given.region ?? (env[S3_ENV.region] || undefined),
    accessKeyId: given.accessKeyId ?? env[S3_ENV.accessKeyId],
    secretAccessKey: given.secretAccessKey ?? env[S3_ENV.secretAccessKey],
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
  return new S3Store({ ...parsed.data, bucket: bucket.data, prefix });
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

/**
 * The Azure Blob driver's settings: the locations it accepts, the {@link AzureOptions} a caller
 * may pass, the environment variables they fall back to ({@link AZURE_ENV}) and their
 * validation into an {@link AzureStoreConfig}.
 *
 * Locations:
 * - `az://account/container/prefix`: the account's public endpoint
 *   `https://account.blob.core.windows.net`, or `LIFEBOAT_AZURE_ENDPOINT` when set (Azurite
 *   and other emulators: their path-style account URL, e.g.
 *   `http://127.0.0.1:10000/devstoreaccount1`);
 * - `https://account.blob.core.windows.net/container/prefix`: the same, spelled as Azure does.
 *
 * Credentials never come from the URL (a logged location would leak them): an account key
 * (Shared Key) in `LIFEBOAT_AZURE_ACCOUNT_KEY` or a SAS token in `LIFEBOAT_AZURE_SAS_TOKEN`.
 * @module
 */
import { z } from "zod";
import type { DriverOpenOptions } from "../driver.ts";
import type { RetryOptions } from "../retry.ts";
import { refuseDotSegments, StoreError, validatePrefix } from "../types.ts";

/** The access tiers of a block blob. Archive blobs are offline until rehydrated. */
export const ACCESS_TIERS = ["Hot", "Cool", "Cold", "Archive"] as const;
/** One of {@link ACCESS_TIERS}. */
export type AccessTier = (typeof ACCESS_TIERS)[number];

/** Azure connection and write settings; any left out are read from the environment. */
export interface AzureOptions {
  /** The account's blob service URL; default `https://<account>.blob.core.windows.net`. */
  endpoint?: string;
  /** Shared Key: the account's base64 access key. */
  accountKey?: string;
  /** A SAS token (`sv=…&sig=…`, with or without the leading `?`). */
  sasToken?: string;
  /** Tier every blob written gets (default: the account's default tier). */
  accessTier?: AccessTier;
  /** Days of time-based immutability every blob written gets (version-level WORM); 0 or
   * absent: none. */
  immutabilityDays?: number;
  /** `Unlocked` (the default; the policy can still be shortened or removed by the account
   * owner) or `Locked` (it cannot be, by anyone, until it expires). */
  immutabilityMode?: "Unlocked" | "Locked";
  /** Block size in bytes for large objects (default 8 MiB, at most 100 MiB). Bodies up to
   * this size go up in one Put Blob. */
  blockSize?: number;
  /** Blocks uploaded in parallel (default 4). */
  concurrency?: number;
  retry?: RetryOptions;
}

/** The environment variables an az:// store reads its settings from. */
export const AZURE_ENV = {
  endpoint: "LIFEBOAT_AZURE_ENDPOINT",
  accountKey: "LIFEBOAT_AZURE_ACCOUNT_KEY",
  sasToken: "LIFEBOAT_AZURE_SAS_TOKEN",
  accessTier: "LIFEBOAT_AZURE_ACCESS_TIER",
  immutabilityDays: "LIFEBOAT_AZURE_IMMUTABILITY_DAYS",
  immutabilityMode: "LIFEBOAT_AZURE_IMMUTABILITY_MODE",
} as const;

/** Everything an AzureStore needs (validated). */
export interface AzureStoreConfig {
  account: string;
  container: string;
  /** Key prefix inside the container: `""` or ending in `/`. */
  prefix: string;
  /** The account's blob service URL, without a trailing `/` or query. */
  endpoint: string;
  credential: { kind: "sharedKey"; accountKey: string } | { kind: "sas"; sasToken: string };
  accessTier?: AccessTier;
  immutabilityDays: number;
  immutabilityMode: "Unlocked" | "Locked";
  blockSize: number;
  concurrency: number;
  retry?: RetryOptions;
}

/** Largest block Put Block accepts that we use (the service allows 4000 MiB; memory is ours). */
const MAX_BLOCK_SIZE = 100 * 1024 * 1024;
const MIN_BLOCK_SIZE = 1024 * 1024;
/** Most blocks one blob may have. */
export const MAX_BLOCKS = 50_000;

const settingsSchema = z.object({
  endpoint: z.string().trim().pipe(
    z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }),
  ).refine((u) => !/[?#]/.test(u), "must not contain a query or fragment (put a SAS token in LIFEBOAT_AZURE_SAS_TOKEN)")
    .optional(),
  accountKey: z.string().trim().regex(/^[A-Za-z0-9+/=]+$/, "must be the base64 account key").optional(),
  sasToken: z.string().trim().transform((s) => s.replace(/^\?/, "")).refine(
    (s) => /(^|&)sig=/.test(s) && /(^|&)sv=/.test(s),
    "must be a SAS token with sv= and sig=",
  ).optional(),
  accessTier: z.string().trim().transform((s) => s.charAt(0).toUpperCase() + s.slice(1).toLowerCase()).pipe(
    z.enum(ACCESS_TIERS, { error: `must be one of ${ACCESS_TIERS.join(", ")}` }),
  ).optional(),
  immutabilityDays: z.coerce.number({ error: "must be a number of days" }).int("must be whole days").min(0).max(
    36500,
  ).optional(),
  immutabilityMode: z.string().trim().transform((s) => s.charAt(0).toUpperCase() + s.slice(1).toLowerCase()).pipe(
    z.enum(["Unlocked", "Locked"], { error: "must be Unlocked or Locked" }),
  ).optional(),
  blockSize: z.number().int().min(MIN_BLOCK_SIZE, "must be at least 1 MiB").max(MAX_BLOCK_SIZE, "must be at most 100 MiB")
    .optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  retry: z.object({
    attempts: z.number().int().min(1).max(20).optional(),
    baseDelayMs: z.number().min(0).max(60_000).optional(),
    maxDelayMs: z.number().min(0).max(300_000).optional(),
    timeoutMs: z.number().min(1).max(3_600_000).optional(),
  }).strict().optional(),
});

// Azure's rules: accounts 3-24 lowercase letters and digits; containers 3-63 lowercase
// letters, digits and single hyphens, starting and ending with a letter or digit.
const ACCOUNT = /^[a-z0-9]{3,24}$/;
const CONTAINER = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const PUBLIC_HOST = /^([a-z0-9]{3,24})\.blob\.core\.windows\.net$/;

/**
 * The {@link AzureStoreConfig} for an `az://account/container/prefix` or
 * `https://account.blob.core.windows.net/container/prefix` location. Throws {@link StoreError}
 * `config` naming what to set; never echoes secrets.
 */
export function azureConfigFrom(raw: string, options: DriverOpenOptions<AzureOptions>): AzureStoreConfig {
  refuseDotSegments(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StoreError("config", `Cannot parse store URL ${JSON.stringify(raw)}; expected az://account/container/prefix.`);
  }
  if (url.username || url.password) {
    throw new StoreError(
      "config",
      `Do not put credentials in the Azure store URL; set ${AZURE_ENV.accountKey} or ${AZURE_ENV.sasToken} instead.`,
    );
  }
  const where = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.search || url.hash) {
    throw new StoreError(
      "config",
      `Store URL ${where} must not have a query or fragment: a SAS token goes in ${AZURE_ENV.sasToken}, never in a URL that gets logged.`,
    );
  }
  let account: string;
  let path: string;
  if (url.protocol === "az:") {
    account = url.host;
    path = url.pathname;
  } else {
    const m = PUBLIC_HOST.exec(url.hostname);
    if (url.protocol !== "https:" || !m || url.port !== "") {
      throw new StoreError(
        "config",
        `Store URL ${where} is not an Azure Blob endpoint: use https://<account>.blob.core.windows.net/<container>/<prefix> or az://<account>/<container>/<prefix> (with ${AZURE_ENV.endpoint} for an emulator).`,
      );
    }
    account = m[1];
    path = url.pathname;
  }
  if (!ACCOUNT.test(account)) {
    throw new StoreError("config", `Azure storage account '${account}' in ${where} must be 3-24 lowercase letters or digits.`);
  }
  const segments = decodeURIComponent(path).replace(/^\/+/, "").split("/");
  const container = segments.shift() ?? "";
  if (!CONTAINER.test(container)) {
    throw new StoreError(
      "config",
      container === ""
        ? `Store URL ${where} names no container: use az://${account}/<container>/<prefix>.`
        : `Azure container '${container}' in ${where} must be 3-63 lowercase letters, digits or single hyphens.`,
    );
  }
  let prefix = segments.filter((s, i) => s !== "" || i < segments.length - 1).join("/");
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
  try {
    validatePrefix(prefix);
  } catch (err) {
    throw new StoreError("config", `Prefix in the store URL is invalid: ${(err as Error).message}`);
  }

  const env = options.env ?? denoEnv();
  const given = options.settings ?? {};
  const fromEnv = (k: keyof typeof AZURE_ENV) => {
    const v = env[AZURE_ENV[k]];
    return v === undefined || v === "" ? undefined : v;
  };
  const input = {
    blockSize: options.tuning?.uploadChunkBytes,
    concurrency: options.tuning?.uploadConcurrency,
    ...definedOnly(given),
    endpoint: given.endpoint ?? fromEnv("endpoint"),
    accountKey: given.accountKey ?? fromEnv("accountKey"),
    sasToken: given.sasToken ?? fromEnv("sasToken"),
    accessTier: given.accessTier ?? fromEnv("accessTier"),
    immutabilityDays: given.immutabilityDays ?? fromEnv("immutabilityDays"),
    immutabilityMode: given.immutabilityMode ?? fromEnv("immutabilityMode"),
  };
  const store = `az://${account}/${container}/${prefix}`;
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const field = String(i.path[0] ?? "settings");
      const envName = (AZURE_ENV as Record<string, string>)[field];
      return `${envName ? `${envName} (or options.az.${field})` : `options.az.${i.path.join(".")}`} ${i.message}`;
    });
    throw new StoreError("config", `Azure store ${store} is misconfigured: ${problems.join("; ")}.`);
  }
  const s = parsed.data;
  if (s.accountKey && s.sasToken) {
    throw new StoreError(
      "config",
      `Azure store ${store} has both ${AZURE_ENV.accountKey} and ${AZURE_ENV.sasToken}: set only one.`,
    );
  }
  if (!s.accountKey && !s.sasToken) {
    throw new StoreError(
      "config",
      `Azure store ${store} has no credentials: set ${AZURE_ENV.accountKey} (Shared Key) or ${AZURE_ENV.sasToken} (a SAS token with read, write, list and delete permissions).`,
    );
  }
  const endpoint = (s.endpoint ?? `https://${account}.blob.core.windows.net`).replace(/\/+$/, "");
  const endpointPath = new URL(endpoint).pathname.replace(/\/+$/, "");
  if (endpointPath !== "" && endpointPath !== `/${account}`) {
    throw new StoreError(
      "config",
      `${AZURE_ENV.endpoint} has the path '${endpointPath}', which is not the account '/${account}' of ${store}: an emulator's endpoint is http://host:port/<account>.`,
    );
  }
  return {
    account,
    container,
    prefix,
    endpoint,
    credential: s.accountKey ? { kind: "sharedKey", accountKey: s.accountKey } : { kind: "sas", sasToken: s.sasToken! },
    accessTier: s.accessTier,
    immutabilityDays: s.immutabilityDays ?? 0,
    immutabilityMode: s.immutabilityMode ?? "Unlocked",
    blockSize: s.blockSize ?? 8 * 1024 * 1024,
    concurrency: s.concurrency ?? 4,
    retry: s.retry,
  };
}

// An explicit `undefined` in the settings must not hide the tuning's value.
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function denoEnv(): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of Object.values(AZURE_ENV)) {
    try {
      out[name] = Deno.env.get(name);
    } catch {
      // No --allow-env: behave as unset; the error names the variable.
    }
  }
  return out;
}

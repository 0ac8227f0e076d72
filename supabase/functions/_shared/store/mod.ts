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
 * Each backend is a folder with a driver ({@link StoreDriver}: fs/, s3/), and {@link DRIVERS}
 * maps URL schemes to them; a location without a scheme is a local directory. A backend's own
 * settings are passed under its scheme (`{ s3: { endpoint } }`, `{ file: { fsync } }`), and
 * fall back to its environment variables (s3/options.ts: `LIFEBOAT_S3_ENDPOINT`,
 * `LIFEBOAT_S3_REGION` (default `us-east-1`), `LIFEBOAT_S3_ACCESS_KEY_ID`,
 * `LIFEBOAT_S3_SECRET_ACCESS_KEY`). `tuning` applies to any backend ({@link StoreTuning}).
 *
 * @module
 */

import type { DriverOpenOptions, StoreDriver, StoreTuning } from "./driver.ts";
import { fsDriver } from "./fs/mod.ts";
import { s3Driver } from "./s3/mod.ts";
import { azureDriver } from "./azure/mod.ts";
import { type Store, StoreError } from "./types.ts";

export type { ObjectInfo, PutOptions, ReadOptions, Store, StoredObject, StoreErrorCode } from "./types.ts";
export { refuseDotSegments, StoreError, validateKey, validatePrefix } from "./types.ts";
export { probeStore } from "./probe.ts";
export { copyWithinStore } from "./copy.ts";
export type { DriverOpenOptions, StoreDriver, StoreTuning } from "./driver.ts";
export { FsStore, type FsStoreOptions } from "./fs/mod.ts";
export { S3_ENV, type S3Options, S3Store, type S3StoreConfig } from "./s3/mod.ts";
export { ACCESS_TIERS, type AccessTier, AZURE_ENV, type AzureOptions, AzureStore } from "./azure/mod.ts";
export type { RetryOptions } from "./retry.ts";

/** The store backends by URL scheme (lowercase). Adding a backend: its folder and one line here. */
export const DRIVERS = {
  file: fsDriver,
  s3: s3Driver,
  az: azureDriver,
} as const;

/** Other spellings of a driver's scheme: Azure's own `https://<account>.blob.core.windows.net/…`
 * URLs (the driver refuses any other https:// host). */
const SCHEME_ALIASES: Record<string, keyof typeof DRIVERS> = { https: "az" };

/** The settings each backend takes, under its scheme. */
type DriverSettings = {
  [S in keyof typeof DRIVERS]?: (typeof DRIVERS)[S] extends StoreDriver<infer O> ? O : never;
};

/** Options for {@link openStore}. */
export type OpenStoreOptions = DriverSettings & {
  /** Upload tuning for any backend (see {@link StoreTuning}). */
  tuning?: StoreTuning;
  /** Where to read a backend's environment variables from; defaults to `Deno.env` when
   * available. Pass `{}` to ignore the environment. */
  env?: Record<string, string | undefined>;
};

/**
 * Open the store at `spec`:
 * - a local path (`./backups`, `/var/backups`) or `file:///path`: {@link FsStore};
 * - `s3://bucket` or `s3://bucket/some/prefix`: {@link S3Store};
 * - `az://account/container/prefix` or `https://account.blob.core.windows.net/container/prefix`:
 *   {@link AzureStore} (azure/options.ts: `LIFEBOAT_AZURE_ENDPOINT` for an emulator,
 *   `LIFEBOAT_AZURE_ACCOUNT_KEY` or `LIFEBOAT_AZURE_SAS_TOKEN`).
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
      "Store location is empty: pass a directory, file:///path, s3://bucket/prefix or az://account/container/prefix.",
    );
  }
  const written = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase() ?? "file";
  const scheme = (SCHEME_ALIASES[written] ?? written) as keyof typeof DRIVERS;
  if (!Object.hasOwn(DRIVERS, scheme)) {
    throw new StoreError(
      "config",
      `Unsupported store location scheme '${written}://': use a directory path, file:///path, s3://bucket/prefix or az://account/container/prefix.`,
    );
  }
  const driver = DRIVERS[scheme] as StoreDriver<unknown>;
  const open: DriverOpenOptions<unknown> = { settings: options[scheme], tuning: options.tuning, env: options.env };
  return driver.open(raw, open);
}

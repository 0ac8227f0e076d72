/**
 * The Azure Blob driver: `az://account/container/prefix` or
 * `https://account.blob.core.windows.net/container/prefix`, on Azure or Azurite.
 *
 * - store.ts: {@link AzureStore}, the {@link Store} (block blobs, tiers, immutability, reads);
 * - errors.ts: the SDK's errors as StoreErrors that say what to do (rehydrate an archived blob);
 * - options.ts: {@link AzureOptions}, the locations, the environment variables
 *   ({@link AZURE_ENV}) and validation.
 * @module
 */
import type { StoreDriver } from "../driver.ts";
import type { Store } from "../types.ts";
import { type AzureOptions, azureConfigFrom } from "./options.ts";
import { AzureStore } from "./store.ts";

export { AzureStore } from "./store.ts";
export { ACCESS_TIERS, type AccessTier, AZURE_ENV, type AzureOptions, type AzureStoreConfig } from "./options.ts";
export { rehydrateAdvice } from "./errors.ts";

/** Opens Azure Blob locations; settings from `openStore(…, { az })` or the environment. */
export const azureDriver: StoreDriver<AzureOptions> = {
  open: (location, options): Store => new AzureStore(azureConfigFrom(location, options)),
};

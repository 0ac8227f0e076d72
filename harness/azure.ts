/**
 * The stack's Azurite (scripts/stack/azurite.sh) for tests and benchmarks: whether it runs,
 * its settings for a CLI child, stores opened on it, and SAS tokens signed with its account key.
 * @module
 */
import {
  AccountSASPermissions,
  BlobServiceClient,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { type AzureOptions, openStore, type Store } from "../supabase/functions/_shared/store/mod.ts";
import { stackEnv } from "./stack.ts";

/** Whether the stack runs Azurite (scripts/test.sh --no-azure sets LIFEBOAT_SKIP_AZURE=1). */
export function hasAzure(): boolean {
  if (Deno.env.get("LIFEBOAT_SKIP_AZURE") === "1") return false;
  try {
    stackEnv("LIFEBOAT_AZURE_ENDPOINT");
    return true;
  } catch {
    return false;
  }
}

/** The stack's Azure settings (for CLI children), merged under `extra`. */
export function azureEnv(extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ["LIFEBOAT_AZURE_ENDPOINT", "LIFEBOAT_AZURE_ACCOUNT_KEY"]) out[k] = stackEnv(k);
  return { ...out, ...extra };
}

/** `az://<account>/<container>/<prefix>` on the stack's Azurite. */
export function azureUrl(prefix: string, container = stackEnv("LIFEBOAT_AZURE_CONTAINER")): string {
  return `az://${stackEnv("LIFEBOAT_AZURE_ACCOUNT")}/${container}/${prefix}`;
}

/** A store on the stack's Azurite under `prefix`, Shared Key unless `settings` say otherwise. */
export function azureStore(prefix: string, settings: AzureOptions = {}, container?: string): Store {
  return openStore(azureUrl(prefix, container), {
    az: { endpoint: stackEnv("LIFEBOAT_AZURE_ENDPOINT"), ...(settings.sasToken ? {} : { accountKey: stackEnv("LIFEBOAT_AZURE_ACCOUNT_KEY") }), ...settings },
    env: {},
  });
}

/** An account SAS for the blob service with `permissions` (e.g. "rwdlac"), valid for an hour. */
export function accountSas(permissions: string): string {
  const cred = new StorageSharedKeyCredential(stackEnv("LIFEBOAT_AZURE_ACCOUNT"), stackEnv("LIFEBOAT_AZURE_ACCOUNT_KEY"));
  return generateAccountSASQueryParameters({
    expiresOn: new Date(Date.now() + 3_600_000),
    permissions: AccountSASPermissions.parse(permissions),
    resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
    services: AccountSASServices.parse("b").toString(),
  }, cred).toString();
}

/** Sets the access tier of the blob `name` (the full blob name, prefix included) of the stack's
 * container, as an operator would with `az storage blob set-tier`. */
export async function setBlobTier(name: string, tier: "Hot" | "Cool" | "Cold" | "Archive"): Promise<void> {
  const cred = new StorageSharedKeyCredential(stackEnv("LIFEBOAT_AZURE_ACCOUNT"), stackEnv("LIFEBOAT_AZURE_ACCOUNT_KEY"));
  const service = new BlobServiceClient(stackEnv("LIFEBOAT_AZURE_ENDPOINT"), cred);
  await service.getContainerClient(stackEnv("LIFEBOAT_AZURE_CONTAINER")).getBlobClient(name).setAccessTier(tier);
}

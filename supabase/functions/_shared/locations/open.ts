/**
 * Opening a location's store with its credentials. A location names its credentials (never
 * holds them): the backup-copy function reads them from Vault, the CLI from the environment
 * variable `LIFEBOAT_SECRET_<NAME>`. The secret is JSON: the store settings for the location's
 * scheme (`{"accessKeyId": …, "secretAccessKey": …, "endpoint"?: …}` for s3://), or settings
 * under each scheme (`{"s3": {…}}`). A location without credentials uses its store's
 * environment (LIFEBOAT_S3_*).
 * @module
 */
import type { Sql } from "../db/mod.ts";
import { openStore, type OpenStoreOptions, type Store, type StoreTuning } from "../store/mod.ts";
import { type Location, LocationError } from "./config.ts";

/** Reads a named secret's text. */
export type SecretReader = (name: string) => Promise<string>;

/** Secrets from the environment: `LIFEBOAT_SECRET_<NAME>` (the name upper-cased). */
export function envSecrets(env: Record<string, string | undefined> = Deno.env.toObject()): SecretReader {
  return (name) => {
    const variable = `LIFEBOAT_SECRET_${name.toUpperCase()}`;
    const v = env[variable];
    if (!v) return Promise.reject(new LocationError(`the credentials secret '${name}' is not set: export ${variable}='{"accessKeyId":…,"secretAccessKey":…}'`));
    return Promise.resolve(v);
  };
}

/** Secrets from Vault, through `lifeboat.vault_secret()` (which says how to create a missing one). */
export function vaultSecrets(sql: Sql): SecretReader {
  return async (name) => {
    try {
      const rows = await sql`select lifeboat.vault_secret(${name}) as v`;
      return String(rows[0].v);
    } catch (err) {
      const missing = (err as { code?: string })?.code === "42704";
      throw new LocationError(missing
        ? `the credentials secret '${name}' is not in Vault: select vault.create_secret('{"accessKeyId":…,"secretAccessKey":…}', '${name}');`
        : `the credentials secret '${name}' could not be read from Vault`);
    }
  };
}

/** The URL scheme a location's store driver is registered under. */
function schemeOf(url: string): string {
  return /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase() ?? "file";
}

/**
 * The driver settings a location's own columns give: its storage class (S3) or access tier
 * (Azure), and its lock (S3 Object Lock mode and days; Azure time-based immutability, Locked for
 * compliance, Unlocked for governance).
 */
function locationSettings(loc: Location, scheme: string): Record<string, unknown> {
  if (scheme === "s3") {
    return {
      ...(loc.storage_class ? { storageClass: loc.storage_class } : {}),
      ...(loc.lock ? { objectLock: { mode: loc.lock.mode.toUpperCase(), days: loc.lock.days } } : {}),
    };
  }
  if (scheme === "az" || scheme === "https") {
    return {
      ...(loc.storage_class ? { accessTier: loc.storage_class } : {}),
      ...(loc.lock ? { immutabilityDays: loc.lock.days, immutabilityMode: loc.lock.mode === "compliance" ? "Locked" : "Unlocked" } : {}),
    };
  }
  return {};
}

/** Opens a location's store: its credentials (if it names any) and its class and lock as the driver's settings. */
export async function openLocation(
  loc: Location,
  secrets: SecretReader,
  options: { tuning?: StoreTuning; env?: Record<string, string | undefined> } = {},
): Promise<Store> {
  const open: OpenStoreOptions = { tuning: options.tuning, env: options.env };
  const scheme = schemeOf(loc.url);
  const driverKey = scheme === "https" ? "az" : scheme;
  const own = locationSettings(loc, scheme);
  if (loc.credentials) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await secrets(loc.credentials));
    } catch (err) {
      if (err instanceof LocationError) throw err;
      throw new LocationError(`location "${loc.name}": the credentials secret '${loc.credentials}' is not JSON`);
    }
    if (typeof parsed !== "object" || parsed === null) {
      throw new LocationError(`location "${loc.name}": the credentials secret '${loc.credentials}' must be a JSON object`);
    }
    const bySchema = parsed as Record<string, unknown>;
    Object.assign(open, driverKey in bySchema && typeof bySchema[driverKey] === "object" ? bySchema : { [driverKey]: parsed });
  }
  if (Object.keys(own).length > 0) {
    const settings = open as Record<string, unknown>;
    settings[driverKey] = { ...(settings[driverKey] as object ?? {}), ...own };
  }
  return openStore(loc.url, open);
}

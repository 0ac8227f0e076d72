/**
 * Azure Blob failures as {@link StoreError}s that say what to do next: the SDK's `RestError`
 * (HTTP status and the service's `x-ms-error-code`) mapped to a store error code, credentials
 * scrubbed from every message. An archived blob explains rehydration; a blob under an
 * immutability policy says it is locked.
 * @module
 */
import { describeFailure } from "../retry.ts";
import { StoreError } from "../types.ts";
import { AZURE_ENV } from "./options.ts";

/** What an error message may name about the store. */
export interface AzureErrorContext {
  /** The object (or the store) as an az:// URL. */
  where(key?: string): string;
  endpoint: string;
  container: string;
  auth: "sharedKey" | "sas";
  /** Values that must never appear in a message. */
  secrets: string[];
}

/** The rehydration advice for an archived blob (also used by verify and restore). */
export function rehydrateAdvice(where: string): string {
  return `${where} is in the Archive tier (offline): rehydrate first: set its tier to Hot or Cool ` +
    `(az storage blob set-tier --tier Hot --rehydrate-priority Standard, up to 15 hours; High ` +
    `priority is faster and costs more) or copy it to an online blob, then retry; ` +
    `rehydration is billed per GB read`;
}

/** Turns whatever the SDK threw into a {@link StoreError}. */
export function storeErrorFrom(err: unknown, what: string, key: string | undefined, ctx: AzureErrorContext): StoreError {
  const e = err as { statusCode?: number; code?: string; name?: string; message?: string; details?: { errorCode?: string } };
  const status = typeof e?.statusCode === "number" ? e.statusCode : undefined;
  const code = e?.details?.errorCode ?? (typeof e?.code === "string" ? e.code : undefined);
  const where = ctx.where(key);
  const scrub = (m: string) => {
    let out = m;
    for (const s of ctx.secrets) if (s) out = out.split(s).join("***");
    // A SAS signature in a URL the SDK echoed.
    return out.replace(/([?&]sig=)[^&\s"']+/g, "$1***");
  };
  const fail = (c: StoreError["code"], hint: string) =>
    new StoreError(c, scrub(`Azure ${what} on ${where} failed (${status ?? "no status"} ${code ?? ""}): ${hint}`), {
      status,
      serviceCode: code,
      cause: err,
    });
  const creds = ctx.auth === "sharedKey"
    ? `check ${AZURE_ENV.accountKey} (the account's access key)`
    : `check ${AZURE_ENV.sasToken} (its permissions r, w, l, d, its expiry and its IP range)`;
  switch (code) {
    case "BlobArchived":
    case "BlobBeingRehydrated":
      return new StoreError("archived", `${rehydrateAdvice(where)}.`, { status, serviceCode: code, cause: err });
    case "BlobNotFound":
      return fail("not_found", "no such object.");
    case "ContainerNotFound":
      return fail("no_bucket", `create container '${ctx.container}' in the account, or fix the container in the az:// URL.`);
    case "AuthenticationFailed":
    case "InvalidAuthenticationInfo":
      return fail("auth", `${creds}; the service rejected the signature.`);
    case "AuthorizationFailure":
    case "AuthorizationPermissionMismatch":
    case "AuthorizationResourceTypeMismatch":
    case "AuthorizationServiceMismatch":
    case "AuthorizationSourceIPMismatch":
    case "AuthorizationProtocolMismatch":
      return fail("auth", `${creds}: the credentials lack permission for this operation.`);
    case "BlobImmutableDueToPolicy":
    case "BlobImmutableDueToLegalHold":
      return fail("locked", "the blob is under an immutability policy or legal hold and cannot be changed or deleted until it expires.");
    case "Md5Mismatch":
    case "InvalidMd5":
    case "Crc64Mismatch":
      return fail("integrity", "the bytes were corrupted in transit; retry the put.");
    case "InvalidBlobTier":
      return fail("config", `the account rejects this access tier; set ${AZURE_ENV.accessTier} to one it supports.`);
    case "APINotImplemented":
      return fail(
        "config",
        `the service does not implement this operation (Azurite lacks some of Azure's APIs, such as immutability policies); use a real Azure account for it, or unset ${AZURE_ENV.immutabilityDays}.`,
      );
    case "InvalidHeaderValue":
      if (/immutab/i.test(e?.message ?? "")) {
        return fail(
          "config",
          `the container does not support immutability policies: enable version-level immutability on it, or unset ${AZURE_ENV.immutabilityDays}.`,
        );
      }
  }
  if (status === 401 || status === 403) return fail("auth", `${creds}.`);
  if (status === 404) {
    return key === undefined
      ? fail("no_bucket", `create container '${ctx.container}', or fix the az:// URL.`)
      : fail("not_found", "no such object.");
  }
  if (status === undefined || status >= 500 || status === 408 || status === 429) {
    // The SDK's retry policy already retried these.
    return new StoreError(
      "unavailable",
      scrub(`Azure ${what} on ${where} kept failing after retries: ${describeFailure(err)}. Check that ${ctx.endpoint} is up and reachable, then retry.`),
      { status, serviceCode: code, cause: err },
    );
  }
  return fail("failed", scrub(e?.message?.split("\n")[0] ?? "see the service's message."));
}

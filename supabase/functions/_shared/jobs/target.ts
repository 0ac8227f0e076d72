/**
 * The export target, opened and checked before a job is accepted: a location that does not
 * parse, a bucket that does not exist, credentials the store refuses or a directory this
 * function may not write to is a 409 that says what is wrong, not a job that holds the target
 * lock and makes no progress. A store that cannot be reached right now is left to the caller
 * (503: try again).
 * @module
 */
import { openStore, probeStore, type Store, StoreError } from "../store/mod.ts";
import { safeErrorMessage } from "./errors.ts";
import { JobError } from "./job_error.ts";

/** Why a store error makes the target unusable, in words safe to return. */
function targetProblem(err: StoreError): string {
  // Our own texts for locations and local directories name no secret; the store's others may name hosts.
  if (err.code === "config" || err.code === "invalid_key") return err.message;
  return safeErrorMessage(err);
}

/** Opens `target`; throws {@link JobError} 409 `target_unusable` when its location is invalid. */
export function openTarget(target: string, open: (t: string) => Store = (t) => openStore(t)): Store {
  try {
    return open(target);
  } catch (err) {
    if (err instanceof StoreError) {
      throw new JobError(409, "target_unusable", `export.target cannot be used: ${targetProblem(err)}`);
    }
    throw err;
  }
}

/** Checks `store` answers and may be written to; throws {@link JobError} 409 `target_unusable` when not. */
export async function checkTarget(store: Store): Promise<void> {
  try {
    await probeStore(store, `probe-${crypto.randomUUID()}/`);
  } catch (err) {
    if (err instanceof StoreError && err.code !== "unavailable" && err.code !== "aborted") {
      throw new JobError(409, "target_unusable", `export.target cannot be used: ${targetProblem(err)}`);
    }
    throw err;
  }
}

/**
 * How a restore phase stops the restore: it records an error check, then throws
 * {@link RestoreAbort}, which the engine turns into the report (never into an exception).
 * @module
 */
import { type Check, check } from "../checks.ts";

/** Stops the restore after its reason was recorded as a check. */
export class RestoreAbort extends Error {}

/** Records an error check and stops the restore. */
export function failCheck(checks: Check[], name: string, object: string, detail: string, remediation: string): never {
  checks.push(check(name, "error", object, detail, remediation));
  throw new RestoreAbort(detail);
}

// The assertion the store tests share: an operation fails with a StoreError of a given code
// whose message matches, and (when given) does not contain a secret.
import assert from "node:assert/strict";
import { StoreError } from "../../supabase/functions/_shared/store/mod.ts";

/** Awaits `p` (or calls it) and returns the StoreError it failed with; fails the test otherwise. */
export async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string, pattern: RegExp, secret?: string): Promise<StoreError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    assert.ok(err instanceof StoreError, `a StoreError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    if (secret) assert.ok(!err.message.includes(secret), "the message leaks no credential");
    return err;
  }
  assert.fail(`expected a StoreError ${code}`);
}

/**
 * The check every driver makes before it lets a put stand: the body's sha256 against the one
 * the caller expected (`PutOptions.sha256`).
 * @module
 */
import { type PutOptions, StoreError } from "./types.ts";

/** Throws {@link StoreError} `integrity` when `opts.sha256` is given and differs from `sha256`. */
export function expectSha256(key: string, sha256: string, opts: PutOptions): void {
  if (opts.sha256 !== undefined && opts.sha256 !== sha256) {
    throw new StoreError(
      "integrity",
      `put(${
        JSON.stringify(key)
      }): body sha256 ${sha256} does not match the expected ${opts.sha256}; nothing was stored.`,
    );
  }
}

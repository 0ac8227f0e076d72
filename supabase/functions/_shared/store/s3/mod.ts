/**
 * The S3 driver: `s3://bucket/prefix` on any S3-compatible service.
 *
 * - store.ts: {@link S3Store}, the {@link Store} (puts, reads, listing, deletes);
 * - client.ts: signing (SigV4), retries with backoff, path-style URLs, errors that say what to fix;
 * - multipart.ts: multipart uploads of streams and large bodies;
 * - xml.ts: the XML of the S3 API;
 * - options.ts: {@link S3Options}, the environment variables ({@link S3_ENV}) and validation.
 * @module
 */
import type { StoreDriver } from "../driver.ts";
import type { Store } from "../types.ts";
import { type S3Options, s3ConfigFrom } from "./options.ts";
import { S3Store } from "./store.ts";

export { S3Store, type S3StoreConfig } from "./store.ts";
export { MAX_PARTS, MIN_PART_SIZE, S3_ENV, type S3Options } from "./options.ts";

/** Opens `s3://bucket/prefix` locations; settings from `openStore(…, { s3 })` or the environment. */
export const s3Driver: StoreDriver<S3Options> = {
  open: (location, options): Store => new S3Store(s3ConfigFrom(location, options)),
};

/**
 * The local file system driver: a directory path or a `file:///path` URL.
 * @module
 */
import type { StoreDriver } from "../driver.ts";
import { refuseDotSegments, StoreError } from "../types.ts";
import { FsStore, type FsStoreOptions } from "./store.ts";

export { FsStore, type FsStoreOptions } from "./store.ts";

/** Opens a directory (a path, or a `file:///path` URL); `openStore(…, { file: { fsync } })`. */
export const fsDriver: StoreDriver<FsStoreOptions> = {
  open(location, options) {
    const path = /^file:\/\//i.test(location) ? filePath(location) : location;
    return new FsStore(path, { fsync: options.settings?.fsync });
  },
};

function filePath(raw: string): string {
  refuseDotSegments(raw);
  const url = new URL(raw);
  if (url.host !== "" && url.host !== "localhost") {
    throw new StoreError(
      "config",
      `file:// URLs must name a local path (file:///path), not host '${url.host}'.`,
    );
  }
  const path = decodeURIComponent(url.pathname);
  if (path === "" || path === "/") {
    throw new StoreError(
      "config",
      "Refusing to use the file system root as a store; name a directory.",
    );
  }
  return path;
}

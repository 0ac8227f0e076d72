/**
 * What a store backend provides: a {@link StoreDriver} that opens a {@link Store} from a
 * location, with its own settings, the driver-neutral {@link StoreTuning} and the environment.
 * Each backend is a folder (fs/, s3/) whose mod.ts exports its driver; store/mod.ts maps URL
 * schemes to drivers.
 * @module
 */
import type { Store } from "./types.ts";

/**
 * How hard one object's upload may push, for any backend. Drivers that upload an object in
 * chunks (S3 multipart) honour it; the others ignore it. A backend's own settings win over it.
 */
export interface StoreTuning {
  /** Chunks of one object in flight at once. */
  uploadConcurrency?: number;
  /** Bytes per chunk; memory per object written ≈ (uploadConcurrency + 1) × uploadChunkBytes. */
  uploadChunkBytes?: number;
}

/** What a driver gets to open a store. */
export interface DriverOpenOptions<S> {
  /** The backend's own settings (`openStore(…, { s3: … })` for s3://). */
  settings?: S;
  tuning?: StoreTuning;
  /** Where to read environment settings from; `Deno.env` when absent. `{}` ignores the environment. */
  env?: Record<string, string | undefined>;
}

/** A store backend. */
export interface StoreDriver<S> {
  /**
   * Opens the store at `location` (as the user wrote it: a path or a URL of the driver's
   * scheme). Throws `StoreError` code `config`, saying what to set, when the location or
   * settings are invalid. Does no I/O.
   */
  open(location: string, options: DriverOpenOptions<S>): Store;
}

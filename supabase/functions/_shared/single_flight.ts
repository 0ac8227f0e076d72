/**
 * A value loaded at most once per TTL, with concurrent callers sharing one load
 * (single-flight). Monitors can flood an endpoint; the database sees one query per TTL.
 * @module
 */

/** Options for {@linkcode cachedSingleFlight}. */
export interface CacheOptions {
  /** How long a loaded value is served, in milliseconds. */
  ttlMs: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/**
 * Wraps `load` so that callers within `ttlMs` of the last completed load get its value, and
 * callers during a load share it. `load` must not reject: failures are values too, so that a
 * failing dependency is also probed at most once per TTL.
 */
export function cachedSingleFlight<T>(load: () => Promise<T>, opts: CacheOptions): () => Promise<T> {
  const now = opts.now ?? Date.now;
  let cached: { at: number; value: T } | undefined;
  let inflight: Promise<T> | undefined;
  return () => {
    if (cached && now() - cached.at < opts.ttlMs) return Promise.resolve(cached.value);
    if (!inflight) {
      inflight = load()
        .then((value) => {
          cached = { at: now(), value };
          return value;
        })
        .finally(() => {
          inflight = undefined;
        });
    }
    return inflight;
  };
}

/** Resolves with `promise`, or with `onTimeout()` after `ms` milliseconds, whichever is first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

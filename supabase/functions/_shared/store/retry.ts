/**
 * Bounded retries with exponential backoff, jitter and a per-attempt timeout,
 * for talking to remote stores.
 *
 * @module
 */

/** How hard to try. All fields optional; see {@link DEFAULT_RETRY}. */
export interface RetryOptions {
  /** Total attempts, including the first. */
  attempts?: number;
  /** Backoff before the 2nd attempt; doubles each time. */
  baseDelayMs?: number;
  /** Cap on a single backoff. */
  maxDelayMs?: number;
  /** Per-attempt time limit; the attempt's signal aborts with a
   * `TimeoutError` when it passes. */
  timeoutMs?: number;
}

/** Defaults used for any field a caller leaves out. */
export const DEFAULT_RETRY: Required<RetryOptions> = {
  attempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  timeoutMs: 60_000,
};

/**
 * Thrown by an attempt to say "this failed, but trying again may work"
 * (a 5xx, a throttling reply). Other errors are retried only if they look
 * like network failures or attempt timeouts (see {@link isTransient}).
 */
export class TransientError extends Error {
  /** HTTP status, if the failure was a response. */
  readonly status?: number;
  /** Server-suggested wait before the next attempt. */
  readonly retryAfterMs?: number;

  constructor(
    message: string,
    options?: { status?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(
      message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "TransientError";
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Raised when every attempt failed; `cause` is the last failure. */
export class RetriesExhaustedError extends Error {
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(
      `gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${
        describeFailure(cause)
      }`,
      { cause },
    );
    this.name = "RetriesExhaustedError";
    this.attempts = attempts;
  }
}

/** Whether an error is worth another attempt: a {@link TransientError}, a
 * fetch network failure (`TypeError`), or an attempt timeout. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (err instanceof TypeError) return true; // fetch: connection refused/reset, bad chunking...
  return isTimeout(err);
}

/** Whether an error is an attempt timing out. */
export function isTimeout(err: unknown): boolean {
  return err instanceof DOMException && err.name === "TimeoutError";
}

/** One-line description of a failure for error messages. */
export function describeFailure(err: unknown): string {
  if (isTimeout(err)) return "request timed out";
  if (err instanceof TypeError) {
    // fetch's TypeError says "fetch failed"; the cause says why.
    const why = err.cause instanceof Error ? err.cause.message : err.message;
    return `network error (${why})`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Run `attempt` until it succeeds, fails with a non-transient error, or the
 * attempts run out (then rejects with {@link RetriesExhaustedError}). Each
 * attempt gets a signal that aborts on its timeout or on `opts.signal`; if
 * `opts.signal` aborts, rejects with its reason without further attempts.
 */
export async function retry<T>(
  attempt: (signal: AbortSignal, attemptNumber: number) => Promise<T>,
  opts: RetryOptions & {
    signal?: AbortSignal;
    /** Override which errors are retried. */
    isRetryable?: (err: unknown) => boolean;
    /** Observe retries (e.g. for logging); called before each backoff. */
    onRetry?: (err: unknown, attemptNumber: number, delayMs: number) => void;
  } = {},
): Promise<T> {
  const o = { ...DEFAULT_RETRY, ...definedOnly(opts) };
  const retryable = opts.isRetryable ?? isTransient;
  let last: unknown;
  for (let n = 1; n <= o.attempts; n++) {
    opts.signal?.throwIfAborted();
    const { signal, dispose } = attemptSignal(o.timeoutMs, opts.signal);
    try {
      return await attempt(signal, n);
    } catch (err) {
      // The caller cancelling is never a reason to try again.
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (!retryable(err)) throw err;
      last = err;
    } finally {
      dispose();
    }
    if (n < o.attempts) {
      const delay = backoffMs(n, o.baseDelayMs, o.maxDelayMs, last);
      opts.onRetry?.(last, n, delay);
      await sleep(delay, opts.signal);
    }
  }
  throw new RetriesExhaustedError(o.attempts, last);
}

/** Backoff before attempt `n + 1`: half fixed, half random ("equal jitter"),
 * so retries spread out but always wait; a server's Retry-After wins if
 * longer, up to the cap. */
export function backoffMs(
  n: number,
  baseMs: number,
  maxMs: number,
  err?: unknown,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** (n - 1));
  const jittered = cap / 2 + Math.random() * (cap / 2);
  const hinted = err instanceof TransientError && err.retryAfterMs !== undefined
    ? Math.min(maxMs, err.retryAfterMs)
    : 0;
  return Math.round(Math.max(jittered, hinted));
}

/** Resolve after `ms`, or reject with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// A timer we can clear (AbortSignal.timeout leaves one pending per attempt,
// which keeps short-lived processes alive and trips Deno's test sanitizers).
function attemptSignal(
  timeoutMs: number,
  parent?: AbortSignal,
): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const timer = setTimeout(
    () =>
      ac.abort(
        new DOMException(
          `attempt timed out after ${timeoutMs} ms`,
          "TimeoutError",
        ),
      ),
    timeoutMs,
  );
  const onAbort = () => ac.abort(parent!.reason);
  if (parent?.aborted) ac.abort(parent.reason);
  else parent?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: ac.signal,
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}

function definedOnly(o: RetryOptions): RetryOptions {
  const out: RetryOptions = {};
  for (
    const k of ["attempts", "baseDelayMs", "maxDelayMs", "timeoutMs"] as const
  ) {
    if (o[k] !== undefined) out[k] = o[k];
  }
  return out;
}

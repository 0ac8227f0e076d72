/**
 * A bounded pool: runs `fn` over items with at most `size` at once, stopping at the first
 * failure (the others in flight are awaited, none new start).
 * @module
 */

/** Runs `fn` for every item, `size` at a time; rejects with the first failure. */
export async function runPool<T>(items: Iterable<T>, size: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  let failed: { err: unknown } | null = null;
  const worker = async () => {
    for (let n = it.next(); !n.done && !failed; n = it.next()) {
      try {
        await fn(n.value);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, size) }, worker));
  if (failed) throw (failed as { err: unknown }).err;
}

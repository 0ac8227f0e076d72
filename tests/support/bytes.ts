/**
 * Test data: bytes that do not repeat, so a misplaced or lost block changes the hash.
 * @module
 */

/** `n` pseudo-random bytes from `seed` (a linear congruential generator: the same every run). */
export function pseudoRandomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

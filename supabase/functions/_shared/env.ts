/**
 * Settings read from the environment by the functions' entry points.
 * @module
 */

/** Where {@link numberFromEnv} reads from; `Deno.env` by default. */
export interface EnvReader {
  get(name: string): string | undefined;
}

/** Options for {@link numberFromEnv}. */
export interface NumberFromEnvOptions {
  /** Accept 0 too (for settings where 0 turns something off, such as a cache TTL). */
  allowZero?: boolean;
  env?: EnvReader;
}

/**
 * A positive number from the environment variable `name` (or ≥ 0 with `allowZero`); `fallback`
 * when the variable is unset, empty, not a number or out of that range.
 */
export function numberFromEnv(name: string, fallback: number, options: NumberFromEnvOptions = {}): number {
  const raw = (options.env ?? Deno.env).get(name);
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  return Number.isFinite(v) && (v > 0 || (options.allowZero === true && v === 0)) ? v : fallback;
}

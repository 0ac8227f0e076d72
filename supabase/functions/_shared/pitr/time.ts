/**
 * Timestamps to the microsecond. Commit times in the change stream have microseconds and a
 * restore target may fall between two commits a few microseconds apart, so both are compared
 * as microseconds since the Unix epoch (a bigint), never as a JS Date (milliseconds).
 * @module
 */

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Microseconds since the epoch of a timestamp as Postgres or ISO 8601 print it
 * (`2026-12-03 14:30:00.123456+00`, `2026-12-03T14:30:00Z`); no zone means UTC.
 * Throws with the expected form on anything else.
 */
export function parseMicros(text: string): bigint {
  const m = TIMESTAMP.exec(text.trim());
  if (!m) {
    throw new Error(`not a timestamp: ${JSON.stringify(text)}; use the form 2026-12-03T14:30:00.123456Z (no zone means UTC)`);
  }
  const [, y, mo, d, h, mi, s = "0", frac = "", zone = "Z"] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms) || Number(mo) > 12 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) {
    throw new Error(`not a valid timestamp: ${JSON.stringify(text)}`);
  }
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== "Z") {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    offsetMinutes = (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? "0"));
  }
  const micros = BigInt(ms) * 1000n + BigInt((frac + "000000").slice(0, 6));
  return micros - BigInt(offsetMinutes) * 60_000_000n;
}

/** ISO 8601 UTC text of microseconds since the epoch, with all six fractional digits. */
export function formatMicros(micros: bigint): string {
  const ms = micros / 1000n;
  const iso = new Date(Number(ms)).toISOString(); // …T14:30:00.123Z
  const sub = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  return `${iso.slice(0, 19)}.${String(sub).padStart(6, "0")}Z`;
}

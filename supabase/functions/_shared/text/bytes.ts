/**
 * Byte counts for people.
 * @module
 */

/** Options for {@link formatBytes}. */
export interface FormatBytesOptions {
  /**
   * 1024 (default): binary steps named B, kB, MB, GB, TB as `pg_size_pretty` does (status page,
   * report); 1000: decimal steps named B, KB, MB, GB, TB (the backup CLI's progress).
   */
  base?: 1024 | 1000;
}

const UNITS = { 1024: ["B", "kB", "MB", "GB", "TB"], 1000: ["B", "KB", "MB", "GB", "TB"] } as const;

/** A byte count as "512 B", "1.5 MB", "2.0 GB"; "–" when there is none. */
export function formatBytes(bytes: number | null | undefined, options: FormatBytesOptions = {}): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "–";
  const base = options.base ?? 1024;
  const units = UNITS[base];
  let v = bytes, i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return i === 0 ? `${v.toFixed(0)} B` : `${v.toFixed(1)} ${units[i]}`;
}

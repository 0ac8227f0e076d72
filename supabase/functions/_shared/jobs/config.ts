/**
 * The export job settings, read from `lifeboat.settings` (keys `export.*`) at the start of
 * every invocation, so an operator changes a budget or a target with one UPDATE and no
 * redeploy. Values are validated; a bad one is reported by its key.
 * @module
 */
import { z } from "zod";
import type { Sql } from "../db/mod.ts";
import { parseRecipient } from "../crypto/age.ts";
import { type Compression, defaultCompression, hasZstd } from "../crypto/compression.ts";
import { COMPRESSIONS } from "../format/manifest.ts";

/** What one invocation may spend before it hands over to a continuation. */
export interface Budget {
  /** Wall-clock milliseconds. */
  wallMs: number;
  /** CPU milliseconds (see budget.ts for how they are measured). */
  cpuMs: number;
  /** Uncompressed COPY bytes read. */
  bytes: number;
}

/** Export settings. */
export interface ExportConfig {
  /** Where backups go (`s3://bucket/prefix` or a directory); null until configured. */
  target: string | null;
  recipients: string[];
  unencrypted: boolean;
  /** Codec of new jobs' objects; null = the default (zstd where the runtime has it, else gzip). */
  compression: Compression | null;
  budget: Budget;
  chunkBytes: number;
  /** Postgres interval text. */
  partLease: string;
  maxAttempts: number;
  continueJobs: boolean;
  pruneAfterBackup: boolean;
}

/** A setting that is missing or malformed; the message names the key and what to set. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Defaults, the same as the migration's: they fit Supabase's free plan. */
export const DEFAULT_BUDGET: Budget = { wallMs: 120_000, cpuMs: 1_500, bytes: 256 * 1024 * 1024 };

const positive = (max: number) => z.number().int().positive().max(max);
const fields = {
  "export.target": z.string().trim().min(1).nullable(),
  "export.recipients": z.array(z.string()),
  "export.unencrypted": z.boolean(),
  "export.compression": z.enum(COMPRESSIONS, { error: 'must be "gzip", "zstd" or null' }).nullable(),
  "export.budget.wall_ms": positive(3_600_000),
  "export.budget.cpu_ms": positive(3_600_000),
  "export.budget.bytes": positive(Number.MAX_SAFE_INTEGER),
  "export.chunk_bytes": z.number().int().min(1024),
  "export.part_lease": z.string().min(1),
  "export.max_attempts": positive(1000),
  "export.continue": z.boolean(),
  "export.prune_after_backup": z.boolean(),
} as const;

function read<K extends keyof typeof fields>(rows: Map<string, unknown>, key: K, fallback: z.infer<(typeof fields)[K]>) {
  if (!rows.has(key) || rows.get(key) === undefined) return fallback;
  const r = fields[key].safeParse(rows.get(key));
  if (!r.success) {
    throw new ConfigError(`setting ${key} is invalid (${r.error.issues[0].message}): fix it in lifeboat.settings`);
  }
  return r.data as z.infer<(typeof fields)[K]>;
}

/** Reads and validates the export settings. */
export async function loadExportConfig(sql: Sql): Promise<ExportConfig> {
  const rows = new Map<string, unknown>();
  for (const r of await sql`select key, value from lifeboat.settings where key like 'export.%'`) {
    rows.set(String(r.key), r.value);
  }
  const recipients = read(rows, "export.recipients", []);
  for (const r of recipients) {
    try {
      parseRecipient(r);
    } catch {
      throw new ConfigError("setting export.recipients holds something that is not an age1… X25519 recipient: fix it in lifeboat.settings");
    }
  }
  return {
    target: read(rows, "export.target", null),
    recipients,
    unencrypted: read(rows, "export.unencrypted", false),
    compression: read(rows, "export.compression", null),
    budget: {
      wallMs: read(rows, "export.budget.wall_ms", DEFAULT_BUDGET.wallMs),
      cpuMs: read(rows, "export.budget.cpu_ms", DEFAULT_BUDGET.cpuMs),
      bytes: read(rows, "export.budget.bytes", DEFAULT_BUDGET.bytes),
    },
    chunkBytes: read(rows, "export.chunk_bytes", 16 * 1024 * 1024),
    partLease: read(rows, "export.part_lease", "10 minutes"),
    maxAttempts: read(rows, "export.max_attempts", 5),
    continueJobs: read(rows, "export.continue", true),
    pruneAfterBackup: read(rows, "export.prune_after_backup", true),
  };
}

/** The codec a new job writes: the setting, else the default; throws if the runtime lacks it. */
export function jobCodec(cfg: ExportConfig): Compression {
  const codec = cfg.compression ?? defaultCompression();
  if (codec === "zstd" && !hasZstd()) {
    throw new ConfigError(
      'setting export.compression is "zstd", but this runtime\'s node:zlib has no zstd: set it to "gzip" (or null for the default) in lifeboat.settings',
    );
  }
  return codec;
}

/** Checks that the encryption settings make sense together. */
export function checkEncryption(cfg: ExportConfig): void {
  if (!cfg.unencrypted && cfg.recipients.length === 0) {
    throw new ConfigError(
      "no age recipient configured: set lifeboat.settings export.recipients to [\"age1…\"] (or export.unencrypted to true, deliberately)",
    );
  }
  if (cfg.unencrypted && cfg.recipients.length > 0) {
    throw new ConfigError("export.unencrypted is true but export.recipients is not empty: clear one of them");
  }
}

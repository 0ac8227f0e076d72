/**
 * The export job settings, read from `lifeboat.settings` (keys `export.*`) at the start of
 * every invocation, so an operator changes a budget or a target with one UPDATE and no
 * redeploy. Values are validated; a bad one is reported by its key.
 * @module
 */
import { z } from "zod";
import type { Sql } from "../db/mod.ts";
import { parseRecipient } from "../crypto/mod.ts";
import type { Compression } from "../crypto/mod.ts";
import { COMPRESSIONS } from "../format/mod.ts";
import { decideCodec, decideEncryption, type PolicyProblem } from "../export/mod.ts";

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
  /** Whether a job may start without a signing key (written unsigned); false refuses it. */
  allowUnsigned: boolean;
  /** Codec of new jobs' objects; null = the default (zstd where the runtime has it, else gzip). */
  compression: Compression | null;
  budget: Budget;
  chunkBytes: number;
  /** Postgres interval text. */
  partLease: string;
  maxAttempts: number;
  continueJobs: boolean;
  pruneAfterBackup: boolean;
  /** Copy GoTrue's short-lived tables (sessions, refresh tokens…) too. */
  includeAuthSessions: boolean;
  /** Copy GoTrue's audit log too. */
  includeAuthAudit: boolean;
  /** Export the Vault secrets (decrypted, inside the encrypted backup) too. */
  includeVault: boolean;
  /** Files per part of a files job. */
  filesBatch: number;
}

/** A setting that is missing or malformed; the message names the key and what to set. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const positive = (max: number) => z.number().int().positive().max(max);
const fields = {
  "export.target": z.string().trim().min(1).nullable(),
  "export.recipients": z.array(z.string()),
  "export.unencrypted": z.boolean(),
  "export.allow_unsigned": z.boolean(),
  "export.compression": z.enum(COMPRESSIONS, { error: 'must be "gzip", "zstd" or null' }).nullable(),
  "export.budget.wall_ms": positive(3_600_000),
  "export.budget.cpu_ms": positive(3_600_000),
  "export.budget.bytes": positive(Number.MAX_SAFE_INTEGER),
  "export.chunk_bytes": z.number().int().min(1024),
  "export.part_lease": z.string().min(1),
  "export.max_attempts": positive(1000),
  "export.continue": z.boolean(),
  "export.prune_after_backup": z.boolean(),
  "export.include_auth_sessions": z.boolean(),
  "export.include_auth_audit": z.boolean(),
  "export.include_vault": z.boolean(),
  "export.files_batch": positive(100_000),
} as const;

function read<K extends keyof typeof fields>(rows: Map<string, unknown>, key: K) {
  if (!rows.has(key)) {
    throw new ConfigError(`setting ${key} is missing from lifeboat.settings: apply the Lifeboat migrations, which seed it with its default`);
  }
  const r = fields[key].safeParse(rows.get(key));
  if (!r.success) {
    throw new ConfigError(`setting ${key} is invalid (${r.error.issues[0].message}): fix it in lifeboat.settings`);
  }
  return r.data as z.infer<(typeof fields)[K]>;
}

/** Reads and validates the export settings in effect (their defaults live in lifeboat.settings.default_value). */
export async function loadExportConfig(sql: Sql): Promise<ExportConfig> {
  const rows = new Map<string, unknown>();
  for (const r of await sql`select s.key, lifeboat.setting(s.key) as value from lifeboat.settings s where s.key like 'export.%'`) {
    rows.set(String(r.key), r.value);
  }
  const recipients = read(rows, "export.recipients");
  for (const r of recipients) {
    try {
      parseRecipient(r);
    } catch {
      throw new ConfigError("setting export.recipients holds something that is not an age1… X25519 recipient: fix it in lifeboat.settings");
    }
  }
  return {
    target: read(rows, "export.target"),
    recipients,
    unencrypted: read(rows, "export.unencrypted"),
    allowUnsigned: read(rows, "export.allow_unsigned"),
    compression: read(rows, "export.compression"),
    budget: {
      wallMs: read(rows, "export.budget.wall_ms"),
      cpuMs: read(rows, "export.budget.cpu_ms"),
      bytes: read(rows, "export.budget.bytes"),
    },
    chunkBytes: read(rows, "export.chunk_bytes"),
    partLease: read(rows, "export.part_lease"),
    maxAttempts: read(rows, "export.max_attempts"),
    continueJobs: read(rows, "export.continue"),
    pruneAfterBackup: read(rows, "export.prune_after_backup"),
    includeAuthSessions: read(rows, "export.include_auth_sessions"),
    includeAuthAudit: read(rows, "export.include_auth_audit"),
    includeVault: read(rows, "export.include_vault"),
    filesBatch: read(rows, "export.files_batch"),
  };
}

/** The settings' wording of the export policy's problems (export/policy.ts decides). */
const POLICY_MESSAGES: Record<PolicyProblem, string> = {
  no_recipient:
    "no age recipient configured: set lifeboat.settings export.recipients to [\"age1…\"] (or export.unencrypted to true, deliberately)",
  recipients_with_unencrypted: "export.unencrypted is true but export.recipients is not empty: clear one of them",
  zstd_unavailable:
    'setting export.compression is "zstd", but this runtime\'s node:zlib has no zstd: set it to "gzip" (or null for the default) in lifeboat.settings',
};
const policyError = (p: PolicyProblem) => new ConfigError(POLICY_MESSAGES[p]);

/** The codec a new job writes: the setting, else the default; throws if the runtime lacks it. */
export function jobCodec(cfg: ExportConfig): Compression {
  return decideCodec(cfg.compression, policyError);
}

/** Checks that the encryption settings make sense together. */
export function checkEncryption(cfg: ExportConfig): void {
  decideEncryption(cfg.recipients, cfg.unencrypted, policyError);
}

/**
 * The shipper's settings, read from `lifeboat.settings` at the start of every pass: the
 * `stream.*` keys, and the export's target, recipients, codec and signing key (segments go to
 * the same store as the full backups and are sealed and signed the same way).
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { SealConfig } from "../export/mod.ts";
import { checkEncryption, ConfigError, jobCodec, loadExportConfig, loadSigningKey, NO_SIGNING_KEY_MESSAGE } from "../jobs/mod.ts";
import type { ShipperLimits } from "./shipper.ts";

/** What a pass needs besides the connection. */
export interface StreamConfig {
  /** export.target: where segments go. */
  target: string;
  seal: SealConfig;
  signingKey: CryptoKey | null;
  /** Limits of one edge invocation (the CLI lifts wall/CPU). */
  limits: ShipperLimits;
}

function num(v: unknown, key: string, min: number): number {
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n) || n < min) throw new ConfigError(`setting ${key} must be a number ≥ ${min}: fix it in lifeboat.settings`);
  return n;
}

/** What a driver may set instead of the settings (the CLI's --to and --recipient). */
export interface StreamOverrides {
  target?: string;
  recipients?: string[];
}

/** Loads and checks the settings a pass uses; throws {@link ConfigError} saying what to set. */
export async function loadStreamConfig(sql: Sql, env = Deno.env, overrides: StreamOverrides = {}): Promise<StreamConfig> {
  const cfg = await loadExportConfig(sql);
  if (overrides.target) cfg.target = overrides.target;
  if (overrides.recipients?.length) [cfg.recipients, cfg.unencrypted] = [overrides.recipients, false];
  if (!cfg.target) {
    throw new ConfigError("export.target is not set: the stream stores its segments there; set it in lifeboat.settings (s3://bucket/prefix)");
  }
  checkEncryption(cfg);
  const rows = new Map<string, unknown>();
  for (const r of await sql`select s.key, lifeboat.setting(s.key) as value from lifeboat.settings s where s.key like 'stream.%'`) {
    rows.set(String(r.key), r.value);
  }
  const signingKey = await loadSigningKey(sql, env);
  if (!signingKey && !cfg.allowUnsigned) throw new ConfigError(NO_SIGNING_KEY_MESSAGE.replace("backup-export signs every backup", "the stream signs every segment"));
  return {
    target: cfg.target,
    seal: { recipients: cfg.unencrypted ? [] : cfg.recipients, compression: jobCodec(cfg) },
    signingKey,
    limits: {
      segmentBytes: num(rows.get("stream.segment_bytes"), "stream.segment_bytes", 4096),
      maxRecords: num(rows.get("stream.max_records"), "stream.max_records", 100),
      wallMs: num(rows.get("stream.budget.wall_ms"), "stream.budget.wall_ms", 100),
      cpuMs: num(rows.get("stream.budget.cpu_ms"), "stream.budget.cpu_ms", 50),
    },
  };
}

/**
 * The backup-verify settings, read from `lifeboat.settings` (keys `verify.*`) at the start of
 * every invocation; a missing or malformed one is reported by its key.
 * @module
 */
import { z } from "zod";
import type { Sql } from "../db/mod.ts";
import { type Budget, ConfigError } from "../jobs/mod.ts";

/** What one backup-verify invocation works with. */
export interface VerifyConfig {
  budget: Budget;
  concurrency: number;
  /** Objects up to this size are read whole and hashed off the JS thread; 0: every object streams. */
  wholeObjectMaxBytes: number;
  /** Postgres interval text. */
  lease: string;
  continueJobs: boolean;
  /** Public keys the project trusts besides its own signing key's. */
  trustedKeys: string[];
  /** The project writes unsigned backups on purpose (export.allow_unsigned): accept them with a warning. */
  allowUnsigned: boolean;
}

const positive = (max: number) => z.number().int().positive().max(max);
const schema = z.object({
  "verify.budget.wall_ms": positive(3_600_000),
  "verify.budget.cpu_ms": positive(3_600_000),
  "verify.budget.bytes": positive(Number.MAX_SAFE_INTEGER),
  "verify.concurrency": positive(64),
  "verify.whole_object_max_bytes": z.number().int().min(0).max(64 * 1024 * 1024),
  "verify.lease": z.string().min(1),
  "verify.continue": z.boolean(),
  "verify.trusted_keys": z.array(z.string()),
  "export.allow_unsigned": z.boolean(),
});

/** Reads and validates the settings in effect (defaults live in lifeboat.settings.default_value). */
export async function loadVerifyConfig(sql: Sql): Promise<VerifyConfig> {
  const keys = Object.keys(schema.shape);
  const values: Record<string, unknown> = {};
  for (const r of await sql`select s.key, lifeboat.setting(s.key) as value from lifeboat.settings s where s.key = any(${keys})`) {
    values[String(r.key)] = r.value;
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue.path[0]);
    throw new ConfigError(key in values
      ? `setting ${key} is invalid (${issue.message}): fix it in lifeboat.settings`
      : `setting ${key} is missing from lifeboat.settings: apply the Lifeboat migrations, which seed it with its default`);
  }
  const v = parsed.data;
  return {
    budget: { wallMs: v["verify.budget.wall_ms"], cpuMs: v["verify.budget.cpu_ms"], bytes: v["verify.budget.bytes"] },
    concurrency: v["verify.concurrency"],
    wholeObjectMaxBytes: v["verify.whole_object_max_bytes"],
    lease: v["verify.lease"],
    continueJobs: v["verify.continue"],
    trustedKeys: v["verify.trusted_keys"],
    allowUnsigned: v["export.allow_unsigned"],
  };
}

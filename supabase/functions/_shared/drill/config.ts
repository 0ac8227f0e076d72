/**
 * The in-project drill settings, read from `lifeboat.settings` (keys `drill.*`) at the start of
 * every invocation; a bad value is reported by its key.
 * @module
 */
import { z } from "zod";
import type { Sql } from "../db/mod.ts";
import { ConfigError } from "../jobs/mod.ts";

/** Drill settings. */
export interface DrillConfig {
  /** Vault secret holding the drill's age identity; null = in-project drills are off. */
  identitySecret: string | null;
  killSwitch: boolean;
  /** Plain bytes a drill restores at most before it samples tables. */
  maxBytes: number;
  /** Plain bytes of one unit of work. */
  unitBytes: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  budget: { wallMs: number; cpuMs: number };
  /** Postgres interval text. */
  lease: string;
  staleAfter: string;
  maxAttempts: number;
  assertionsSchema: string | null;
  trustedKeys: string[];
  continueJobs: boolean;
  /** Where backups are (export.target). */
  target: string | null;
}

const positive = (max: number) => z.number().int().positive().max(max);
const fields = {
  "drill.identity_secret": z.string().trim().min(1).nullable(),
  "drill.kill_switch": z.boolean(),
  "drill.max_bytes": positive(Number.MAX_SAFE_INTEGER),
  "drill.unit_bytes": positive(Number.MAX_SAFE_INTEGER),
  "drill.statement_timeout_ms": positive(86_400_000),
  "drill.lock_timeout_ms": positive(86_400_000),
  "drill.budget.wall_ms": positive(3_600_000),
  "drill.budget.cpu_ms": positive(3_600_000),
  "drill.lease": z.string().min(1),
  "drill.stale_after": z.string().min(1),
  "drill.max_attempts": positive(1000),
  "drill.assertions_schema": z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase schema name").nullable(),
  "drill.trusted_keys": z.array(z.string()),
  "drill.continue": z.boolean(),
  "export.target": z.string().trim().min(1).nullable(),
} as const;

/** Reads and validates the drill settings in effect. */
export async function loadDrillConfig(sql: Sql): Promise<DrillConfig> {
  const rows = new Map<string, unknown>();
  for (const r of await sql`select s.key, lifeboat.setting(s.key) as value from lifeboat.settings s
                            where s.key like 'drill.%' or s.key = 'export.target'`) {
    rows.set(String(r.key), r.value);
  }
  const read = <K extends keyof typeof fields>(key: K) => {
    if (!rows.has(key)) {
      throw new ConfigError(`setting ${key} is missing from lifeboat.settings: apply the Lifeboat migrations, which seed it with its default`);
    }
    const r = fields[key].safeParse(rows.get(key));
    if (!r.success) throw new ConfigError(`setting ${key} is invalid (${r.error.issues[0].message}): fix it in lifeboat.settings`);
    return r.data as z.infer<(typeof fields)[K]>;
  };
  return {
    identitySecret: read("drill.identity_secret"),
    killSwitch: read("drill.kill_switch"),
    maxBytes: read("drill.max_bytes"),
    unitBytes: read("drill.unit_bytes"),
    statementTimeoutMs: read("drill.statement_timeout_ms"),
    lockTimeoutMs: read("drill.lock_timeout_ms"),
    budget: { wallMs: read("drill.budget.wall_ms"), cpuMs: read("drill.budget.cpu_ms") },
    lease: read("drill.lease"),
    staleAfter: read("drill.stale_after"),
    maxAttempts: read("drill.max_attempts"),
    assertionsSchema: read("drill.assertions_schema"),
    trustedKeys: read("drill.trusted_keys"),
    continueJobs: read("drill.continue"),
    target: read("export.target"),
  };
}

/**
 * `lifeboat stream enable|disable|status|run`: continuous change capture (docs/pitr.md).
 *
 * - `enable [--no-primary-key replica_identity_full|exclude]`: `lifeboat.stream_enable()`: the
 *   wal2json slot, the DDL event triggers, the ship and guard schedules; prints warnings for
 *   tables without a primary key and what was done with them.
 * - `disable`: `lifeboat.stream_disable()`: drops the slot cleanly.
 * - `status [--json]`: achieved RPO, lag, retained WAL, the point-in-time window.
 * - `run [--to STORE] [--poll-ms N]`: the long-running shipper (the same engine as the
 *   `backup-stream` function, without the edge budget). Segments go to `--to`, else the
 *   setting export.target, sealed to export.recipients and signed with
 *   $LIFEBOAT_SIGNING_KEY_FILE (else the key in Vault). SIGINT/SIGTERM stop it after the
 *   current segment; a kill at any point loses nothing (the next run resumes).
 *
 * Environment: SUPABASE_DB_URL (the project's owner role).
 * @module
 */
import { connect, databaseUrlFromEnv, describeDbError, type Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { ConfigError, safeErrorMessage } from "../../supabase/functions/_shared/jobs/mod.ts";
import { parseRecipient } from "../../supabase/functions/_shared/crypto/mod.ts";
import { loadStreamConfig, runShipper, shipOnce, type ShipResult } from "../../supabase/functions/_shared/stream/mod.ts";
import { parseCommand, usageError } from "./common.ts";

const USAGE = `usage: lifeboat stream <enable|disable|status|run> [options]

  enable                 create the wal2json slot, DDL capture and the ship/guard schedules
    --no-primary-key C   tables without a primary key: replica_identity_full (default: the
                         setting stream.no_primary_key) or exclude
  disable                drop the slot, the DDL capture and the schedules
  status [--json]        achieved RPO, lag, retained WAL and the point-in-time window
  run                    ship changes continuously until interrupted
    --to STORE           where segments go (default: the setting export.target)
    --recipient AGE1…    encrypt segments to this age recipient (repeatable; default:
                         the setting export.recipients)
    --poll-ms N          wait after catching up (default 1000)
    --once               one pass, then exit (0 shipped or idle, 1 failed)

Environment: SUPABASE_DB_URL; LIFEBOAT_SIGNING_KEY_FILE signs segments (else Vault's key).`;

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  "no-primary-key": { type: "string" },
  to: { type: "string" },
  recipient: { type: "string", multiple: true },
  "poll-ms": { type: "string" },
  once: { type: "boolean" },
} as const;

const fail = usageError("stream");

function fmtSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return "n/a";
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function fmtBytes(b: number | null | undefined): string {
  if (b === null || b === undefined) return "n/a";
  if (b < 1024) return `${b} B`;
  if (b < 1 << 20) return `${(b / 1024).toFixed(1)} KiB`;
  if (b < 1 << 30) return `${(b / (1 << 20)).toFixed(1)} MiB`;
  return `${(b / (1 << 30)).toFixed(2)} GiB`;
}

async function enable(sql: Sql, choice: string | undefined): Promise<number> {
  if (choice !== undefined && choice !== "replica_identity_full" && choice !== "exclude") {
    return fail("--no-primary-key must be replica_identity_full or exclude");
  }
  const [r] = await sql`select lifeboat.stream_enable(${choice ?? null})::text as out`;
  const out = JSON.parse(String(r.out));
  console.log(`stream ${out.slot}: ${out.created ? "slot created" : "slot already there"}; tables without a primary key: ${out.no_primary_key}`);
  for (const w of out.warnings as { table: string; warning: string }[]) console.error(`warning: ${w.table}: ${w.warning}`);
  return 0;
}

async function disable(sql: Sql): Promise<number> {
  const [r] = await sql`select lifeboat.stream_disable()::text as out`;
  const out = JSON.parse(String(r.out));
  console.log(`stream ${out.slot}: ${out.slot_dropped ? "slot dropped" : "no slot to drop"}; DDL capture and schedules removed`);
  return 0;
}

async function status(sql: Sql, json: boolean): Promise<number> {
  const [r] = await sql`select lifeboat.status_stream()::text as out`;
  const s = r.out === null ? null : JSON.parse(String(r.out));
  if (json) {
    console.log(JSON.stringify(s, null, 2));
    return s?.running ? 0 : 1;
  }
  if (!s) {
    console.log("no stream: run 'lifeboat stream enable'");
    return 1;
  }
  console.log(`stream ${s.slot}: ${s.running ? "running" : s.dropped_at ? `DROPPED at ${s.dropped_at}: ${s.drop_reason}` : s.enabled ? "enabled, slot missing" : "disabled"}`);
  console.log(`  achieved RPO   ${fmtSeconds(s.achieved_rpo_seconds)} (recovery point ${s.recovery_point ?? "none yet"})`);
  console.log(`  lag            ${fmtBytes(s.lag_bytes)}; retained WAL ${fmtBytes(s.retained_bytes)} (${s.wal_status ?? "n/a"})`);
  console.log(`  segments       ${s.segments} (${fmtBytes(Number(s.segment_bytes))}); last run ${s.last_run_at ?? "never"}${s.last_error ? " (it failed)" : ""}`);
  console.log(`  window         ${s.window?.earliest ?? "no full backup covered yet"} .. ${s.window?.latest ?? "n/a"}`);
  return s.running ? 0 : 1;
}

async function run(sql: Sql, v: { to?: string; recipient?: string[]; "poll-ms"?: string; once?: boolean }): Promise<number> {
  const pollMs = v["poll-ms"] ? Number(v["poll-ms"]) : 1000;
  if (!Number.isInteger(pollMs) || pollMs < 10 || pollMs > 3_600_000) return fail("--poll-ms must be an integer from 10 to 3600000");
  const env = { get: (k: string) => Deno.env.get(k) };
  const keyFile = Deno.env.get("LIFEBOAT_SIGNING_KEY_FILE");
  if (keyFile) {
    let pem: string;
    try {
      pem = await Deno.readTextFile(keyFile);
    } catch {
      return fail(`cannot read the signing key '${keyFile}' (LIFEBOAT_SIGNING_KEY_FILE): check the path and its permissions`);
    }
    env.get = (k: string) => (k === "LIFEBOAT_SIGNING_KEY" ? pem : Deno.env.get(k));
  }
  const recipients: string[] = [];
  for (const r of v.recipient ?? []) {
    try {
      recipients.push(parseRecipient(r));
    } catch (err) {
      return fail((err as Error).message);
    }
  }
  let config;
  try {
    config = await loadStreamConfig(sql, env as unknown as Deno.Env, { target: v.to, recipients });
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message.replace("export.target is not set", "no store: pass --to or set export.target"));
    throw err;
  }
  const store = openStore(config.target);
  const owner = `cli-${Deno.hostname()}-${Deno.pid}`;
  const report = (r: ShipResult) => {
    if (r.segments.length === 0 && r.state !== "busy" && !v.once) return;
    console.log(JSON.stringify({
      at: new Date().toISOString(),
      state: r.state,
      segments: r.segments.map((m) => m.seq),
      rows: r.rows,
      caught_up: r.caughtUp,
      last_commit_at: r.segments.at(-1)?.lastCommitAt ?? null,
    }));
  };
  if (v.once) {
    try {
      report(await shipOnce({ sql, store, owner, seal: config.seal, signingKey: config.signingKey, limits: { ...config.limits, wallMs: null, cpuMs: null } }));
      return 0;
    } catch (err) {
      const code = (err as { code?: string })?.code;
      console.error(`lifeboat stream run: ${code === "55000" ? (err as Error).message : safeErrorMessage(err)}`);
      return 1;
    }
  }
  const ac = new AbortController();
  const stop = () => ac.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await runShipper({
      connect: () => connect(databaseUrlFromEnv(), { max: 2, applicationName: "lifeboat stream run", idleTimeoutSeconds: 0 }),
      store,
      config,
      owner,
      pollMs,
      retryMs: 2000,
      signal: ac.signal,
      onPass: report,
      onError: (err) => console.error(`lifeboat stream run: ${safeErrorMessage(err)}; retrying`),
    });
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  return 0;
}

/** Runs `lifeboat stream`. */
async function main(args: string[]): Promise<number> {
  const parsed = parseCommand("stream", USAGE, args, OPTIONS, { shortErrors: true });
  if (typeof parsed === "number") return parsed;
  const [sub, ...extra] = parsed.positionals;
  if (!sub) return fail(`a subcommand is required\n\n${USAGE}`);
  if (extra.length > 0) return fail(`unexpected argument '${extra[0]}'`);
  if (!["enable", "disable", "status", "run"].includes(sub)) return fail(`unknown subcommand '${sub}': use enable, disable, status or run`);
  let url: string;
  try {
    url = databaseUrlFromEnv();
  } catch (err) {
    return fail((err as Error).message);
  }
  const sql = connect(url, { max: 2, applicationName: `lifeboat stream ${sub}`, idleTimeoutSeconds: 0 });
  try {
    if (sub === "enable") return await enable(sql, parsed.values["no-primary-key"]);
    if (sub === "disable") return await disable(sql);
    if (sub === "status") return await status(sql, Boolean(parsed.values.json));
    return await run(sql, parsed.values);
  } catch (err) {
    // Lifeboat's own refusals (SQLSTATE 55000, 22023) say what to do; others are described by code only.
    const code = (err as { code?: string })?.code;
    const text = code === "55000" || code === "22023" ? (err as Error).message : describeDbError(err);
    console.error(`lifeboat stream ${sub}: ${text}`);
    return 1;
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
}

export { main as run };

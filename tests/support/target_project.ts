/**
 * A second, empty Supabase project on this machine (the target of a restore into a new
 * project): `scripts/stack.sh start --no-s3 --no-seed` with its own stack dir
 * (LIFEBOAT_TARGET_STACK_DIR, default `<repo>/.lifeboat-target`) and ports (the source's
 * plus 6000, or LIFEBOAT_TARGET_DB_PORT, _API_PORT, _FN_PORT_BASE, _STORAGE_PORT). Started
 * when not running, and stopped again by {@link TargetProject.release} only then.
 * @module
 */
import { repoRoot, run, stackEnv } from "../../harness/stack.ts";

/** The running target project. */
export interface TargetProject {
  /** Project URL (the gateway): `--storage-target`. */
  url: string;
  /** Its secret key. */
  secretKey: string;
  /** Its database URL. */
  dbUrl: string;
  release(): Promise<void>;
}

function port(name: string, sourceName: string, fallback: number): string {
  const set = Deno.env.get(`LIFEBOAT_TARGET_${name}`);
  if (set) return set;
  const source = Number(Deno.env.get(sourceName) ?? fallback);
  return String(source + 6000 <= 65535 ? source + 6000 : source - 6000);
}

/**
 * The source's S3 settings: the target's functions reach the same object store (on hosted
 * Supabase, `supabase secrets set LIFEBOAT_S3_…`), as the source's stack.env gives them.
 */
function storeSecrets(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ["LIFEBOAT_S3_ENDPOINT", "LIFEBOAT_S3_REGION", "LIFEBOAT_S3_ACCESS_KEY_ID", "LIFEBOAT_S3_SECRET_ACCESS_KEY"]) {
    try {
      out[k] = stackEnv(k);
    } catch {
      // a stack without S3 (--no-s3): the target has no store either
    }
  }
  return out;
}

/** The target's environment for scripts/stack.sh. */
function targetEnv(): Record<string, string> {
  return {
    ...Deno.env.toObject(),
    ...storeSecrets(),
    LIFEBOAT_STACK_DIR: Deno.env.get("LIFEBOAT_TARGET_STACK_DIR") ?? `${repoRoot}/.lifeboat-target`,
    LIFEBOAT_DB_PORT: port("DB_PORT", "LIFEBOAT_DB_PORT", 54322),
    LIFEBOAT_API_PORT: port("API_PORT", "LIFEBOAT_API_PORT", 54321),
    LIFEBOAT_FN_PORT_BASE: port("FN_PORT_BASE", "LIFEBOAT_FN_PORT_BASE", 54340),
    LIFEBOAT_STORAGE_PORT: port("STORAGE_PORT", "LIFEBOAT_STORAGE_PORT", 54350),
  };
}

/** Starts (if needed) and describes the target project. */
export async function targetProject(): Promise<TargetProject> {
  const env = targetEnv();
  const stack = (args: string[]) => run("bash", [`${repoRoot}/scripts/stack.sh`, ...args], env);
  const started = (await stack(["status"])).code !== 0;
  if (started) {
    const r = await stack(["start", "--no-s3", "--no-seed"]);
    if (r.code !== 0) throw new Error(`the target project did not start:\n${r.stderr.slice(-2000)}`);
  }
  const vars: Record<string, string> = {};
  for (const line of (await Deno.readTextFile(`${env.LIFEBOAT_STACK_DIR}/stack.env`)).split("\n")) {
    const m = line.match(/^([A-Z0-9_]+)='(.*)'$/) ?? line.match(/^([A-Z0-9_]+)=(.*)$/);
    if (m) vars[m[1]] = m[2];
  }
  return {
    url: `http://127.0.0.1:${env.LIFEBOAT_API_PORT}`,
    secretKey: JSON.parse(vars.SUPABASE_SECRET_KEYS).default,
    dbUrl: vars.SUPABASE_DB_URL,
    release: async () => {
      if (started) await stack(["stop"]);
    },
  };
}

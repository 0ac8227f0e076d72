/**
 * What tests need to reach the running local stack. scripts/test.sh exports
 * `$LIFEBOAT_STACK_DIR/stack.env` into the environment before running Deno; this module reads
 * it from there, or from the file when a test is run by hand.
 * @module
 */
import postgres from "postgres";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function loadEnvFile(): Record<string, string> {
  const dir = Deno.env.get("LIFEBOAT_STACK_DIR") ?? `${ROOT}/.lifeboat`;
  try {
    const out: Record<string, string> = {};
    for (const line of Deno.readTextFileSync(`${dir}/stack.env`).split("\n")) {
      const m = line.match(/^([A-Z0-9_]+)='(.*)'$/) ?? line.match(/^([A-Z0-9_]+)=(.*)$/);
      if (m) out[m[1]] = m[2];
    }
    return out;
  } catch {
    return {};
  }
}

const fileEnv = loadEnvFile();

/** A stack setting: the process environment first, then the stack's env file. */
export function stackEnv(name: string): string {
  const v = Deno.env.get(name) ?? fileEnv[name];
  if (!v) throw new Error(`${name} is not set: start the stack with scripts/stack.sh start (or run scripts/test.sh)`);
  return v;
}

/** The repository root. */
export const repoRoot = ROOT;
/** The Deno binary the project pins. */
export const denoBin = `${ROOT}/tools/node_modules/.bin/deno`;

/** URL of a function behind the local gateway. */
export function functionUrl(name: string, rest = ""): string {
  return `${stackEnv("SUPABASE_URL")}/functions/v1/${name}${rest}`;
}

/** The project's default secret key (`sb_secret_…`). */
export function secretKey(): string {
  return JSON.parse(stackEnv("SUPABASE_SECRET_KEYS")).default;
}

/** Headers of a service caller using the new secret key. */
export function serviceHeaders(): Record<string, string> {
  return { apikey: secretKey() };
}

/** The owner-role database URL. */
export function dbUrl(): string {
  return stackEnv("SUPABASE_DB_URL");
}

/** A postgres.js client for the stack's database (close it with `end()`). */
export function db(url = dbUrl()): postgres.Sql {
  return postgres(url, { max: 2, onnotice: () => {}, prepare: false });
}

/** A free loopback TCP port. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Polls `probe` until it returns a value other than undefined, null or false, and returns it;
 * throws after `timeoutMs`. A probe that throws stops the wait with its error.
 */
export async function waitForValue<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Polls `fn` until it returns true or `ms` elapse; a probe that throws counts as "not yet". */
export async function waitFor(fn: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  await waitForValue(what, async () => {
    try {
      return await fn();
    } catch {
      return false; // not yet
    }
  }, ms);
}

/** Runs a command to completion and returns its exit code and output. */
export async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A Deno process serving a function's real `index.ts` on a loopback port, as the stack does. */
export class FunctionProcess {
  readonly port = freePort();
  #child: Deno.ChildProcess;
  constructor(name: string, env: Record<string, string>) {
    this.#child = new Deno.Command(denoBin, {
      args: ["run", "--quiet", "--no-prompt", "-A", `${ROOT}/supabase/functions/${name}/index.ts`],
      env: { ...env, DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${this.port}` },
      stdout: "null",
      stderr: "piped",
    }).spawn();
  }
  /** Base URL of the process. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** Waits until the process accepts connections. */
  async ready(): Promise<void> {
    await waitFor(async () => {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
      c.close();
      return true;
    }, 20_000, "function process to listen");
  }
  /** Kills the process and returns what it wrote to stderr. */
  async stop(): Promise<string> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
    const out = await this.#child.output().catch(() => null);
    return out ? new TextDecoder().decode(out.stderr) : "";
  }
}

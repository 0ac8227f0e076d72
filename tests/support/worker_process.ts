/**
 * Runs `lifeboat outbox` as a separate process (as a user's machine would), pointed at a
 * test's own receiver and queue, and stops it by its PID.
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** A running worker process. */
export interface WorkerProcess {
  pid: number;
  /** Sends SIGTERM and returns the exit code and everything the worker logged. */
  stop(timeoutMs?: number): Promise<{ code: number | null; output: string }>;
}

/** Spawns the outbox worker with the test environment plus the given overrides. */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", "--allow-net", "--allow-env", "--allow-sys", `--allow-read=${ROOT}`,
      `${ROOT}scripts/lifeboat.ts`, "outbox"],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  return {
    pid: child.pid,
    async stop(timeoutMs = 15_000) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited; its output tells why.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }, timeoutMs);
      const out = await output;
      clearTimeout(timer);
      const dec = new TextDecoder();
      return { code: out.signal ? null : out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
    },
  };
}

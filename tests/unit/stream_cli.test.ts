/**
 * `lifeboat stream` usage errors that need no stack: a missing or unknown subcommand and an
 * unknown option exit 2 with a message and no stack trace; a missing database URL says what to set.
 */
import assert from "node:assert/strict";

const LIFEBOAT = new URL("../../scripts/lifeboat.ts", import.meta.url).pathname;

async function lifeboat(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", LIFEBOAT, ...args],
    env: { SUPABASE_DB_URL: "", SUPABASE_URL: "" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("cli: lifeboat stream refuses bad usage with exit 2 and no stack trace", async () => {
  for (const [args, message] of [
    [["stream"], /a subcommand is required/],
    [["stream", "start"], /unknown subcommand 'start': use enable, disable, status or run/],
    [["stream", "run", "--bogus"], /lifeboat stream: Unknown option '--bogus'/],
    [["stream", "status", "extra"], /unexpected argument 'extra'/],
  ] as const) {
    const r = await lifeboat([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
  const noDb = await lifeboat(["stream", "status"]);
  assert.equal(noDb.code, 2);
  assert.match(noDb.stderr, /SUPABASE_DB_URL/);
});

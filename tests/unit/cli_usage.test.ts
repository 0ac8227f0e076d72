/**
 * CLI usage errors that need no stack: an unexpected argument to `lifeboat outbox` and an
 * unknown command exit 2 with a message and no stack trace.
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

Deno.test("cli: lifeboat outbox refuses an unexpected argument with exit 2 and its usage", async () => {
  const r = await lifeboat(["outbox", "--queue=fast"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /lifeboat outbox: unexpected argument '--queue=fast'/);
  assert.match(r.stderr, /usage: lifeboat outbox/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
});

Deno.test("cli: an unknown command exits 2 and lists the commands, outbox among them", async () => {
  const r = await lifeboat(["outbx"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'outbx'/);
  assert.match(r.stderr, /outbox +deliver lifeboat\.outbox calls/);
});

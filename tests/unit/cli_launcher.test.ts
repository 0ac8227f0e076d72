/** scripts/lifeboat, the launcher: its heap bound is set from LIFEBOAT_HEAP_MB and checked. */
import assert from "node:assert/strict";

const launcher = new URL("../../scripts/lifeboat", import.meta.url).pathname;

async function run(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command("bash", { args: [launcher, ...args], env, stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("the launcher refuses a LIFEBOAT_HEAP_MB that is not a whole number of MiB", async () => {
  for (const bad of ["abc", "0", "-5", "1.5", "512MB"]) {
    const r = await run({ LIFEBOAT_HEAP_MB: bad }, "--help");
    assert.equal(r.code, 2, bad);
    assert.match(r.stderr, /LIFEBOAT_HEAP_MB must be a whole number of MiB/);
    assert.equal(r.stdout, "");
  }
});

Deno.test("the launcher runs the CLI with a heap bound of LIFEBOAT_HEAP_MB", async () => {
  // A 1-MiB old generation cannot even load the CLI: the bound reaches V8.
  const tiny = await run({ LIFEBOAT_HEAP_MB: "1" }, "--help");
  assert.notEqual(tiny.code, 0);
  assert.match(tiny.stderr, /Last few GCs|heap out of memory/i);
  const ok = await run({ LIFEBOAT_HEAP_MB: "256" }, "--help");
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^usage: lifeboat <command>/);
});

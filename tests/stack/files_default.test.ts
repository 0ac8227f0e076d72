// Files by default: `lifeboat backup` of the demo app takes its Storage files when the Storage
// URL and key are configured (the stack's environment), says why when it does not (a warning
// event and the manifest's filesNotBackedUp: --no-files, no Storage URL), and refuses a
// configured key Storage rejects before any work, naming --no-files.
import assert from "node:assert/strict";
import { db, dbUrl } from "../../harness/stack.ts";
import { lifeboat, readManifest } from "../../harness/export_env.ts";
import { generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";

const events = (stdout: string) => stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

Deno.test("lifeboat backup takes the Storage files by default, and says why when it does not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-files-default-" });
  const sql = db();
  try {
    const { recipient } = await generateIdentity();
    const [src] = await sql`select count(*)::int as n from storage.objects where name is not null`;
    assert.ok(src.n > 0, "the demo app has files");
    const backup = (store: string, extra: string[], env: Record<string, string> = {}) =>
      lifeboat(["backup", "--db-url", dbUrl(), "--store", `${dir}/${store}`, "--recipient", recipient, "--json", ...extra], env);

    const byDefault = await backup("default", []);
    assert.equal(byDefault.code, 0, byDefault.stdout + byDefault.stderr);
    const done = events(byDefault.stdout).at(-1);
    assert.equal(done.files, src.n, "every file of the demo app");
    assert.equal(events(byDefault.stdout).some((e) => e.event === "warning" && e.filesNotBackedUp), false);
    const m = await readManifest(openStore(`${dir}/default`), done.id);
    assert.equal(m.files?.objects.length, src.n);
    assert.equal(m.filesNotBackedUp, undefined);

    const skipped = await backup("nofiles", ["--no-files"]);
    assert.equal(skipped.code, 0, skipped.stdout + skipped.stderr);
    const ev = events(skipped.stdout);
    assert.equal(ev[0].event, "start", "the start event stays first");
    assert.ok(ev.some((e) => e.event === "warning" && /NOT in this backup: --no-files/.test(e.message)));
    const m2 = await readManifest(openStore(`${dir}/nofiles`), ev.at(-1).id);
    assert.equal(m2.files, undefined);
    assert.match(m2.filesNotBackedUp ?? "", /--no-files/);

    const noUrl = await backup("nourl", [], { LIFEBOAT_STORAGE_URL: "" });
    assert.equal(noUrl.code, 0, noUrl.stdout + noUrl.stderr);
    const m3 = await readManifest(openStore(`${dir}/nourl`), events(noUrl.stdout).at(-1).id);
    assert.match(m3.filesNotBackedUp ?? "", /no Storage URL is configured/);

    const wrongKey = await backup("wrongkey", [], { LIFEBOAT_STORAGE_KEY: "sb_secret_this_is_not_the_key" });
    assert.equal(wrongKey.code, 2, wrongKey.stdout + wrongKey.stderr);
    assert.match(wrongKey.stderr + wrongKey.stdout, /refused the key.*--no-files leaves them out/s);
    const written = await Deno.stat(`${dir}/wrongkey`).then(() => [...Deno.readDirSync(`${dir}/wrongkey`)].length, () => 0);
    assert.equal(written, 0, "nothing was written before the key was checked");

    const both = await backup("both", ["--files", "--no-files"]);
    assert.equal(both.code, 2);
    assert.match(both.stderr + both.stdout, /--no-files contradicts --files/);
  } finally {
    await sql.end();
    await Deno.remove(dir, { recursive: true });
  }
});

// `lifeboat verify` against real Postgres and real Ceph RGW, through the real CLI: a good
// backup passes (integrity, completeness, sample decryption) and is recorded in
// lifeboat.verification_runs; a prefix whose manifest was removed, or a manifest missing a
// part, is INCOMPLETE and fails (recorded as a failure); a wrong identity fails the sample.
import assert from "node:assert/strict";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { backup, client, lifeboat, makeKey } from "../support/restore.ts";
import { stackEnv } from "../../harness/stack.ts";

const skipS3 = Deno.env.get("LIFEBOAT_SKIP_S3") === "1";

function s3Env(): Record<string, string> {
  const text = Deno.readTextFileSync(`${stackEnv("LIFEBOAT_STACK_DIR")}/s3.env`);
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^(?:export )?(LIFEBOAT_S3_[A-Z_]+)=['"]?([^'"]*)['"]?$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env;
}

async function lastRun(): Promise<{ success: boolean; errors: number; findings: { check: string }[]; details: { backupId: string } }> {
  const sql = client();
  try {
    const [r] = await sql`select success, errors, findings, details from lifeboat.verification_runs order by id desc limit 1`;
    return r as never;
  } finally {
    await sql.end();
  }
}

Deno.test({
  name: "verify: a good backup in RGW passes; incomplete ones fail; runs are recorded",
  ignore: skipS3,
  fn: async (t) => {
    const env = s3Env();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-verify-" });
    const key = await makeKey(dir);
    const spec = `s3://${env.LIFEBOAT_S3_BUCKET}/verify-${crypto.randomUUID().slice(0, 8)}`;
    const store = openStore(spec, { env });
    try {
      const id = await backup(spec, key.recipient, [], env);
      const id2 = await backup(spec, key.recipient, [], env);

      await t.step("a complete backup passes, with the identity's sample decryption, and is recorded", async () => {
        const r = await lifeboat(["verify", "--store", spec, id, "--identity", key.path, "--json"], env);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const rep = JSON.parse(r.stdout);
        const by = (n: string) => rep.checks.find((c: { check: string }) => c.check === n);
        assert.equal(by("integrity").level, "ok");
        assert.equal(by("sample_decrypt").level, "ok");
        assert.match(by("sample_decrypt").detail, /COPY header and terminator present/);
        assert.equal(by("completeness").level, "ok");
        const run = await lastRun();
        assert.equal(run.success, true);
        assert.equal(run.details.backupId, id);
      });

      await t.step("--latest picks the newest complete backup; text output on success", async () => {
        const r = await lifeboat(["verify", "--store", spec, "--latest"], env);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`backup ${id2}`));
        assert.match(r.stdout, /PASSED/);
      });

      await t.step("a wrong identity fails the sample", async () => {
        const other = await makeKey(dir, "other.txt");
        const r = await lifeboat(["verify", "--store", spec, id, "--identity", other.path, "--no-db"], env);
        assert.equal(r.code, 1);
        assert.match(r.stdout, /not one of the backup's 1 recipients/);
      });

      await t.step("a manifest missing a part is incomplete, never a pass", async () => {
        const m = JSON.parse(new TextDecoder().decode(await store.getBytes(`${id}/manifest.json`)));
        const part = m.objects.find((o: { kind: string }) => o.kind === "data").key;
        await store.delete(`${id}/${part}`);
        const r = await lifeboat(["verify", "--store", spec, id, "--json"], env);
        assert.equal(r.code, 1);
        const rep = JSON.parse(r.stdout);
        const miss = rep.checks.find((c: { check: string }) => c.check === "object_missing");
        assert.equal(miss.object, part);
        assert.match(miss.detail, /INCOMPLETE/);
        const run = await lastRun();
        assert.equal(run.success, false);
        assert.ok(run.findings.some((f) => f.check === "object_missing"));
      });

      await t.step("a prefix with parts but no manifest is incomplete", async () => {
        await store.delete(`${id2}/manifest.json`);
        const r = await lifeboat(["verify", "--store", spec, id2], env);
        assert.equal(r.code, 1);
        assert.match(r.stdout, /INCOMPLETE/);
        // --latest no longer counts it: the latest complete backup is gone too (id lost a part but has its manifest).
        const latest = await lifeboat(["verify", "--store", spec, "--latest", "--no-db"], env);
        assert.equal(latest.code, 1);
        assert.match(latest.stdout, new RegExp(`backup ${id}`));
      });
    } finally {
      for await (const o of store.list("")) await store.delete(o.key);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

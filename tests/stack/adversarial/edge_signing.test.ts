// Issue 17 item 1, the edge function's side: backup-export signs the manifest with the key in
// the Vault secret named by export.signing_key_secret (read through lifeboat.vault_secret()),
// records the manifest's sha256 in its run, and the CLI verifies it with the public key.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { signerOf } from "../../../supabase/functions/_shared/format/mod.ts";
import { callExport, configureExport, removeTestTargets, testTarget, waitForJob } from "../../../harness/edge_export.ts";
import { testSigning } from "../../support/signing.ts";
import { db, functionUrl } from "../../../harness/stack.ts";
import { lifeboat } from "../../../harness/export_env.ts";

const SCHEMA = "adv_edge_sign";

Deno.test({
  name: "adversarial: backup-export signs with its Vault key and records the manifest sha256",
  ignore: Deno.env.get("LIFEBOAT_SKIP_S3") === "1",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = db();
    const secret = `lifeboat_signing_key_test_${crypto.randomUUID().slice(0, 8)}`;
    try {
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA};
        create table ${SCHEMA}.t (id int primary key); insert into ${SCHEMA}.t select generate_series(1, 100);`);
      await sql`select vault.create_secret(${testSigning.privatePem}, ${secret})`;
      const { target, store } = testTarget("edge-sign");
      await configureExport(sql, { target, recipients: ["age1nv6zuv8ghnulynzffssdynkg0clf50d63rpzwqnda7pp5t874uds0jwfkd"] });
      await sql`update lifeboat.settings set value = to_jsonb(${secret}::text) where key = 'export.signing_key_secret'`;

      const r = await callExport(functionUrl("backup-export"), { mode: "tables", tables: [`${SCHEMA}.t`], label: "signed" });
      assert.ok([200, 202].includes(r.status), r.text);
      const run = await waitForJob(sql, String(r.json.job), ["completed", "failed"], 120_000);
      assert.equal(run.state, "completed", run.error);
      const id = String(r.json.backupId);
      const body = await store.getBytes(`${id}/manifest.json`);
      const sig = await store.getBytes(`${id}/manifest.json.sig`);
      assert.equal(await signerOf(body, sig, [testSigning.publicKey]), testSigning.publicKey);
      assert.equal(run.manifest_sha256, createHash("sha256").update(body).digest("hex"));

      const v = await lifeboat(["verify", "--store", target, id, "--no-db", "--json"]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.equal(JSON.parse(v.stdout).checks.find((c: { check: string }) => c.check === "signature").level, "ok");
    } finally {
      await sql`update lifeboat.settings set value = default_value where key = 'export.signing_key_secret'`.catch(() => {});
      await sql`delete from vault.secrets where name = ${secret}`.catch(() => {});
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
      await removeTestTargets();
      await sql.end();
    }
  },
});

/**
 * The backup-export edge function writing to Azure Blob Storage (the stack's Azurite, its
 * settings in the function's environment as secrets would be): a database bigger than one
 * invocation's budget completes across invocations with every part in the Azure container,
 * and restores through the documented psql path with the source's fingerprints. The tier set
 * for the function (none here) is the account default: Hot.
 */
import assert from "node:assert/strict";
import { parseManifest } from "../../supabase/functions/_shared/format/mod.ts";
import { db, functionUrl } from "../../harness/stack.ts";
import { azureStore, azureUrl, hasAzure } from "../../harness/azure.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import {
  ageKey,
  assertPsqlRestoreMatches,
  callExport,
  configureExport,
  fingerprints,
  makeTestSchema,
  waitForJob,
} from "../../harness/edge_export.ts";

const SCHEMA = "edge_azure";

Deno.test({
  name: "backup-export to az:// completes across invocations and restores with equal fingerprints",
  ignore: !hasAzure(),
  async fn() {
    const sql = db();
    const prefix = `edge-${crypto.randomUUID().slice(0, 8)}/`;
    const store = azureStore(prefix);
    try {
      await makeTestSchema(sql, SCHEMA, 2);
      const { keyFile, recipient } = await ageKey();
      await configureExport(sql, { target: azureUrl(prefix), recipients: [recipient], budgetBytes: 1024 * 1024, chunkBytes: 256 * 1024 });
      const first = await callExport(functionUrl("backup-export"), { mode: "tables", tables: ["events", "pairs", "nokey", "empty"].map((t) => `${SCHEMA}.${t}`), label: "azure" });
      assert.equal(first.status, 202, first.text);
      const run = await waitForJob(sql, String(first.json.job), ["completed", "failed"], 180_000);
      assert.equal(run.state, "completed", run.error);
      assert.ok(Number(run.metadata.invocations) >= 2, `took ${run.metadata.invocations} invocations`);
      const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await store.getBytes(run.manifest_key))));
      for (const o of manifest.objects) {
        const info = await store.head(`${manifest.id}/${o.key}`);
        assert.equal(info?.size, o.size, o.key);
        assert.equal(info?.storageClass, "Hot");
      }
      const source = await fingerprints(sql, SCHEMA);
      await assertPsqlRestoreMatches(sql, store, manifest.id, keyFile, SCHEMA, source);
    } finally {
      await emptyStore(store);
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
      await sql.end();
    }
  },
});

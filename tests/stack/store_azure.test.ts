// The Azure Blob store against the stack's real Azurite (scripts/stack/azurite.sh), with the
// fault-injecting proxy in front of it for retries: Shared Key and SAS, a large stream in
// blocks (Put Block / Put Block List), access tiers, an archived blob's explanation, and the
// errors for bad input. Skipped (ignored) with LIFEBOAT_SKIP_AZURE=1 (scripts/test.sh --no-azure).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type AzureOptions, openStore, type Store } from "../../supabase/functions/_shared/store/mod.ts";
import { accountSas, azureStore, azureUrl, hasAzure } from "../../harness/azure.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { startFaultProxy } from "../../harness/fault_proxy.ts";
import { stackEnv } from "../../harness/stack.ts";
import { rejectsWith } from "../support/store_errors.ts";
import { pseudoRandomBytes as bytesOf } from "../support/bytes.ts";

const MiB = 1024 * 1024;
const ignore = !hasAzure();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A test with its own prefix, emptied afterwards. */
function azTest(name: string, fn: (prefix: string) => Promise<void>) {
  Deno.test({
    name: `azure store: ${name}`,
    ignore,
    async fn() {
      const prefix = `test-${crypto.randomUUID().slice(0, 8)}/`;
      try {
        await fn(prefix);
      } finally {
        await emptyStore(azureStore(prefix));
      }
    },
  });
}

function streamOf(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= bytes.length) return c.close();
      c.enqueue(bytes.slice(off, off + chunk));
      off += chunk;
    },
  });
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

azTest("Shared Key: put, head, get, list and delete; sha256 and size confirmed", async (prefix) => {
  const store = azureStore(prefix);
  const body = bytesOf(1000);
  const put = await store.put("a/one.bin", body, { contentType: "application/x-test" });
  assert.deepEqual([put.key, put.size, put.sha256], ["a/one.bin", 1000, sha(body)]);
  await store.put("a/two.bin", new Uint8Array(0));
  await store.put("b.bin", bytesOf(10, 2));
  const head = await store.head("a/one.bin");
  assert.equal(head?.size, 1000);
  assert.equal(head?.sha256, sha(body));
  assert.equal(await store.head("a/none.bin"), null);
  assert.deepEqual(await readAll(await store.get("a/one.bin")), body);
  assert.deepEqual(await store.getBytes("a/two.bin"), new Uint8Array(0));
  const listed: [string, number][] = [];
  for await (const o of store.list("a/")) listed.push([o.key, o.size]);
  assert.deepEqual(listed, [["a/one.bin", 1000], ["a/two.bin", 0]]);
  await store.delete("a/one.bin");
  await store.delete("a/one.bin"); // missing: not an error
  assert.equal(await store.head("a/one.bin"), null);
  await rejectsWith(store.get("a/one.bin"), "not_found", /no such object/);
  // A body whose sha256 is not the one promised stores nothing.
  await rejectsWith(store.put("c.bin", body, { sha256: "0".repeat(64) }), "integrity", /does not match/);
  assert.equal(await store.head("c.bin"), null);
  assert.match(store.describe(), /^az:\/\/lifeboat\/lifeboat\/test-/);
  assert.ok(!store.describe().includes(stackEnv("LIFEBOAT_AZURE_ACCOUNT_KEY")));
});

azTest("a large stream goes up in blocks (Put Block, Put Block List), retried through 500s and resets", async (prefix) => {
  const proxy = await startFaultProxy(new URL(stackEnv("LIFEBOAT_AZURE_ENDPOINT")).origin);
  try {
    const store = azureStore(prefix, {
      endpoint: `${proxy.url}/${stackEnv("LIFEBOAT_AZURE_ACCOUNT")}`,
      blockSize: 2 * MiB,
      concurrency: 2,
      retry: { attempts: 5, baseDelayMs: 20, maxDelayMs: 200, timeoutMs: 20_000 },
    });
    proxy.inject({ method: "PUT", query: /comp=block(&|$)/, fault: { kind: "status", status: 500, code: "InternalError" }, times: 2 });
    proxy.inject({ method: "PUT", query: /comp=block(&|$)/, fault: { kind: "reset" }, times: 1 });
    const body = bytesOf(9 * MiB + 123, 7);
    const put = await store.put("big.bin", streamOf(body));
    assert.equal(put.size, body.length);
    assert.equal(put.sha256, sha(body));
    const blocks = proxy.seen.filter((s) => s.method === "PUT" && /comp=block(&|$)/.test(s.query) && !s.fault).length;
    assert.equal(blocks, 5, "5 blocks of 2 MiB staged once each (after the injected failures)");
    assert.equal(proxy.count({ method: "PUT", query: /comp=blocklist/ }), 1, "one Put Block List");
    assert.equal(proxy.seen.filter((s) => s.fault).length, 3, "every fault was hit and retried");
    const back = await readAll(await azureStore(prefix).get("big.bin"));
    assert.equal(sha(back), sha(body));
    // Bytes given as one buffer take the same path.
    const put2 = await store.put("big2.bin", body);
    assert.equal(put2.sha256, sha(body));
  } finally {
    await proxy.close();
  }
});

azTest("SAS: a full token reads and writes; a read-only token is refused with what to fix", async (prefix) => {
  const full = accountSas("rwdlac");
  const store = azureStore(prefix, { sasToken: full });
  const body = bytesOf(3 * MiB, 3);
  await store.put("s.bin", body);
  assert.equal(sha(await store.getBytes("s.bin")), sha(body));
  const keys: string[] = [];
  for await (const o of store.list("")) keys.push(o.key);
  assert.deepEqual(keys, ["s.bin"]);
  assert.ok(!store.describe().includes("sig="), "the location shown has no SAS");

  const readOnly = azureStore(prefix, { sasToken: "?" + accountSas("rl") });
  assert.equal(sha(await readOnly.getBytes("s.bin")), sha(body));
  const sig = decodeURIComponent(/sig=([^&]+)/.exec(full)![1]);
  await rejectsWith(readOnly.put("t.bin", body), "auth", /LIFEBOAT_AZURE_SAS_TOKEN/, sig);
  await rejectsWith(readOnly.delete("s.bin"), "auth", /permission/);
  await store.delete("s.bin");
});

azTest("access tiers: each blob gets the store's tier; an archived blob says to rehydrate first", async (prefix) => {
  for (const tier of ["Hot", "Cool", "Cold"] as const) {
    const store = azureStore(prefix, { accessTier: tier });
    await store.put(`${tier}.bin`, bytesOf(100));
    assert.equal((await store.head(`${tier}.bin`))?.storageClass, tier);
  }
  // Lowercase in settings (as in an environment variable) is accepted.
  const archive = azureStore(prefix, { accessTier: "archive" as AzureOptions["accessTier"] });
  const big = bytesOf(3 * MiB, 5);
  await archive.put("archived.bin", bytesOf(100));
  await archive.put("archived-blocks.bin", streamOf(big)); // Put Block List with the tier
  for (const key of ["archived.bin", "archived-blocks.bin"]) {
    assert.equal((await archive.head(key))?.storageClass, "Archive");
    const err = await rejectsWith(archive.get(key), "archived", /Archive tier \(offline\): rehydrate first: set its tier to Hot or Cool/);
    assert.match(err.message, new RegExp(`az://lifeboat/lifeboat/${prefix}${key}`));
  }
  await rejectsWith(archive.getBytes("archived.bin"), "archived", /rehydrate first/);
});

Deno.test({
  name: "azure store: bad input gets a clear error and no secret",
  ignore,
  async fn() {
    const key = stackEnv("LIFEBOAT_AZURE_ACCOUNT_KEY");
    const endpoint = stackEnv("LIFEBOAT_AZURE_ENDPOINT");
    const open = (url: string, az: AzureOptions = {}, env: Record<string, string> = {}) => () => openStore(url, { az, env });
    await rejectsWith(open("gs://bucket/x"), "config", /Unsupported store location scheme 'gs:\/\/'.*az:\/\/account\/container\/prefix/);
    await rejectsWith(
      open("az://lifeboat/backups/x"),
      "config",
      /az:\/\/lifeboat\/backups\/x\/ has no credentials: set LIFEBOAT_AZURE_ACCOUNT_KEY \(Shared Key\) or LIFEBOAT_AZURE_SAS_TOKEN/,
    );
    await rejectsWith(
      open("https://lifeboat.blob.core.windows.net/backups", {}, { LIFEBOAT_AZURE_SAS_TOKEN: "?sv=2022-11-02&sig=abc", LIFEBOAT_AZURE_ACCOUNT_KEY: key }),
      "config",
      /has both LIFEBOAT_AZURE_ACCOUNT_KEY and LIFEBOAT_AZURE_SAS_TOKEN: set only one/,
      key,
    );
    await rejectsWith(open("az://lifeboat/backups/x?sv=2022&sig=secret", { accountKey: key }), "config", /must not have a query.*SAS token goes in LIFEBOAT_AZURE_SAS_TOKEN/, "secret");
    await rejectsWith(open("https://example.com/backups/x", { accountKey: key }), "config", /not an Azure Blob endpoint/);
    await rejectsWith(open("az://lifeboat/Bad_Container/x", { accountKey: key }), "config", /container 'Bad_Container'.*lowercase/);
    await rejectsWith(open("az://lifeboat", { accountKey: key }), "config", /names no container/);
    await rejectsWith(open("az://lifeboat/backups/../x", { accountKey: key }), "config", /'\.\.' path segment/);
    await rejectsWith(open("az://lifeboat/backups/x", {}, { LIFEBOAT_AZURE_ACCOUNT_KEY: key, LIFEBOAT_AZURE_ACCESS_TIER: "Frozen" }), "config",
      /LIFEBOAT_AZURE_ACCESS_TIER \(or options\.az\.accessTier\) must be one of Hot, Cool, Cold, Archive/, key);
    await rejectsWith(open("az://lifeboat/backups/x", { sasToken: "not-a-token" }), "config", /LIFEBOAT_AZURE_SAS_TOKEN.*must be a SAS token/);
    await rejectsWith(open("az://lifeboat/backups/x", { accountKey: key, endpoint: "http://127.0.0.1:1/otheraccount" }), "config",
      /path '\/otheraccount', which is not the account '\/lifeboat'/, key);

    // Against the running emulator: a wrong key, a missing container.
    const wrong = openStore(azureUrl("x/"), { az: { endpoint, accountKey: btoa("not the key at all, but base64 of it") }, env: {} });
    await rejectsWith(wrong.put("k", new Uint8Array(1)), "auth", /check LIFEBOAT_AZURE_ACCOUNT_KEY/);
    const noContainer = azureStore("x/", {}, "no-such-container");
    await rejectsWith(noContainer.put("k", new Uint8Array(1)), "no_bucket", /create container 'no-such-container'/, key);
    // An unreachable endpoint fails after the retries, saying which endpoint.
    const down = openStore(azureUrl("x/"), {
      az: { endpoint: "http://127.0.0.1:9/lifeboat", accountKey: key, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } },
      env: {},
    });
    await rejectsWith(down.head("k"), "unavailable", /Check that http:\/\/127\.0\.0\.1:9\/lifeboat is up/, key);
  },
});

Deno.test({
  name: "azure store: Azurite does not implement immutability policies; a store asking for one says so",
  ignore,
  async fn() {
    const prefix = `test-${crypto.randomUUID().slice(0, 8)}/`;
    const store: Store = azureStore(prefix, { immutabilityDays: 1 });
    try {
      await rejectsWith(store.put("locked.bin", bytesOf(10)), "config", /does not implement .*immutability policies/);
    } finally {
      await emptyStore(azureStore(prefix));
    }
  },
});

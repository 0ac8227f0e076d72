// Tests for the S3 store against a real Ceph RGW (scripts/stack/s3.sh), with
// a fault-injecting proxy in front of it for the failure cases. No mocks.
//
// Reads the S3 settings from the env file named by LIFEBOAT_S3_ENV_FILE
// (default .lifeboat/s3.env). Without it the tests fail, unless
// LIFEBOAT_SKIP_S3=1, which registers them as ignored.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { AwsClient } from "aws4fetch";
import {
  openStore,
  type S3Options,
  type Store,
  StoreError,
} from "../../supabase/functions/_shared/store/mod.ts";
import { startFaultProxy } from "../../harness/fault_proxy.ts";

const MiB = 1024 * 1024;
const repoRoot = new URL("../../", import.meta.url).pathname;
const skip = Deno.env.get("LIFEBOAT_SKIP_S3") === "1";
const envFile = Deno.env.get("LIFEBOAT_S3_ENV_FILE") ??
  `${Deno.env.get("LIFEBOAT_STACK_DIR") ?? `${repoRoot}.lifeboat`}/s3.env`;

interface S3Env {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

function loadEnv(): S3Env {
  let text: string;
  try {
    text = Deno.readTextFileSync(envFile);
  } catch {
    throw new Error(
      `S3 test settings not found at ${envFile}. Start the local S3 (scripts/stack.sh start, which writes ` +
        `.lifeboat/s3.env), or point LIFEBOAT_S3_ENV_FILE at an env file, or set LIFEBOAT_SKIP_S3=1 to skip these tests.`,
    );
  }
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) vars[m[1]] = m[2].trim().replace(/^(['"])(.*)\1$/, "$2");
  }
  const need = (k: string) => {
    if (!vars[k]) {
      throw new Error(
        `${envFile} has no ${k}; regenerate it with scripts/stack.sh start.`,
      );
    }
    return vars[k];
  };
  return {
    endpoint: need("LIFEBOAT_S3_ENDPOINT"),
    region: vars.LIFEBOAT_S3_REGION || "us-east-1",
    bucket: need("LIFEBOAT_S3_BUCKET"),
    accessKeyId: need("LIFEBOAT_S3_ACCESS_KEY_ID"),
    secretAccessKey: need("LIFEBOAT_S3_SECRET_ACCESS_KEY"),
  };
}

/** Register an S3 test: it gets its own prefix, cleaned up afterwards. */
function s3test(
  name: string,
  fn: (
    t: { env: S3Env; open: (o?: S3Options) => Store; prefix: string },
  ) => Promise<void>,
) {
  Deno.test({
    name: `s3 store: ${name}`,
    ignore: skip,
    async fn() {
      const env = loadEnv();
      const prefix = `test-${crypto.randomUUID()}/`;
      const settings = {
        endpoint: env.endpoint,
        region: env.region,
        accessKeyId: env.accessKeyId,
        secretAccessKey: env.secretAccessKey,
      };
      const open = (o: S3Options = {}) =>
        openStore(`s3://${env.bucket}/${prefix}`, {
          env: {},
          s3: { ...settings, ...o },
        });
      try {
        await fn({ env, open, prefix });
      } finally {
        const store = open();
        for await (const o of store.list()) await store.delete(o.key);
      }
    },
  });
}

const enc = new TextEncoder();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const fast = { attempts: 4, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 5_000 };

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function hashStream(
  s: ReadableStream<Uint8Array>,
): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const c of s) {
    h.update(c);
    size += c.byteLength;
  }
  return { sha256: h.digest("hex"), size };
}

/** Deterministic pseudo-random bytes, produced on demand in `chunk`-sized
 * pieces; `onPull` sees the running total before each chunk is produced. */
function generated(
  total: number,
  chunk: number,
  onPull?: (pulled: number) => void,
) {
  const h = createHash("sha256");
  let pulled = 0;
  let x = 42;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      onPull?.(pulled);
      if (pulled >= total) return c.close();
      const n = Math.min(chunk, total - pulled);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        x = (x * 1664525 + 1013904223) >>> 0;
        b[i] = x;
        b[i + 1] = x >>> 8;
        b[i + 2] = x >>> 16;
        b[i + 3] = x >>> 24;
      }
      h.update(b);
      pulled += n;
      c.enqueue(b);
    },
  }, { highWaterMark: 0 });
  return { stream, sha256: () => h.digest("hex") };
}

async function rejectsWith(
  p: Promise<unknown>,
  code: StoreError["code"],
  re?: RegExp,
): Promise<StoreError> {
  let caught: StoreError | undefined;
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    caught = err;
    return true;
  });
  return caught!;
}

function assertNoSecrets(message: string, env: S3Env) {
  assert.ok(
    !message.includes(env.secretAccessKey),
    `secret key leaked into: ${message}`,
  );
  assert.ok(
    !message.includes(env.accessKeyId),
    `access key id leaked into: ${message}`,
  );
}

if (!skip) {
  Deno.test("s3 store: test settings are present", () => void loadEnv());
}

s3test("small put/get/head/list/delete", async ({ open, env }) => {
  const store = open();
  assert.match(store.describe(), new RegExp(`^s3://${env.bucket}/test-`));
  assertNoSecrets(store.describe(), env);
  const a = enc.encode("hello from lifeboat");
  const b = crypto.getRandomValues(new Uint8Array(64 * 1024));
  const putA = await store.put("a.txt", a, { contentType: "text/plain" });
  assert.deepEqual([putA.key, putA.size, putA.sha256], [
    "a.txt",
    a.length,
    sha(a),
  ]);
  const putB = await store.put(
    "dir/b.bin",
    ReadableStream.from([b.subarray(0, 1000), b.subarray(1000)]),
  );
  assert.equal(putB.sha256, sha(b));
  await store.put("dir/empty", new Uint8Array(0));

  assert.deepEqual(await store.getBytes("a.txt"), a);
  assert.deepEqual(await hashStream(await store.get("dir/b.bin")), {
    sha256: sha(b),
    size: b.length,
  });
  const head = await store.head("dir/b.bin");
  assert.equal(head?.size, b.length);
  assert.equal(head?.sha256, sha(b));
  assert.ok(head?.lastModified instanceof Date);
  assert.equal((await store.head("dir/empty"))?.size, 0);
  assert.equal(await store.head("nope"), null);
  await rejectsWith(store.getBytes("nope"), "not_found");
  await rejectsWith(store.get("nope"), "not_found");
  await rejectsWith(store.put("../x", a), "invalid_key");

  assert.deepEqual((await collect(store.list())).map((o) => [o.key, o.size]), [
    ["a.txt", a.length],
    ["dir/b.bin", b.length],
    ["dir/empty", 0],
  ]);
  assert.deepEqual((await collect(store.list("dir/"))).map((o) => o.key), [
    "dir/b.bin",
    "dir/empty",
  ]);

  await store.delete("a.txt");
  await store.delete("a.txt"); // missing: fine
  assert.equal(await store.head("a.txt"), null);
  assert.deepEqual((await collect(store.list())).map((o) => o.key), [
    "dir/b.bin",
    "dir/empty",
  ]);
});

s3test("list follows continuation tokens", async ({ env, open }) => {
  const proxy = await startFaultProxy(env.endpoint);
  try {
    const store = open({ endpoint: proxy.url, listPageSize: 7 });
    const keys = Array.from(
      { length: 30 },
      (_, i) => `many/k${String(i).padStart(2, "0")}`,
    );
    await Promise.all(keys.map((k) => store.put(k, enc.encode(k))));
    await store.put("other", enc.encode("not listed under many/"));
    const listed = await collect(store.list("many/"));
    assert.deepEqual(listed.map((o) => o.key), keys);
    assert.equal(proxy.count({ method: "GET", query: /list-type=2/ }), 5); // 7+7+7+7+2
  } finally {
    await proxy.close();
  }
});

s3test(
  "20 MiB streamed multipart round trip with bounded memory",
  async ({ env, open }) => {
    const proxy = await startFaultProxy(env.endpoint);
    try {
      const partSize = 5 * MiB;
      const concurrency = 2;
      const chunk = 256 * 1024;
      const store = open({ endpoint: proxy.url, partSize, concurrency });
      // Bytes read from the source but not yet acknowledged by S3 must stay
      // within the in-flight parts, the part being filled and one chunk.
      let maxAhead = 0;
      const src = generated(20 * MiB, chunk, (pulled) => {
        const acked = proxy.deliveredBodyBytes({
          method: "PUT",
          query: /partNumber=/,
        });
        maxAhead = Math.max(maxAhead, pulled - acked);
      });
      const put = await store.put("big/stream.bin", src.stream);
      assert.equal(put.size, 20 * MiB);
      assert.equal(put.sha256, src.sha256());
      assert.ok(
        maxAhead <= (concurrency + 1) * partSize + chunk,
        `read ${maxAhead} bytes ahead of S3`,
      );
      assert.equal(proxy.count({ method: "PUT", query: /partNumber=/ }), 4);
      assert.equal(proxy.count({ method: "POST", query: /^uploads/ }), 1);

      const head = await store.head("big/stream.bin");
      assert.equal(head?.size, 20 * MiB);
      assert.equal(head?.sha256, put.sha256);
      assert.deepEqual(await hashStream(await store.get("big/stream.bin")), {
        sha256: put.sha256,
        size: 20 * MiB,
      });

      // A large Uint8Array body goes multipart too, with the hash known up front.
      const bytes = new Uint8Array(
        await new Response(generated(6 * MiB, MiB).stream).arrayBuffer(),
      );
      const put2 = await store.put("big/bytes.bin", bytes, {
        sha256: sha(bytes),
      });
      assert.equal(put2.sha256, sha(bytes));
      assert.equal((await store.head("big/bytes.bin"))?.sha256, sha(bytes));
      assert.deepEqual(await store.getBytes("big/bytes.bin"), bytes);
    } finally {
      await proxy.close();
    }
  },
);

s3test(
  "retries 5xx, throttling, stalls and resets, then succeeds",
  async ({ env, open }) => {
    const proxy = await startFaultProxy(env.endpoint);
    try {
      const store = open({
        endpoint: proxy.url,
        partSize: 5 * MiB,
        concurrency: 2,
        retry: { ...fast, attempts: 5, timeoutMs: 1_500 },
      });
      const key = /\/retry\//;

      // Single PUT: two 500s.
      proxy.inject({
        method: "PUT",
        path: key,
        fault: { kind: "status", status: 500 },
        times: 2,
      });
      const small = enc.encode("small");
      await store.put("retry/small", small);
      assert.equal(proxy.count({ method: "PUT", path: /retry\/small/ }), 3);

      // Multipart: SlowDown, a reset and a 429 on parts, a stall on Complete,
      // a reset on the final HEAD.
      proxy.inject({
        method: "PUT",
        query: /partNumber=1&/,
        fault: { kind: "status", status: 503, code: "SlowDown" },
      });
      proxy.inject({
        method: "PUT",
        query: /partNumber=2&/,
        fault: { kind: "reset" },
      });
      proxy.inject({
        method: "PUT",
        query: /partNumber=3&/,
        fault: { kind: "status", status: 429, code: "TooManyRequests" },
      });
      proxy.inject({
        method: "POST",
        query: /^uploadId=/,
        fault: { kind: "stall" },
      });
      proxy.inject({ method: "HEAD", path: key, fault: { kind: "reset" } });
      const src = generated(12 * MiB, 128 * 1024);
      const put = await store.put("retry/multi", src.stream);
      assert.equal(put.sha256, src.sha256());
      assert.equal(proxy.count({ method: "PUT", query: /partNumber=/ }), 6); // 3 parts + 3 retries
      assert.ok(proxy.count({ method: "POST", query: /^uploadId=/ }) >= 2);

      // Responses lost after the server acted: the retried Complete finds
      // the upload gone (NoSuchUpload) and must recognise its own success.
      proxy.inject({
        method: "PUT",
        path: /retry\/lost/,
        query: /^$/,
        fault: { kind: "lose_response" },
      });
      proxy.inject({
        method: "POST",
        query: /^uploadId=/,
        fault: { kind: "lose_response" },
      });
      const lost = generated(6 * MiB, MiB);
      assert.equal(
        (await store.put("retry/lost", lost.stream)).sha256,
        lost.sha256(),
      );
      assert.equal(
        proxy.count({
          method: "POST",
          path: /retry\/lost/,
          query: /^uploadId=/,
        }),
        2,
      );
      const once = enc.encode("once");
      proxy.inject({
        method: "PUT",
        path: /retry\/lost-small/,
        fault: { kind: "lose_response" },
      });
      assert.equal(
        (await store.put("retry/lost-small", once)).sha256,
        sha(once),
      );
      assert.equal(
        proxy.count({ method: "PUT", path: /retry\/lost-small/ }),
        2,
      );
      await store.delete("retry/lost");
      await store.delete("retry/lost-small");

      // Reads: a stalled GET, a reset GET, a 503 on listing, a reset on HEAD.
      proxy.inject({
        method: "GET",
        path: /retry\/multi/,
        fault: { kind: "stall" },
      });
      proxy.inject({
        method: "GET",
        path: /retry\/multi/,
        fault: { kind: "reset" },
      });
      assert.deepEqual(await hashStream(await store.get("retry/multi")), {
        sha256: put.sha256,
        size: 12 * MiB,
      });
      proxy.inject({
        method: "GET",
        query: /list-type=2/,
        fault: { kind: "status", status: 503 },
      });
      assert.deepEqual(
        (await collect(store.list("retry/"))).map((o) => o.key),
        ["retry/multi", "retry/small"],
      );
      proxy.inject({ method: "HEAD", fault: { kind: "reset" } });
      assert.equal((await store.head("retry/small"))?.sha256, sha(small));
      proxy.inject({
        method: "GET",
        path: /retry\/small/,
        fault: { kind: "status", status: 502 },
      });
      assert.deepEqual(await store.getBytes("retry/small"), small);
      proxy.inject({
        method: "DELETE",
        fault: { kind: "status", status: 500 },
      });
      await store.delete("retry/small");
      assert.equal(await store.head("retry/small"), null);
    } finally {
      await proxy.close();
    }
  },
);

s3test(
  "a store that keeps failing fails loudly, without secrets",
  async ({ env, open }) => {
    const proxy = await startFaultProxy(env.endpoint);
    try {
      const attempts = 3;
      const store = open({
        endpoint: proxy.url,
        partSize: 5 * MiB,
        retry: { ...fast, attempts, timeoutMs: 500 },
      });

      proxy.inject({
        fault: { kind: "status", status: 503, code: "SlowDown" },
        times: Infinity,
      });
      const t0 = Date.now();
      const err = await rejectsWith(
        store.put("down/x", enc.encode("x")),
        "unavailable",
        /failed 3 times/,
      );
      assert.match(err.message, /503 SlowDown/);
      assert.match(
        err.message,
        new RegExp(proxy.url.replace(/[.:/]/g, "\\$&")),
      );
      assert.match(err.message, /is up and reachable/);
      assertNoSecrets(err.message, env);
      assert.equal(proxy.count({ method: "PUT" }), attempts);
      assert.ok(
        Date.now() - t0 < 5_000,
        "bounded retries should give up quickly",
      );
      proxy.clearFaults();

      proxy.inject({
        method: "GET",
        fault: { kind: "stall" },
        times: Infinity,
      });
      const stalled = await rejectsWith(
        store.getBytes("down/x"),
        "unavailable",
        /timed out/,
      );
      assertNoSecrets(stalled.message, env);
      proxy.clearFaults();

      // Parts keep failing: the put fails, the multipart upload is aborted and
      // nothing is left behind, neither object nor upload.
      proxy.inject({
        method: "PUT",
        query: /partNumber=/,
        fault: { kind: "reset" },
        times: Infinity,
      });
      const e2 = await rejectsWith(
        store.put("down/big", generated(11 * MiB, 1 * MiB).stream),
        "unavailable",
        /UploadPart/,
      );
      assertNoSecrets(e2.message, env);
      assert.ok(
        proxy.count({ method: "DELETE", query: /^uploadId=/ }) >= 1,
        "upload was not aborted",
      );
      proxy.clearFaults();
      assert.equal(await store.head("down/big"), null);
      const client = new AwsClient({ ...env, service: "s3", retries: 0 });
      const res = await client.fetch(
        `${env.endpoint}/${env.bucket}?uploads=&prefix=${
          encodeURIComponent("test-")
        }`,
      );
      const xml = await res.text();
      assert.equal(res.status, 200, xml);
      assert.ok(
        !xml.includes("down/big"),
        `multipart upload left behind: ${xml}`,
      );

      // Nothing listening at all.
      await proxy.close();
      const gone = open({
        endpoint: proxy.url,
        retry: { ...fast, attempts: 2 },
      });
      const e3 = await rejectsWith(
        gone.put("down/y", enc.encode("y")),
        "unavailable",
        /network error/,
      );
      assertNoSecrets(e3.message, env);
    } finally {
      await proxy.close();
    }
  },
);

s3test(
  "wrong credentials or bucket give clear errors and are not retried",
  async ({ env, open, prefix }) => {
    const proxy = await startFaultProxy(env.endpoint);
    try {
      const wrongSecret = open({
        endpoint: proxy.url,
        secretAccessKey: "not-the-secret-0123456789abcdefghijklmno",
      });
      const e1 = await rejectsWith(
        wrongSecret.put("auth/x", enc.encode("x")),
        "auth",
        /LIFEBOAT_S3_SECRET_ACCESS_KEY/,
      );
      assert.match(e1.message, /403 SignatureDoesNotMatch/);
      assert.equal(e1.status, 403);
      assert.equal(
        proxy.count({ method: "PUT" }),
        1,
        "auth failures must not be retried",
      );
      assert.ok(!e1.message.includes("not-the-secret"));

      const wrongKey = open({
        endpoint: proxy.url,
        accessKeyId: "NOSUCHKEY00000000000",
      });
      const e2 = await rejectsWith(
        wrongKey.getBytes("auth/x"),
        "auth",
        /InvalidAccessKeyId.*LIFEBOAT_S3_ACCESS_KEY_ID/,
      );
      assert.ok(!e2.message.includes("NOSUCHKEY0000"));
      await rejectsWith(
        wrongKey.head("auth/x"),
        "auth",
        /LIFEBOAT_S3_ACCESS_KEY_ID/,
      );
      await rejectsWith(collect(wrongKey.list()), "auth", /InvalidAccessKeyId/);

      const noBucket = openStore(`s3://no-such-bucket-lifeboat/${prefix}`, {
        env: {
          LIFEBOAT_S3_ENDPOINT: proxy.url,
          LIFEBOAT_S3_REGION: env.region,
          LIFEBOAT_S3_ACCESS_KEY_ID: env.accessKeyId,
          LIFEBOAT_S3_SECRET_ACCESS_KEY: env.secretAccessKey,
        },
      });
      await rejectsWith(
        noBucket.put("x", enc.encode("x")),
        "no_bucket",
        /create bucket 'no-such-bucket-lifeboat'/,
      );
      for (const e of [e1, e2]) assertNoSecrets(e.message, env);
    } finally {
      await proxy.close();
    }
  },
);

s3test(
  "integrity: a body that does not match the expected sha256 is not stored",
  async ({ open }) => {
    const store = open({ partSize: 5 * MiB });
    await rejectsWith(
      store.put("bad/small", enc.encode("abc"), { sha256: "0".repeat(64) }),
      "integrity",
    );
    assert.equal(await store.head("bad/small"), null);
    const src = generated(6 * MiB, 1 * MiB);
    await rejectsWith(
      store.put("bad/big", src.stream, { sha256: "1".repeat(64) }),
      "integrity",
    );
    assert.equal(await store.head("bad/big"), null);
  },
);

Deno.test({
  name:
    "s3 store: config errors name the variable to set and never echo secrets",
  fn() {
    const secret = "super-secret-value-1234567890";
    assert.throws(
      () =>
        openStore("s3://lifeboat/x", {
          env: { LIFEBOAT_S3_SECRET_ACCESS_KEY: secret },
        }),
      (e: unknown) => {
        assert.ok(e instanceof StoreError && e.code === "config");
        assert.match(e.message, /LIFEBOAT_S3_ENDPOINT .*missing/);
        assert.match(e.message, /LIFEBOAT_S3_ACCESS_KEY_ID .*missing/);
        assert.ok(!e.message.includes(secret));
        return true;
      },
    );
    assert.throws(
      () => openStore("s3://u:p@lifeboat/x", { env: {} }),
      /Do not put credentials/,
    );
    assert.throws(
      () =>
        openStore("s3://lifeboat", {
          env: {},
          s3: {
            endpoint: "http://x",
            accessKeyId: "a",
            secretAccessKey: "b",
            partSize: 1,
          },
        }),
      /partSize must be at least 5 MiB/,
    );
    const store = openStore("s3://lifeboat/some/prefix", {
      env: {},
      s3: {
        endpoint: "http://127.0.0.1:1",
        region: "eu-west-1",
        accessKeyId: "AKIA",
        secretAccessKey: secret,
      },
    });
    assert.equal(
      store.describe(),
      "s3://lifeboat/some/prefix/ at http://127.0.0.1:1 (region eu-west-1)",
    );
  },
});

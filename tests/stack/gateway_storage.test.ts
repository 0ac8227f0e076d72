// The local gateway in front of Storage and functions, as the Supabase CLI's Kong is: request
// and response bodies stream through it (a big upload round-trips with its sha256, with and
// without Content-Length), and it answers CORS (preflight and the response header) on both
// /storage/v1 and /functions/v1 before any key or JWT check.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { secretKey, stackEnv } from "../../harness/stack.ts";
import { StorageApi } from "../../supabase/functions/_shared/source/storage/mod.ts";
import { hashStream } from "../../supabase/functions/_shared/verify/mod.ts";

const apiBase = () => `http://127.0.0.1:${stackEnv("LIFEBOAT_API_PORT")}`;

/** `total` pseudo-random bytes in 1 MiB chunks, and the sha256 of what was produced. */
function randomStream(total: number): { stream: ReadableStream<Uint8Array>; sha256: () => string } {
  const h = createHash("sha256");
  let left = total;
  const stream = new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (left <= 0) return ctl.close();
      const b = new Uint8Array(Math.min(left, 1 << 20));
      for (let at = 0; at < b.length; at += 65536) crypto.getRandomValues(b.subarray(at, Math.min(b.length, at + 65536)));
      h.update(b);
      left -= b.length;
      ctl.enqueue(b);
    },
  });
  return { stream, sha256: () => h.digest("hex") };
}

Deno.test("gateway: a 40 MiB Storage upload streams through /storage/v1 both ways with its sha256 (chunked and with Content-Length)", async () => {
  // Through the gateway with the secret key, as a user's client reaches a project.
  const api = new StorageApi({ url: apiBase(), key: secretKey() });
  const bucket = `gw-big-${crypto.randomUUID().slice(0, 8)}`;
  await api.createBucket(bucket, { public: false, fileSizeLimit: null, allowedMimeTypes: null });
  try {
    const size = 40 * 1024 * 1024;
    // A stream body: no Content-Length, chunked transfer through the gateway.
    const src = randomStream(size);
    await api.upload(bucket, "streamed.bin", src.stream);
    const d = await api.download(bucket, "streamed.bin");
    assert.ok(d, "the streamed upload is served");
    assert.equal(d.size, size);
    assert.deepEqual(await hashStream(d.body), { sha256: src.sha256(), size });

    // A byte body: Content-Length passes through the gateway.
    const bytes = new Uint8Array(size);
    for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, at + 65536));
    await api.upload(bucket, "sized.bin", bytes);
    const e = await api.download(bucket, "sized.bin");
    assert.ok(e);
    assert.deepEqual(await hashStream(e.body), { sha256: createHash("sha256").update(bytes).digest("hex"), size });

    // Storage's own record of it (the ETag restore relies on) is the MD5 of the bytes.
    const info = await api.info(bucket, "sized.bin");
    assert.deepEqual(info, { size, etag: createHash("md5").update(bytes).digest("hex") });
    assert.equal(await api.info(bucket, "absent.bin"), null);
  } finally {
    await api.removeBucket(bucket);
  }
});

Deno.test("gateway: CORS preflight on /storage/v1 and /functions/v1 is answered before any key check, as Kong's cors plugin does", async () => {
  const preflight = (path: string) =>
    fetch(`${apiBase()}${path}`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, x-client-info, apikey, content-type, x-upsert",
      },
    });
  // No key at all: the preflight still passes (browsers send none), for both routes.
  for (const path of ["/storage/v1/object/avatars/a.png", "/functions/v1/backup-export"]) {
    const r = await preflight(path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get("access-control-allow-origin"), "*", path);
    assert.equal(r.headers.get("access-control-allow-methods"), "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT", path);
    assert.equal(r.headers.get("access-control-allow-headers"), "authorization, x-client-info, apikey, content-type, x-upsert", path);
    assert.equal(await r.text(), "", path);
  }

  // A browser's actual request gets Access-Control-Allow-Origin on the upstream's answer,
  // refusals included (a browser must be able to read the 401).
  let r = await fetch(`${apiBase()}/storage/v1/bucket`, { headers: { origin: "http://localhost:3000", apikey: secretKey() } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  assert.ok(Array.isArray(await r.json()));
  r = await fetch(`${apiBase()}/storage/v1/bucket`, { headers: { origin: "http://localhost:3000", apikey: "sb_secret_wrong" } });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  await r.body?.cancel();
  r = await fetch(`${apiBase()}/functions/v1/health?probe=liveness`, { headers: { origin: "http://localhost:3000" } });
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  await r.body?.cancel();

  // Without Origin nothing is added, and an OPTIONS that is not a preflight reaches upstream.
  r = await fetch(`${apiBase()}/storage/v1/bucket`, { headers: { apikey: secretKey() } });
  assert.equal(r.headers.get("access-control-allow-origin"), null);
  await r.body?.cancel();
  r = await fetch(`${apiBase()}/functions/v1/health`, { method: "OPTIONS" });
  assert.equal(r.status, 204, "the health function's own answer to OPTIONS");
  await r.body?.cancel();
});

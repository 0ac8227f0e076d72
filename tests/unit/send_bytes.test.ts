/**
 * The stores' byte-body sender (store/send_bytes.ts) against a local HTTP server: the body
 * arrives whole with its Content-Length, a response's status, headers and body come back as a
 * standard Response (no body for 204 and HEAD), and failures look like fetch's (a TypeError for
 * a refused connection, the signal's reason for an abort), which is what the retry rules expect.
 */
import assert from "node:assert/strict";
import { sendBytes } from "../../supabase/functions/_shared/store/send_bytes.ts";
import { isTransient } from "../../supabase/functions/_shared/store/retry.ts";

async function withServer(fn: (base: string) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/slow") await new Promise((r) => setTimeout(r, 5000));
    const body = new Uint8Array(await req.arrayBuffer());
    let sum = 0;
    for (const b of body) sum = (sum + b) % 65521;
    if (url.pathname === "/empty") return new Response(null, { status: 204, headers: { etag: '"e"' } });
    return new Response(`${req.method} ${body.byteLength} ${req.headers.get("content-length")} ${sum} ${req.headers.get("x-test")}`, {
      status: url.pathname === "/missing" ? 404 : 200,
      headers: { etag: '"abc"' },
    });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

Deno.test("sendBytes: the body arrives whole with its length, the response is a standard one", async () => {
  await withServer(async (base) => {
    const body = new Uint8Array(3 * 1024 * 1024 + 7);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    let sum = 0;
    for (const b of body) sum = (sum + b) % 65521;
    const res = await sendBytes(`${base}/part?partNumber=1&uploadId=x`, { method: "PUT", headers: { "x-test": "yes" }, body });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("etag"), '"abc"');
    assert.equal(await res.text(), `PUT ${body.length} ${body.length} ${sum} yes`);

    const missing = await sendBytes(`${base}/missing`, { method: "POST", headers: new Headers(), body: new Uint8Array(0) });
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "POST 0 0 0 null");

    const empty = await sendBytes(`${base}/empty`, { method: "PUT", headers: {}, body: new Uint8Array(5) });
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
    assert.equal(empty.headers.get("etag"), '"e"');
  });
});

Deno.test("sendBytes: failures look like fetch's (TypeError when refused, the signal's reason when aborted)", async () => {
  // A port nothing listens on: bind one, then close it.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const refused = await sendBytes(`http://127.0.0.1:${port}/x`, { method: "PUT", headers: {}, body: new Uint8Array(10) }).then(
    () => null,
    (e) => e,
  );
  assert.ok(refused instanceof TypeError, `a TypeError, got ${refused}`);
  assert.ok(isTransient(refused));

  await withServer(async (base) => {
    const ac = new AbortController();
    const reason = new DOMException("attempt timed out", "TimeoutError");
    const p = sendBytes(`${base}/slow`, { method: "PUT", headers: {}, body: new Uint8Array(10), signal: ac.signal });
    setTimeout(() => ac.abort(reason), 50);
    await assert.rejects(p, (e) => e === reason);
    await assert.rejects(
      sendBytes(`${base}/x`, { method: "PUT", headers: {}, body: new Uint8Array(1), signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
  });
});

/**
 * Sends a request whose body is bytes in memory (an S3 part, a small object, a
 * CompleteMultipartUpload document) with `node:http`/`node:https` instead of `fetch`.
 *
 * Why: Deno's `fetch` copies a `Uint8Array` body into a buffer of its own, which nothing can
 * free but V8's collector, and V8 collects array buffers only once some 64 MB of them have
 * piled up. Measured (bench/storage/RESULTS.md, run 3): sixty 5 MiB PUTs in a row peak at 74 MB
 * of `external` memory and 124-129 MB RSS through `fetch` whether or not the caller frees its
 * buffer once sent; through `node:http`, which writes the caller's buffer to the socket without
 * a copy, 6 MB and 56 MB when the caller frees it (75 MB when it does not). So a store that
 * frees each part once sent (parts.ts) holds only the parts in flight.
 *
 * The result is a standard `Response` and failures look like `fetch`'s: a network failure is a
 * `TypeError` (its cause says why), an abort rejects with the signal's reason, so the retry
 * rules (retry.ts) apply unchanged. Responses with a body are read with `fetch`-like streams;
 * downloads keep using `fetch`, whose response stream is the faster one in Deno.
 * @module
 */
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

// Connections are kept and reused, as fetch's client does.
const agents = {
  http: new http.Agent({ keepAlive: true }),
  https: new https.Agent({ keepAlive: true }),
};

/** What {@link sendBytes} sends. */
export interface BytesRequest {
  method: string;
  headers: Headers | Record<string, string>;
  body: Uint8Array;
  signal?: AbortSignal;
}

/**
 * Sends `req` to `url` (http or https) with `Content-Length` set and resolves with the
 * response once its headers arrived. The body is written as it is: the caller must not change
 * or free it until the promise settles.
 */
export function sendBytes(url: string, req: BytesRequest): Promise<Response> {
  const u = new URL(url);
  const secure = u.protocol === "https:";
  if (!secure && u.protocol !== "http:") return Promise.reject(new TypeError(`cannot send to a ${u.protocol} URL`));
  const headers: Record<string, string> = {};
  new Headers(req.headers).forEach((v, k) => (headers[k] = v));
  headers["content-length"] = String(req.body.byteLength);
  const signal = req.signal;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const lib = secure ? https : http;
    const r = lib.request({
      protocol: u.protocol,
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: u.port ? Number(u.port) : undefined,
      path: `${u.pathname}${u.search}`,
      method: req.method,
      headers,
      agent: secure ? agents.https : agents.http,
    }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [v]) h.append(k, String(one));
      }
      const status = res.statusCode ?? 502;
      if (NULL_BODY.has(status) || req.method === "HEAD") {
        res.resume();
        resolve(new Response(null, { status, statusText: res.statusMessage, headers: h }));
        return;
      }
      resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status, statusText: res.statusMessage, headers: h }));
    });
    const onAbort = () => {
      r.destroy();
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    r.on("close", () => signal?.removeEventListener("abort", onAbort));
    // As fetch reports it: a TypeError whose cause says why (connection refused, reset…).
    r.on("error", (err) => reject(signal?.aborted ? signal.reason : new TypeError("fetch failed", { cause: err })));
    r.end(req.body);
  });
}

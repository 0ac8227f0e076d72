/**
 * Forwards a request that has a body (an upload) to a loopback upstream with `node:http`,
 * streaming the body through without buffering it.
 *
 * Why not `fetch`: a request body read from `Deno.serve` and handed to `fetch` as a stream
 * crawled when the client was itself Deno's `fetch` (a 256 MiB Storage upload from a Deno
 * client through the gateway took 150 s, against 5.5 s straight to Storage; curl's were not
 * slowed). Piped into `node:http` the same upload runs at the upstream's speed. Responses to
 * uploads are small; downloads (no request body) keep using `fetch`, whose response stream
 * is faster than `node:http`'s in Deno.
 * @module
 */
import http from "node:http";
import { Readable } from "node:stream";

/** Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and Host. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"];

/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Sends `method url` with `body` streamed and resolves with the upstream's response (its
 * body streamed too). Rejects when the upstream cannot be reached; `signal` (the client going
 * away) destroys the upstream request.
 */
export function forwardWithBody(
  url: string,
  method: string,
  headers: Headers,
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): Promise<Response> {
  const out: Record<string, string> = {};
  headers.forEach((v, k) => {
    if (!HOP_BY_HOP.includes(k)) out[k] = v;
  });
  const u = new URL(url);
  return new Promise<Response>((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: Number(u.port), path: `${u.pathname}${u.search}`, method, headers: out }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (v === undefined || HOP_BY_HOP.includes(k)) continue;
        for (const one of Array.isArray(v) ? v : [v]) h.append(k, String(one));
      }
      const status = res.statusCode ?? 502;
      if (NULL_BODY.has(status) || method === "HEAD") {
        res.resume();
        resolve(new Response(null, { status, statusText: res.statusMessage, headers: h }));
        return;
      }
      resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status, statusText: res.statusMessage, headers: h }));
    });
    req.on("error", reject);
    const stop = () => req.destroy(new Error("the client went away"));
    if (signal.aborted) return stop();
    signal.addEventListener("abort", stop, { once: true });
    req.on("close", () => signal.removeEventListener("abort", stop));
    const source = Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>);
    source.on("error", (err) => req.destroy(err));
    source.pipe(req);
  });
}

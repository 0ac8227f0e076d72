/**
 * A fault-injecting HTTP/1.1 proxy for tests: sits on 127.0.0.1 (random
 * port) in front of a real server and, by a programmable plan, answers
 * matching requests with an error status, stalls them (never answers), or
 * drops the connection without a response. Everything else is forwarded
 * untouched, byte for byte, so SigV4 signatures (which cover the Host
 * header) stay valid.
 *
 * It works at the TCP level rather than with Deno.serve + fetch because an
 * HTTP server API cannot close a connection without answering, and fetch
 * would rewrite the Host header. Each connection carries one request
 * (responses are forced to `Connection: close`), so every request is seen
 * and counted.
 *
 * ```ts
 * const proxy = await startFaultProxy("http://127.0.0.1:54330");
 * proxy.inject({ method: "PUT", fault: { kind: "status", status: 503, code: "SlowDown" }, times: 2 });
 * // point the client at proxy.url ...
 * await proxy.close();
 * ```
 *
 * @module
 */

/** What to do to a matching request. */
export type Fault =
  /** Answer with this status and an S3-style XML error body. */
  | {
    kind: "status";
    status: number;
    code?: string;
    retryAfterSeconds?: number;
  }
  /** Read the request, then never answer (until the client gives up). */
  | { kind: "stall" }
  /** Read the request, then close the connection without a response. */
  | { kind: "reset" }
  /** Forward the request (so the server acts on it), then drop the
   * connection instead of relaying the response. */
  | { kind: "lose_response" }
  /** Forward the request after `ms` milliseconds: a distant server's round trip. */
  | { kind: "delay"; ms: number };

/** Which requests a fault applies to, and how many times. */
export interface FaultRule {
  /** HTTP method, e.g. "PUT". Any if omitted. */
  method?: string;
  /** Matched against the path (without query). Strings match as substrings. */
  path?: RegExp | string;
  /** Matched against the raw query string (without '?'). */
  query?: RegExp | string;
  fault: Fault;
  /** How many matching requests to hit (default 1; `Infinity` for all). */
  times?: number;
}

/** A request the proxy has seen. */
export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  /** Request body size. */
  bodyBytes: number;
  /** The fault applied, if any. */
  fault?: Fault["kind"];
  /** Status sent back (injected or upstream's), once known. */
  status?: number;
  /** The full response reached the client. */
  done: boolean;
}

/** Filter for {@link FaultProxy.count}. */
export type RequestFilter = Pick<FaultRule, "method" | "path" | "query">;

/** A running proxy. */
export interface FaultProxy {
  /** Base URL to point clients at, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Every request seen so far, in arrival order. */
  readonly seen: readonly SeenRequest[];
  /** Add a rule; earlier rules win when several match. */
  inject(rule: FaultRule): void;
  /** Drop all rules (the request log is kept). */
  clearFaults(): void;
  /** How many requests matching `filter` were seen. */
  count(filter?: RequestFilter): number;
  /** Sum of request body bytes of matching requests whose responses were
   * fully delivered. */
  deliveredBodyBytes(filter?: RequestFilter): number;
  /** Stop listening, drop open connections, wait for handlers to finish. */
  close(): Promise<void>;
}

const MAX_HEAD = 64 * 1024;
const CRLF2 = new Uint8Array([13, 10, 13, 10]);

/** Start a proxy forwarding to `upstream` (an http:// URL). */
export function startFaultProxy(upstream: string | URL): Promise<FaultProxy> {
  const target = new URL(upstream);
  if (target.protocol !== "http:") {
    throw new Error("fault proxy: upstream must be an http:// URL");
  }
  const upstreamAddr = {
    hostname: target.hostname,
    port: Number(target.port || 80),
  };
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const rules: (FaultRule & { left: number })[] = [];
  const seen: SeenRequest[] = [];
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  let closing = false;

  const track = (c: Deno.Conn) => {
    conns.add(c);
    return c;
  };
  const drop = (c: Deno.Conn | undefined) => {
    if (!c) return;
    conns.delete(c);
    try {
      c.close();
    } catch { /* already closed */ }
  };

  const handle = async (client: Deno.Conn) => {
    let up: Deno.Conn | undefined;
    try {
      const req = await readRequest(client);
      if (!req) return;
      const entry: SeenRequest = {
        method: req.method,
        path: req.path,
        query: req.query,
        bodyBytes: req.body.byteLength,
        done: false,
      };
      seen.push(entry);
      const rule = rules.find((r) => r.left > 0 && matches(r, req));
      const loseResponse = rule?.fault.kind === "lose_response";
      if (rule && !loseResponse) {
        rule.left--;
        entry.fault = rule.fault.kind;
        switch (rule.fault.kind) {
          case "delay":
            await new Promise((r) => setTimeout(r, (rule.fault as { ms: number }).ms));
            break; // then forwarded like any other request
          case "reset":
            return; // finally closes without a byte of response
          case "stall":
            // Hold until the client hangs up (its timeout) or we shut down.
            while (
              !closing &&
              (await client.read(new Uint8Array(1024)).catch(() => null)) !==
                null
            ) {
              /* discard */
            }
            return;
          case "status": {
            const f = rule.fault;
            const body = req.method === "HEAD"
              ? ""
              : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${
                f.code ?? "InternalError"
              }</Code><Message>injected by fault proxy</Message></Error>`;
            const head = [
              `HTTP/1.1 ${f.status} Injected`,
              "Content-Type: application/xml",
              `Content-Length: ${new TextEncoder().encode(body).byteLength}`,
              ...(f.retryAfterSeconds !== undefined
                ? [`Retry-After: ${f.retryAfterSeconds}`]
                : []),
              "Connection: close",
              "",
              "",
            ].join("\r\n");
            await writeAll(client, new TextEncoder().encode(head + body));
            entry.status = f.status;
            entry.done = true;
            return;
          }
        }
      }
      // Forward: same bytes, except ask for (and promise) a closed connection.
      up = track(await Deno.connect(upstreamAddr));
      await writeAll(up, concat(req.rawHead, req.body));
      const resHead = await readHead(up);
      if (!resHead) return;
      entry.status = Number(
        new TextDecoder().decode(resHead.head).split(" ")[1],
      );
      if (rule && loseResponse) {
        rule.left--;
        entry.fault = rule.fault.kind;
        // Let the server finish its side, then hang up on the client.
        while (
          (await up.read(new Uint8Array(64 * 1024))) !== null
        ) { /* discard */ }
        return;
      }
      await writeAll(client, forceClose(resHead.head));
      if (resHead.rest.byteLength) await writeAll(client, resHead.rest);
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await up.read(buf);
        if (n === null) break;
        await writeAll(client, buf.subarray(0, n));
      }
      entry.done = true;
    } catch {
      // Client or upstream went away mid-request: nothing to report.
    } finally {
      drop(up);
      drop(client);
    }
  };

  const accepting = (async () => {
    for (;;) {
      let c: Deno.Conn;
      try {
        c = await listener.accept();
      } catch {
        return; // listener closed
      }
      const p = handle(track(c));
      handlers.add(p);
      p.finally(() => handlers.delete(p));
    }
  })();

  const filtered = (f: RequestFilter = {}) => seen.filter((s) => matches(f, s));
  const addr = listener.addr as Deno.NetAddr;
  return Promise.resolve({
    url: `http://127.0.0.1:${addr.port}`,
    seen,
    inject(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    clearFaults() {
      rules.length = 0;
    },
    count: (f) => filtered(f).length,
    deliveredBodyBytes: (f) =>
      filtered(f).filter((s) => s.done).reduce((a, s) => a + s.bodyBytes, 0),
    async close() {
      if (closing) return;
      closing = true;
      listener.close();
      await accepting;
      for (const c of [...conns]) drop(c);
      await Promise.allSettled([...handlers]);
    },
  });
}

interface ParsedRequest {
  method: string;
  path: string;
  query: string;
  rawHead: Uint8Array;
  body: Uint8Array;
}

function matches(
  rule: RequestFilter,
  req: { method: string; path: string; query: string },
): boolean {
  if (rule.method && rule.method.toUpperCase() !== req.method) return false;
  if (rule.path !== undefined && !test(rule.path, req.path)) return false;
  if (rule.query !== undefined && !test(rule.query, req.query)) return false;
  return true;
}

function test(m: RegExp | string, s: string): boolean {
  return typeof m === "string" ? s.includes(m) : m.test(s);
}

async function readRequest(
  conn: Deno.Conn,
): Promise<ParsedRequest | undefined> {
  const got = await readHead(conn);
  if (!got) return undefined;
  const text = new TextDecoder().decode(got.head);
  const [requestLine, ...headerLines] = text.split("\r\n");
  const [method, target] = requestLine.split(" ");
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const i = line.indexOf(":");
    if (i > 0) {
      headers.set(
        line.slice(0, i).trim().toLowerCase(),
        line.slice(i + 1).trim(),
      );
    }
  }
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    // Not needed by our clients (they always send Content-Length); say so.
    await writeAll(
      conn,
      new TextEncoder().encode(
        "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
      ),
    );
    return undefined;
  }
  const length = Number(headers.get("content-length") ?? 0);
  const body = new Uint8Array(length);
  let filled = Math.min(length, got.rest.byteLength);
  body.set(got.rest.subarray(0, filled));
  while (filled < length) {
    const n = await conn.read(body.subarray(filled));
    if (n === null) return undefined;
    filled += n;
  }
  const q = target.indexOf("?");
  return {
    method,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? "" : target.slice(q + 1),
    rawHead: forceClose(got.head),
    body,
  };
}

/** Read up to and including the blank line ending an HTTP head. */
async function readHead(
  conn: Deno.Conn,
): Promise<{ head: Uint8Array; rest: Uint8Array } | undefined> {
  let data: Uint8Array = new Uint8Array(0);
  const buf = new Uint8Array(16 * 1024);
  for (;;) {
    const end = indexOf(data, CRLF2);
    if (end >= 0) {
      return { head: data.subarray(0, end + 4), rest: data.subarray(end + 4) };
    }
    if (data.byteLength > MAX_HEAD) return undefined;
    const n = await conn.read(buf);
    if (n === null) return undefined;
    data = concat(data, buf.subarray(0, n));
  }
}

/** Replace any Connection/Keep-Alive header with `Connection: close`. */
function forceClose(head: Uint8Array): Uint8Array {
  const lines = new TextDecoder().decode(head).split("\r\n").filter((l) =>
    l !== ""
  );
  const kept = lines.filter((l, i) =>
    i === 0 || !/^(connection|keep-alive)\s*:/i.test(l)
  );
  return new TextEncoder().encode(
    [...kept, "Connection: close", "", ""].join("\r\n"),
  );
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await conn.write(data.subarray(off));
}

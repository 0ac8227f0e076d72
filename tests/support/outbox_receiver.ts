/**
 * A local HTTP receiver standing in for edge functions in the outbox tests: it records every
 * request (function name, headers as a plain object, raw body, arrival time) and answers per
 * function with a programmable handler, by default `{"received": <name>, "id": <outbox id>}`.
 * @module
 */

/** One request the receiver got. */
export interface Received {
  /** Function name from `/functions/v1/<name>`. */
  name: string;
  method: string;
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: string;
  /** Arrival time on `performance.now()`'s clock. */
  at: number;
}

/** What a programmed function answers. */
export interface Answer {
  status: number;
  body: string;
}

/** A running receiver on 127.0.0.1. */
export interface Receiver {
  readonly url: string;
  readonly requests: Received[];
  /** Programs function `name`: `answer(n)` gets the 1-based count of calls to it. */
  on(name: string, answer: (n: number) => Answer): void;
  close(): Promise<void>;
}

/** Starts a receiver on a free loopback port. */
export function listeningReceiver(): Promise<Receiver> {
  const requests: Received[] = [];
  const handlers = new Map<string, (n: number) => Answer>();
  const counts = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const at = performance.now();
    const path = new URL(req.url).pathname;
    const name = path.match(/^\/functions\/v1\/([^/]+)/)?.[1] ?? "";
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    requests.push({ name, method: req.method, path, headers, body: await req.text(), at });
    const n = (counts.get(name) ?? 0) + 1;
    counts.set(name, n);
    const handler = handlers.get(name);
    const answer = handler
      ? handler(n)
      : { status: 200, body: JSON.stringify({ received: name, id: headers["x-lifeboat-outbox-id"] }) };
    return new Response(answer.body, { status: answer.status, headers: { "content-type": "application/json" } });
  });
  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    on: (name, answer) => void handlers.set(name, answer),
    close: () => server.shutdown(),
  });
}

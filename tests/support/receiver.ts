/**
 * A local HTTP receiver for notification tests: records every request (method, path,
 * headers, raw body) and answers with a status chosen per path (a queue of statuses, then 200).
 * @module
 */

/** One request the receiver got. */
export interface Received {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: string;
}

/** A running receiver on 127.0.0.1. */
export class Receiver {
  readonly requests: Received[] = [];
  /** Statuses to answer per path, consumed in order; afterwards 200. */
  readonly plan = new Map<string, number[]>();
  #server: Deno.HttpServer<Deno.NetAddr>;
  #waiters: (() => void)[] = [];

  constructor() {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
      const url = new URL(req.url);
      this.requests.push({ method: req.method, path: url.pathname, search: url.search, headers: req.headers, body: await req.text() });
      for (const w of this.#waiters.splice(0)) w();
      const status = this.plan.get(url.pathname)?.shift() ?? 200;
      return new Response(status === 200 ? "ok" : "no", { status });
    });
  }

  /** Base URL, without a trailing slash. */
  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Requests to one path. */
  to(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Waits until `pred` holds or `ms` pass. */
  async waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Stops the server. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}

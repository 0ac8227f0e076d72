/**
 * HMAC-SHA256 signatures of Lifeboat's generic webhooks, and their verification for
 * receivers: `x-lifeboat-signature: sha256=<hex of HMAC(secret, "<timestamp>.<body>")>`.
 * @module
 */

const enc = new TextEncoder();

async function hmacHex(secret: string, data: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(data)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The signature header value for a body sent at `timestamp` (Unix seconds). */
export async function signWebhook(secret: string, timestamp: number, body: string): Promise<string> {
  return `sha256=${await hmacHex(secret, `${timestamp}.${body}`)}`;
}

/**
 * Verifies a received webhook: the signature matches the raw body and timestamp, and the
 * timestamp is within `toleranceSeconds` of `now` (a captured request cannot be replayed later).
 */
export async function verifyWebhook(
  secret: string,
  headers: Headers,
  rawBody: string,
  opts: { toleranceSeconds?: number; now?: Date } = {},
): Promise<boolean> {
  const ts = Number(headers.get("x-lifeboat-timestamp"));
  const sig = headers.get("x-lifeboat-signature") ?? "";
  if (!Number.isInteger(ts)) return false;
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - ts) > (opts.toleranceSeconds ?? 300)) return false;
  const want = await signWebhook(secret, ts, rawBody);
  if (want.length !== sig.length) return false;
  let diff = 0;
  for (let i = 0; i < want.length; i++) diff |= want.charCodeAt(i) ^ sig.charCodeAt(i);
  return diff === 0;
}

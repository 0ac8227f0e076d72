/**
 * Turning a decrypted, decompressed data part (`COPY … FROM stdin;`, rows, `\.`) into the
 * bare row stream a `COPY … FROM STDIN` on the target consumes, with bounded memory, and
 * hashing the stored bytes on the way in so a part changed after the pre-load check is still
 * caught before its COPY completes.
 * @module
 */
import { createHash } from "node:crypto";
import { IDENT, parseQName, type QName } from "./names.ts";

/** The parsed first line of a part. */
export interface CopyHeader {
  table: QName;
  /** The column list as written, e.g. `"id", "Name"`: validated to be only identifiers. */
  columns: string;
}

const HEADER_RE = new RegExp(`^COPY (${IDENT}\\.${IDENT}) \\(((?:${IDENT})(?:, ${IDENT})*)?\\) FROM stdin;$`);

/** Parses a part's COPY header; throws when it is not exactly the format's shape. */
export function parseCopyHeader(line: string): CopyHeader {
  const m = HEADER_RE.exec(line);
  if (!m) throw new Error("the data part does not start with a 'COPY \"schema\".\"table\" (columns) FROM stdin;' line");
  return { table: parseQName(m[1]), columns: m[2] ?? "" };
}

const MAX_HEADER = 1 << 20;
const TRAILER = [0x5c, 0x2e, 0x0a]; // "\.\n"

/**
 * Splits a part's plain stream into its header and the rows between the header and `\.`.
 * `rows` counts row lines as they pass (COPY text escapes newlines inside values).
 */
export async function splitPart(plain: ReadableStream<Uint8Array>): Promise<{
  header: CopyHeader;
  rows: ReadableStream<Uint8Array>;
  counted: () => number;
}> {
  const reader = plain.getReader();
  let buf = new Uint8Array(0);
  let nl = -1;
  while (nl < 0) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the data part ended before its COPY header line");
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
    nl = buf.indexOf(0x0a);
    if (nl < 0 && buf.length > MAX_HEADER) throw new Error("the data part's first line is not a COPY header");
  }
  const header = parseCopyHeader(new TextDecoder().decode(buf.subarray(0, nl)));
  let rest: Uint8Array | null = buf.subarray(nl + 1);
  let tail = new Uint8Array(0);
  let lines = 0;
  const countLines = (c: Uint8Array) => {
    let i = c.indexOf(0x0a);
    while (i >= 0) {
      lines++;
      i = c.indexOf(0x0a, i + 1);
    }
  };
  // Hold back the last three bytes: they must be the "\.\n" trailer, which COPY must not see.
  const feed = (c: Uint8Array, ctl: ReadableStreamDefaultController<Uint8Array>): boolean => {
    if (c.length === 0) return false;
    const all = tail.length === 0 ? c : concat(tail, c);
    if (all.length <= 3) {
      tail = all.slice();
      return false;
    }
    const out = all.subarray(0, all.length - 3);
    countLines(out);
    tail = all.slice(all.length - 3);
    ctl.enqueue(out);
    return true;
  };
  const rows = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (rest) {
        const r = rest;
        rest = null;
        if (feed(r, ctl)) return;
      }
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          if (tail.length !== 3 || tail[0] !== TRAILER[0] || tail[1] !== TRAILER[1] || tail[2] !== TRAILER[2]) {
            ctl.error(new Error("the data part does not end with the '\\.' terminator: it is truncated"));
            return;
          }
          ctl.close();
          return;
        }
        if (feed(value, ctl)) return;
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 4 });
  return { header, rows, counted: () => lines };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Passes stored bytes through unchanged and, at the end, fails the stream if their sha256 or
 * size differ from what the manifest says, so the COPY fed from it is aborted (rolled back).
 */
export function verifyingStream(expectedSha256: string, expectedSize: number, what: string): TransformStream<Uint8Array, Uint8Array> {
  const h = createHash("sha256");
  let size = 0;
  return new TransformStream({
    transform(chunk, ctl) {
      h.update(chunk);
      size += chunk.byteLength;
      ctl.enqueue(chunk);
    },
    flush() {
      const got = h.digest("hex");
      if (got !== expectedSha256 || size !== expectedSize) {
        throw new Error(`${what} changed in the store while it was being restored (sha256 mismatch): its rows were rolled back`);
      }
    },
  });
}

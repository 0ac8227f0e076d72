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

// The column list is absent for a table without columns (COPY takes no empty "()").
const HEADER_RE = new RegExp(`^COPY (${IDENT}\\.${IDENT})(?: \\(((?:${IDENT})(?:, ${IDENT})*)\\))? FROM stdin;$`);

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
 * `rows` counts row lines as they pass (COPY text escapes newlines inside values). With
 * `expectedRows`, a different count errors the rows stream at its end, before the consumer
 * sees it close, so a COPY fed from it is rolled back instead of committed.
 */
export async function splitPart(plain: ReadableStream<Uint8Array>, expectedRows?: number): Promise<{
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
    nl = headerEnd(buf);
    if (nl < 0 && buf.length > MAX_HEADER) throw new Error("the data part's first line is not a COPY header");
  }
  const header = parseCopyHeader(new TextDecoder().decode(buf.subarray(0, nl)));
  let lines = 0;
  const countLines = (c: Uint8Array) => {
    let i = c.indexOf(0x0a);
    while (i >= 0) {
      lines++;
      i = c.indexOf(0x0a, i + 1);
    }
  };
  // The "\.\n" trailer must not reach COPY, and only the end of the stream tells where it is:
  // one chunk is held back and passed on whole (no copy) once a later chunk of at least three
  // bytes shows it cannot hold any of the trailer.
  let held: Uint8Array = buf.subarray(nl + 1);
  const emit = (c: Uint8Array, ctl: ReadableStreamDefaultController<Uint8Array>) => {
    countLines(c);
    ctl.enqueue(c);
  };
  const rows = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          const n = held.length;
          if (n < 3 || held[n - 3] !== TRAILER[0] || held[n - 2] !== TRAILER[1] || held[n - 1] !== TRAILER[2]) {
            ctl.error(new Error("the data part does not end with the '\\.' terminator: it is truncated"));
            return;
          }
          if (n > 3) emit(held.subarray(0, n - 3), ctl);
          if (expectedRows !== undefined && lines !== expectedRows) {
            ctl.error(new Error(`the data part holds ${lines} rows, the manifest says ${expectedRows}: the backup is inconsistent`));
            return;
          }
          ctl.close();
          return;
        }
        if (value.length === 0) continue;
        if (value.length < 3) {
          held = concat(held, value);
          continue;
        }
        const out = held;
        held = value;
        if (out.length > 0) {
          emit(out, ctl);
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 4 });
  return { header, rows, counted: () => lines };
}

/**
 * The index of the newline that ends the COPY header: the first one outside double quotes
 * (a quoted table or column name may hold a newline), or -1 when it is not in `buf` yet.
 */
function headerEnd(buf: Uint8Array): number {
  let quoted = false;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x22) quoted = !quoted;
    else if (buf[i] === 0x0a && !quoted) return i;
  }
  return -1;
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
 * `hash: false` checks the size only: for age-encrypted objects, whose payload is
 * authenticated chunk by chunk (ChaCha20-Poly1305, with a last-chunk flag against
 * truncation), so a change after the sha256 pre-check already fails decryption before the
 * COPY completes, and hashing every byte a second time buys nothing.
 */
export function verifyingStream(
  expectedSha256: string,
  expectedSize: number,
  what: string,
  hash = true,
): TransformStream<Uint8Array, Uint8Array> {
  const h = hash ? createHash("sha256") : null;
  let size = 0;
  return new TransformStream({
    transform(chunk, ctl) {
      h?.update(chunk);
      size += chunk.byteLength;
      ctl.enqueue(chunk);
    },
    flush() {
      if (size !== expectedSize || (h && h.digest("hex") !== expectedSha256)) {
        throw new Error(`${what} changed in the store while it was being restored (${h ? "sha256" : "size"} mismatch): its rows were rolled back`);
      }
    },
  });
}

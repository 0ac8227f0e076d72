/**
 * A socket for postgres.js that hands the rows of a `COPY … TO STDOUT` to a sink in bulk.
 *
 * Postgres sends one CopyData message per row, and postgres.js turns each into a Buffer and a
 * stream chunk: at ~5 million rows per GB that per-row work, not compression or encryption,
 * dominated the exporter's CPU (bench/export/RESULTS.md). This socket sits between the real
 * connection and postgres.js, follows the message framing (5-byte headers only, no parsing),
 * and while a sink is armed it copies CopyData payloads straight into the sink and never
 * passes them on; every other message (CopyOutResponse, CopyDone, errors, ReadyForQuery…)
 * still reaches postgres.js, which keeps owning the protocol: authentication, transactions,
 * errors and the end of the COPY.
 *
 * postgres.js accepts a custom socket through its documented `socket` option. TLS has to sit
 * below this layer, so when the URL asks for TLS the factory negotiates it (SSLRequest, then
 * node:tls) and postgres.js itself runs with `ssl: false` on the already-secured stream.
 * @module
 */
import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import { releaseChunk } from "../../release.ts";

/** Receives the payload of every CopyData message while armed. */
export interface CopySink {
  /**
   * Row bytes `[start, end)` of `chunk`, in order: `rows` rows end inside this range, the last
   * of them at `lastRowEnd` (-1 when none does); the range may start or end mid-row. The bytes
   * are only valid during the call.
   */
  data(chunk: Uint8Array, start: number, end: number, rows: number, lastRowEnd: number): void;
  /**
   * The COPY is over: `rows` is the row count the server reported in its CommandComplete
   * (`COPY n`), or null when it ended otherwise (an error, or the connection closed).
   */
  finished(rows: number | null): void;
}

const COPY_DATA = 0x64; // d
const COPY_OUT_RESPONSE = 0x48; // H
const COPY_DONE = 0x63; // c
const COMMAND_COMPLETE = 0x43; // C
const ERROR_RESPONSE = 0x45; // E
const READY_FOR_QUERY = 0x5a; // Z
const BACKEND_KEY_DATA = 0x4b; // K

/** What {@linkcode CopyOutSocket} needs from the connection under it (a node:net or node:tls socket). */
export interface RawStream {
  // deno-lint-ignore no-explicit-any
  on(event: string, fn: (...args: any[]) => void): unknown;
  write(data: Uint8Array | string, cb?: (err?: Error | null) => void): boolean;
  end(): unknown;
  end(data: Uint8Array): unknown;
  destroy(err?: Error): unknown;
  pause(): unknown;
  resume(): unknown;
  setKeepAlive(enable?: boolean, delay?: number): unknown;
}

/** The TLS modes of libpq's `sslmode` that postgres.js understands. */
export type SslMode = false | "prefer" | "require" | "allow" | "verify-full";

/**
 * The socket handed to postgres.js: forwards everything to the real socket, except that the
 * CopyData messages of an armed COPY go to the sink instead of to postgres.js.
 */
export class CopyOutSocket extends EventEmitter {
  /** Backend process id, from BackendKeyData; how a transaction finds its socket. */
  pid = 0;
  host: string | undefined;
  port: number | undefined;
  /** CopyData messages routed to sinks so far (tells callers the bulk path was taken). */
  rowsRouted = 0;
  /**
   * Whether {@linkcode pause} really stops reading, so that TCP backpressure holds the server.
   * True for plain TCP. Deno's node:tls sockets keep delivering data while paused (measured:
   * 251 MB of a 314 MB COPY queued up behind a slow consumer), so a TLS connection says false
   * and callers bound memory another way (table_copy.ts reads big tables in slices).
   */
  canPause = false;
  #raw: RawStream;
  #armed: CopySink | null = null;
  /** The armed statement's COPY has begun (CopyOutResponse seen). */
  #copying = false;
  /** Its CopyDone was seen; the CommandComplete with the row count comes next. */
  #copyEnded = false;
  // Framing state of the message being read.
  #type = 0;
  #headerRead = 0; // 0..5 bytes of the current header seen
  #length = 0;
  #bodyLeft = 0;
  #consume = false;
  /** The first bytes of the bodies this socket reads itself: BackendKeyData, CommandComplete. */
  #body: number[] = [];

  constructor(raw: RawStream) {
    super();
    this.#raw = raw;
    raw.on("data", (c: Buffer) => this.#onData(c));
    for (const ev of ["error", "close", "drain", "end", "timeout"]) {
      raw.on(ev, (...args: unknown[]) => {
        if (ev === "error" || ev === "close") this.#stop(null);
        this.emit(ev, ...args);
      });
    }
  }

  /** Routes the CopyData of the next COPY … TO STDOUT on this connection to `sink`. */
  arm(sink: CopySink): void {
    if (this.#armed) throw new Error("a COPY is already being read on this connection");
    this.#armed = sink;
  }

  /**
   * Stops routing when the statement failed before its COPY began. Once the COPY has begun,
   * the socket itself finishes the sink when the server ends the COPY.
   */
  disarm(sink: CopySink): void {
    if (this.#armed === sink && !this.#copying) this.#armed = null;
  }

  get readyState(): string {
    return (this.#raw as unknown as { readyState: string }).readyState;
  }

  write(data: Uint8Array | string, cb?: (err?: Error | null) => void): boolean {
    return this.#raw.write(data, cb);
  }

  end(data?: Uint8Array): this {
    if (data) this.#raw.end(data);
    else this.#raw.end();
    return this;
  }

  destroy(err?: Error): this {
    this.#raw.destroy(err);
    return this;
  }

  pause(): this {
    this.#raw.pause();
    return this;
  }

  resume(): this {
    this.#raw.resume();
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.#raw.setKeepAlive(enable, delay);
    return this;
  }

  #stop(rows: number | null) {
    const sink = this.#armed;
    this.#armed = null;
    this.#copying = false;
    this.#copyEnded = false;
    sink?.finished(rows);
  }

  #messageDone() {
    const t = this.#type;
    if (this.#consume) {
      this.rowsRouted++;
    } else if (t === COPY_OUT_RESPONSE) {
      if (this.#armed) this.#copying = true;
    } else if (this.#copying) {
      // Only messages of the armed statement's own COPY end it: a ReadyForQuery that was still
      // on its way from the previous statement when this one was armed must not (it once did,
      // and the next statement's rows were silently dropped).
      if (t === COPY_DONE) this.#copyEnded = true;
      else if (t === COMMAND_COMPLETE && this.#copyEnded) {
        const m = /^COPY (\d+)/.exec(new TextDecoder().decode(new Uint8Array(this.#body)));
        this.#stop(m ? Number(m[1]) : null);
      } else if (t === ERROR_RESPONSE || t === READY_FOR_QUERY) this.#stop(null);
    } else if (t === BACKEND_KEY_DATA && this.#body.length >= 4) {
      const b = this.#body;
      this.pid = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    }
    this.#headerRead = 0;
  }

  // Consumed row bytes are compacted in place, over the 5-byte headers between them, into
  // one region per run of CopyData messages, and handed to the sink in a single call: one
  // copyWithin per row and no per-row allocation. Bytes passed on to postgres.js always lie
  // before or after a region, never inside it, so compaction cannot overwrite them.
  #onData(chunk: Buffer) {
    const c = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const n = c.length;
    let i = 0;
    let runStart = -1; // start of bytes to pass on to postgres.js
    const out: Buffer[] = [];
    let w0 = -1; // compacted region [w0, w) of consumed row bytes
    let w = 0;
    let rows = 0;
    let lastRowEnd = -1;
    const flushRegion = () => {
      if (w0 >= 0 && (w > w0 || rows > 0)) this.#armed?.data(c, w0, w, rows, lastRowEnd);
      w0 = -1;
      rows = 0;
      lastRowEnd = -1;
    };
    while (i < n) {
      if (this.#headerRead === 0) {
        this.#type = c[i];
        this.#consume = this.#copying && this.#type === COPY_DATA;
        if (this.#consume) {
          if (runStart >= 0) out.push(chunk.subarray(runStart, i));
          runStart = -1;
        } else {
          flushRegion();
          if (runStart < 0) runStart = i;
        }
        if (this.#type === BACKEND_KEY_DATA || this.#type === COMMAND_COMPLETE) this.#body = [];
        if (n - i >= 5) {
          this.#length = ((c[i + 1] << 24) | (c[i + 2] << 16) | (c[i + 3] << 8) | c[i + 4]) >>> 0;
          this.#bodyLeft = this.#length - 4;
          this.#headerRead = 5;
          i += 5;
        } else {
          this.#length = 0;
          this.#headerRead = 1;
          i++;
          continue;
        }
      } else if (this.#headerRead < 5) {
        if (!this.#consume && runStart < 0) runStart = i;
        this.#length = this.#length * 256 + c[i];
        this.#headerRead++;
        i++;
        if (this.#headerRead < 5) continue;
        this.#bodyLeft = this.#length - 4;
      } else {
        const take = Math.min(this.#bodyLeft, n - i);
        if (this.#consume) {
          if (w0 < 0) w0 = w = i;
          if (w !== i) c.copyWithin(w, i, i + take);
          w += take;
        } else {
          if (runStart < 0) runStart = i;
          if (this.#type === BACKEND_KEY_DATA || this.#type === COMMAND_COMPLETE) {
            for (let k = i; k < i + take && this.#body.length < 64; k++) this.#body.push(c[k]);
          }
        }
        i += take;
        this.#bodyLeft -= take;
      }
      if (this.#bodyLeft === 0) {
        if (this.#consume) {
          if (w0 < 0) w0 = w = i; // an empty row
          rows++;
          lastRowEnd = w;
        }
        this.#messageDone();
      }
    }
    flushRegion();
    if (runStart >= 0) out.push(runStart === 0 ? chunk : chunk.subarray(runStart, n));
    if (out.length === 1) this.emit("data", out[0]);
    else if (out.length > 1) this.emit("data", Buffer.concat(out));
    // All row bytes, copied out by the sink: the read buffer is dead (see release.ts).
    else releaseChunk(chunk);
  }
}

function once(emitter: EventEmitter, ok: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onOk = () => {
      emitter.off("error", onErr);
      resolve();
    };
    const onErr = (err: Error) => {
      emitter.off(ok, onOk);
      reject(err);
    };
    emitter.once(ok, onOk);
    emitter.once("error", onErr);
  });
}

/** What the factory needs from postgres.js's parsed options. */
interface SocketOptions {
  host: string[];
  port: number[];
  path?: string | false;
}

/**
 * A postgres.js `socket` option: connects (and negotiates TLS per `ssl`), wraps the stream in
 * a {@linkcode CopyOutSocket} and registers it so a transaction can find it by backend pid.
 */
export function copyOutSocketFactory(ssl: SslMode, registry: Set<CopyOutSocket>) {
  return async (o: SocketOptions): Promise<CopyOutSocket> => {
    const host = o.host[0];
    const port = o.port[0];
    const raw = o.path ? net.connect(o.path) : net.connect(port, host);
    await once(raw, "connect");
    let sock: net.Socket = raw;
    if (ssl) {
      // SSLRequest: length 8, code 80877103; the server answers one byte, S or N.
      raw.write(new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
      const answer = await new Promise<number>((resolve, reject) => {
        raw.once("data", (b: Buffer) => resolve(b[0]));
        raw.once("error", reject);
      });
      if (answer === 0x53) {
        const secured = tls.connect({
          socket: raw,
          servername: net.isIP(host) ? undefined : host,
          rejectUnauthorized: ssl === "verify-full",
        });
        await once(secured, "secureConnect");
        sock = secured;
      } else if (ssl !== "prefer" && ssl !== "allow") {
        raw.destroy();
        throw Object.assign(new Error("the database server does not accept TLS, but the connection string requires it (sslmode)"), {
          code: "ECONNREFUSED",
        });
      }
    }
    const s = new CopyOutSocket(sock);
    s.canPause = sock === raw;
    s.host = host;
    s.port = port;
    registry.add(s);
    s.on("close", () => registry.delete(s));
    return s;
  };
}

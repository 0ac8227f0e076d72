/**
 * The compression codecs of backup objects, gzip and zstd, as web TransformStreams.
 *
 * Both use node:zlib (CompressionStream is fixed at gzip's default level and several times
 * slower, bench/export/RESULTS.md). zstd level 1 is the default where node:zlib has zstd:
 * measured on COPY text it compresses faster than gzip level 1 and to about half the size.
 * Runtimes without it (older Deno, e.g. an older Supabase edge runtime) fall back to gzip.
 *
 * zstd objects are written as a sequence of standard zstd frames of at most
 * {@link ZSTD_FRAME_BYTES} plain bytes each (`zstd -d` decodes concatenated frames as one
 * stream), with content checksums. Decompression takes one whole frame at a time through
 * `zstdDecompressSync`, because Deno's streaming zstd decompressor throws corruption errors
 * out of band (an uncaught exception, not an 'error' event) and, like Node's, accepts a
 * truncated stream silently; whole frames make both a clear, catchable error.
 * @module
 */
import * as zlib from "node:zlib";
import type { Compression } from "../format/mod.ts";
import { assertLive, handOverChunk, releaseChunk, releaseHandedOver, releaseOwned } from "../release.ts";

export type { Compression } from "../format/mod.ts";

/** The gzip level backups are written with; chosen by measurement (bench/export/RESULTS.md). */
export const DEFAULT_GZIP_LEVEL = 1;
/** The zstd level backups are written with; chosen by measurement (bench/export/RESULTS.md). */
export const DEFAULT_ZSTD_LEVEL = 1;
/**
 * Plain bytes per zstd frame. Measured on COPY text: no loss of ratio against one frame per
 * object (level 1 looks back 512 KiB at most) and no loss of speed; it bounds what a
 * decompressor holds per object to about one frame in and one out.
 */
export const ZSTD_FRAME_BYTES = 2 * 1024 * 1024;
/** The largest zstd frame (stored bytes) the decompressor accepts; Lifeboat writes far smaller. */
export const ZSTD_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** The object data is damaged or cut short: the message says which codec and what. */
export class CompressionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CompressionError";
  }
}

type ZstdZlib = typeof zlib & {
  zstdCompressSync(buf: Uint8Array, opts?: { params?: Record<number, number> }): Uint8Array;
  zstdDecompressSync(buf: Uint8Array, opts?: { maxOutputLength?: number }): Uint8Array;
};
const z = zlib as ZstdZlib;
const C = zlib.constants as unknown as Record<string, number>;

let zstdOk: boolean | undefined;
/** Whether this runtime's node:zlib has zstd (Deno ≥ 2.6 does; older runtimes may not). */
export function hasZstd(): boolean {
  if (zstdOk === undefined) {
    try {
      zstdOk = typeof z.zstdCompressSync === "function" && typeof z.zstdDecompressSync === "function" &&
        typeof C.ZSTD_c_compressionLevel === "number" &&
        z.zstdDecompressSync(zstdFrame(new TextEncoder().encode("lifeboat"), 1)).length === 8;
    } catch {
      zstdOk = false;
    }
  }
  return zstdOk;
}

/** The codec new backups use when none is asked for: zstd where available, else gzip. */
export function defaultCompression(): Compression {
  return hasZstd() ? "zstd" : "gzip";
}

/** Throws, saying what to do, when `codec` cannot be written or read in this runtime. */
export function requireCompression(codec: Compression): void {
  if (codec === "zstd" && !hasZstd()) {
    throw new CompressionError(
      "zstd is not available in this runtime (its node:zlib has no zstd; Deno 2.6 or later has it): use gzip, or run Lifeboat on a newer Deno",
    );
  }
}

/** The codec whose magic number starts `head` (gzip 1f 8b, zstd frame 28 b5 2f fd), or null. */
export function sniffCompression(head: Uint8Array): Compression | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return null;
}

/** A compressor for `codec`; `level` defaults to the measured choice. */
export function compressStream(codec: Compression, level?: number): TransformStream<Uint8Array, Uint8Array> {
  return codec === "zstd" ? zstdStream(level) : gzipStream(level);
}

/** A decompressor for `codec`; damaged or truncated input fails with a {@link CompressionError}. */
export function decompressStream(codec: Compression): TransformStream<Uint8Array, Uint8Array> {
  return codec === "zstd" ? unzstdStream() : gunzipStream();
}

// --- gzip ----------------------------------------------------------------------------------

/** Adapts a node:zlib transform to a web TransformStream, with backpressure per written chunk. */
function fromZlib(
  zs: zlib.Gzip | zlib.Gunzip,
  wrapError: (e: Error) => Error = (e) => e,
): TransformStream<Uint8Array, Uint8Array> {
  let ctl!: TransformStreamDefaultController<Uint8Array>;
  let failure: Error | undefined;
  zs.on("data", (c: Uint8Array) => ctl.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength)));
  zs.on("error", (e: Error) => {
    failure = wrapError(e);
  });
  return new TransformStream<Uint8Array, Uint8Array>({
    start(c) {
      ctl = c;
    },
    transform(chunk) {
      if (failure) throw failure;
      assertLive(chunk);
      return new Promise<void>((resolve, reject) => {
        zs.write(chunk, (err) => (err ? reject(failure ?? wrapError(err)) : failure ? reject(failure) : resolve()));
      });
    },
    flush() {
      if (failure) throw failure;
      return new Promise<void>((resolve, reject) => {
        zs.once("end", () => resolve());
        zs.once("error", () => reject(failure));
        zs.end();
        zs.resume();
      });
    },
    cancel() {
      zs.destroy();
    },
  });
}

/** A gzip compressor (node:zlib). `level` 1 (fastest) to 9; default {@link DEFAULT_GZIP_LEVEL}. */
export function gzipStream(level = DEFAULT_GZIP_LEVEL): TransformStream<Uint8Array, Uint8Array> {
  // A 256 KiB output chunk keeps the number of pieces handed downstream (to age and the store) low.
  return fromZlib(zlib.createGzip({ level, chunkSize: 256 * 1024 }));
}

/** A gzip decompressor (node:zlib), for restoring and verifying. */
export function gunzipStream(): TransformStream<Uint8Array, Uint8Array> {
  return fromZlib(
    zlib.createGunzip({ chunkSize: 256 * 1024 }),
    (e) => new CompressionError(`gzip data is damaged or truncated (${e.message})`, { cause: e }),
  );
}

// --- zstd ----------------------------------------------------------------------------------

/** One zstd frame of `plain`, with its content checksum. */
function zstdFrame(plain: Uint8Array, level: number): Uint8Array {
  const out = z.zstdCompressSync(plain, {
    params: { [C.ZSTD_c_compressionLevel]: level, [C.ZSTD_c_checksumFlag]: 1 },
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * A zstd compressor: one frame per {@link ZSTD_FRAME_BYTES} of input (the last one shorter),
 * so the output is always at least one frame, even for no input. `level` 1 (fastest) to 19.
 */
export function zstdStream(level = DEFAULT_ZSTD_LEVEL): TransformStream<Uint8Array, Uint8Array> {
  requireCompression("zstd");
  // The frame buffer grows with what is pending (doubling up to a frame): a small file's
  // object costs its own size, not a zero-filled 2 MiB buffer (10,000 of them made a backup of
  // small files spend more CPU clearing buffers than compressing, bench/storage/RESULTS.md).
  let buf = new Uint8Array(0);
  let used = 0;
  let frames = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      assertLive(chunk);
      let off = 0;
      while (off < chunk.length) {
        // A whole frame straight from the input when nothing is pending (no copy).
        if (used === 0 && chunk.length - off >= ZSTD_FRAME_BYTES) {
          ctl.enqueue(handOverChunk(zstdFrame(chunk.subarray(off, off + ZSTD_FRAME_BYTES), level)));
          frames++;
          off += ZSTD_FRAME_BYTES;
          continue;
        }
        const n = Math.min(ZSTD_FRAME_BYTES - used, chunk.length - off);
        if (used + n > buf.length) {
          // The first chunk exactly (a small file is often one chunk), then doubling.
          let size = buf.length === 0 ? used + n : buf.length;
          while (size < used + n) size *= 2;
          const grown = new Uint8Array(Math.min(size, ZSTD_FRAME_BYTES));
          grown.set(buf.subarray(0, used));
          if (buf.length) releaseOwned(buf);
          buf = grown;
        }
        buf.set(chunk.subarray(off, off + n), used);
        used += n;
        off += n;
        if (used === ZSTD_FRAME_BYTES) {
          ctl.enqueue(handOverChunk(zstdFrame(buf, level)));
          frames++;
          used = 0;
        }
      }
      releaseHandedOver(chunk); // compressed or copied into `buf`
    },
    flush(ctl) {
      if (used > 0 || frames === 0) ctl.enqueue(handOverChunk(zstdFrame(buf.subarray(0, used), level)));
      if (buf.length) releaseOwned(buf); // one per object: freed now rather than at the next collection
    },
  });
}

/**
 * Compresses bytes in memory in one call: the same object {@link compressStream} writes
 * (zstd: one frame per {@link ZSTD_FRAME_BYTES}, at least one), without a stream.
 */
export function compressBytes(codec: Compression, plain: Uint8Array, level?: number): Uint8Array {
  if (codec === "gzip") {
    const out = zlib.gzipSync(plain, { level: level ?? DEFAULT_GZIP_LEVEL });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  requireCompression("zstd");
  const l = level ?? DEFAULT_ZSTD_LEVEL;
  if (plain.length <= ZSTD_FRAME_BYTES) return zstdFrame(plain, l);
  const frames: Uint8Array[] = [];
  for (let off = 0; off < plain.length; off += ZSTD_FRAME_BYTES) frames.push(zstdFrame(plain.subarray(off, off + ZSTD_FRAME_BYTES), l));
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
    releaseChunk(f); // copied into `out`
  }
  return out;
}

const ZSTD_MAGIC = 0xfd2fb528;
const FCS_BYTES = [0, 2, 4, 8];
const DICT_BYTES = [0, 1, 2, 4];
const MAX_BLOCK = 128 * 1024;
const SPLIT_SLICE = 1024 * 1024;

/**
 * Cuts a byte stream into whole zstd frames (and skips skippable frames), checking the frame
 * structure as it goes: every frame and block header, so a stream cut short anywhere is
 * noticed at its end.
 */
class FrameSplitter {
  #buf = new Uint8Array(64 * 1024);
  #used = 0;
  /** Bytes of the current frame already checked (from the start of #buf). */
  #pos = 0;
  #state: "start" | "blocks" | "checksum" | "skippable" = "start";
  #checksum = false;
  #skipEnd = 0;
  #frames = 0;

  /** Appends bytes; returns the whole frames completed (skippable frames dropped). */
  push(bytes: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    // In slices, so that what is held is one unfinished frame plus at most one slice.
    for (let off = 0; off < bytes.length; off += SPLIT_SLICE) this.#append(bytes.subarray(off, off + SPLIT_SLICE), out);
    return out;
  }

  #append(bytes: Uint8Array, out: Uint8Array[]): void {
    // #used is the unfinished frame so far.
    if (this.#used > ZSTD_MAX_FRAME_BYTES) {
      throw new CompressionError(
        `a zstd frame is larger than ${ZSTD_MAX_FRAME_BYTES >> 20} MiB: not written by Lifeboat (its frames hold ${ZSTD_FRAME_BYTES >> 20} MiB of plain text); decompress it with the zstd CLI`,
      );
    }
    if (this.#used + bytes.length > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#used + bytes.length));
      grown.set(this.#buf.subarray(0, this.#used));
      this.#buf = grown;
    }
    this.#buf.set(bytes, this.#used);
    this.#used += bytes.length;
    for (let end = this.#scan(); end > 0; end = this.#scan()) {
      if (this.#state !== "skippable") out.push(this.#buf.slice(0, end));
      this.#frames++;
      this.#buf.copyWithin(0, end, this.#used);
      this.#used -= end;
      this.#pos = 0;
      this.#state = "start";
    }
  }

  /** Checks that the stream ended after a whole frame. */
  end(): void {
    if (this.#used > 0) {
      throw new CompressionError("zstd data is truncated: the stream ends inside a frame (the object is incomplete or damaged)");
    }
    if (this.#frames === 0) throw new CompressionError("zstd data is empty: the object holds no zstd frame");
  }

  /** Advances through the current frame; returns its length once it is whole, else 0. */
  #scan(): number {
    const b = this.#buf;
    const avail = () => this.#used - this.#pos;
    const u32 = (at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
    if (this.#state === "start") {
      if (this.#used < 4) return 0;
      const magic = u32(0);
      if ((magic & 0xfffffff0) === 0x184d2a50) {
        if (this.#used < 8) return 0;
        this.#state = "skippable";
        this.#skipEnd = 8 + u32(4);
      } else if (magic !== ZSTD_MAGIC) {
        throw new CompressionError(
          this.#frames === 0
            ? "not zstd data: the object does not start with the zstd frame magic (28 b5 2f fd)"
            : "zstd data is damaged: bytes after a frame are not another zstd frame",
        );
      } else {
        if (this.#used < 5) return 0;
        const fhd = b[4];
        if (fhd & 0x08) throw new CompressionError("zstd data is damaged: a frame header has its reserved bit set");
        const single = (fhd >> 5) & 1;
        const fcs = (fhd >> 6) === 0 ? single : FCS_BYTES[fhd >> 6];
        const header = 5 + (single ? 0 : 1) + DICT_BYTES[fhd & 3] + fcs;
        if (this.#used < header) return 0;
        this.#checksum = ((fhd >> 2) & 1) === 1;
        this.#pos = header;
        this.#state = "blocks";
      }
    }
    if (this.#state === "skippable") return this.#used >= this.#skipEnd ? this.#skipEnd : 0;
    while (this.#state === "blocks") {
      if (avail() < 3) return 0;
      const p = this.#pos;
      const h = b[p] | (b[p + 1] << 8) | (b[p + 2] << 16);
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      if (type === 3 || size > MAX_BLOCK) throw new CompressionError("zstd data is damaged: a block header is invalid");
      const body = type === 1 ? 1 : size;
      if (avail() < 3 + body) return 0;
      this.#pos += 3 + body;
      if (h & 1) this.#state = "checksum";
    }
    const tail = this.#checksum ? 4 : 0;
    return avail() >= tail ? this.#pos + tail : 0;
  }
}

/** A zstd decompressor: whole frames at a time (see the module notes), checksums verified. */
export function unzstdStream(): TransformStream<Uint8Array, Uint8Array> {
  requireCompression("zstd");
  const frames = new FrameSplitter();
  const decode = (frame: Uint8Array): Uint8Array => {
    try {
      const out = z.zstdDecompressSync(frame, { maxOutputLength: 2 * ZSTD_MAX_FRAME_BYTES });
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (err) {
      throw new CompressionError(`zstd data is damaged (${(err as Error).message.replace(/^Zstd decompress error: /, "")})`, { cause: err });
    }
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      for (const f of frames.push(chunk)) {
        const plain = decode(f);
        if (plain.length) ctl.enqueue(plain);
      }
    },
    flush() {
      frames.end();
    },
  });
}

/**
 * Gzip compression and decompression as web TransformStreams.
 *
 * Backups use node:zlib's gzip rather than `CompressionStream("gzip")`: measured on COPY text
 * (bench/export/RESULTS.md), zlib at level 1 is several times faster than CompressionStream
 * (which is fixed at the default level) for output only modestly larger. Both Deno and the
 * Supabase edge runtime provide node:zlib.
 * @module
 */
import * as zlib from "node:zlib";

/** The gzip level backups are written with; chosen by measurement (bench/export/RESULTS.md). */
export const DEFAULT_GZIP_LEVEL = 1;

/** Adapts a node:zlib transform to a web TransformStream, with backpressure per written chunk. */
function fromZlib(z: zlib.Gzip | zlib.Gunzip): TransformStream<Uint8Array, Uint8Array> {
  let ctl!: TransformStreamDefaultController<Uint8Array>;
  let failure: Error | undefined;
  z.on("data", (c: Uint8Array) => ctl.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength)));
  z.on("error", (e: Error) => {
    failure = e;
  });
  return new TransformStream<Uint8Array, Uint8Array>({
    start(c) {
      ctl = c;
    },
    transform(chunk) {
      if (failure) throw failure;
      return new Promise<void>((resolve, reject) => {
        z.write(chunk, (err) => (err ? reject(err) : failure ? reject(failure) : resolve()));
      });
    },
    flush() {
      if (failure) throw failure;
      return new Promise<void>((resolve, reject) => {
        z.once("end", () => resolve());
        z.once("error", reject);
        z.end();
        z.resume();
      });
    },
    cancel() {
      z.destroy();
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
  return fromZlib(zlib.createGunzip({ chunkSize: 256 * 1024 }));
}

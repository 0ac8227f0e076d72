/**
 * A {@link Store} in a local directory: Lifeboat's embedded default.
 *
 * Writes are atomic and durable: bytes go to a temp file in the target
 * directory, which is fsynced, renamed over the key, and the directory is
 * fsynced, so an object is visible only once it is complete and on disk.
 *
 * Each object's sha256 is kept in a sidecar `.lifeboat-meta.<name>.json`
 * next to it, tied to the data file's inode so a stale sidecar (left by a
 * crash mid-overwrite) is detected and the hash recomputed instead.
 *
 * Needs Deno file system APIs (`--allow-read --allow-write` on the root).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { expectSha256 } from "../expect.ts";
import {
  isSha256Hex,
  type ObjectInfo,
  type PutOptions,
  type ReadOptions,
  RESERVED_PREFIX,
  type Store,
  type StoredObject,
  StoreError,
  validateKey,
  validatePrefix,
  validatePut,
} from "../types.ts";

const META_PREFIX = `${RESERVED_PREFIX}meta.`;
const TMP_PREFIX = `${RESERVED_PREFIX}tmp.`;

interface Sidecar {
  size: number;
  sha256: string;
  ino: number | null;
}

/** Options for {@link FsStore}. */
export interface FsStoreOptions {
  /** fsync files and directories (default true). Only turn off for
   * throwaway stores in tests: without it a crash can lose acknowledged
   * objects. */
  fsync?: boolean;
}

/** A store rooted at a local directory, created on first write. */
export class FsStore implements Store {
  /** Absolute or relative path of the root directory. */
  readonly root: string;
  readonly #fsync: boolean;

  constructor(root: string, options: FsStoreOptions = {}) {
    if (!root) {
      throw new StoreError(
        "config",
        "Local store path is empty: pass a directory path or file:// URL.",
      );
    }
    this.root = root.length > 1 ? root.replace(/\/+$/, "") : root;
    this.#fsync = options.fsync ?? true;
  }

  describe(): string {
    return `local directory ${this.root}`;
  }

  async put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts: PutOptions = {},
  ): Promise<StoredObject> {
    validatePut(key, opts);
    const path = this.#path(key);
    const dir = dirname(path);
    await this.#mkdirInsideRoot(dir, key);
    const tmp = `${dir}/${TMP_PREFIX}${crypto.randomUUID()}`;
    const hash = createHash("sha256");
    let size = 0;
    let file: Deno.FsFile | undefined;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let onAbort: (() => void) | undefined;
    try {
      opts.signal?.throwIfAborted();
      file = await Deno.open(tmp, {
        write: true,
        createNew: true,
        mode: 0o644,
      });
      if (body instanceof Uint8Array) {
        await writeAll(file, body);
        hash.update(body);
        size = body.byteLength;
      } else {
        reader = body.getReader();
        // Cancelling the source ends a read that may be waiting on it forever.
        const r = reader;
        onAbort = () => void r.cancel(opts.signal?.reason).catch(() => {});
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        for (;;) {
          opts.signal?.throwIfAborted();
          const { done, value } = await reader.read();
          opts.signal?.throwIfAborted();
          if (done) break;
          await writeAll(file, value);
          hash.update(value);
          size += value.byteLength;
        }
        reader = undefined;
      }
      const sha256 = hash.digest("hex");
      expectSha256(key, sha256, opts);
      if (this.#fsync) await file.sync();
      const { ino } = await file.stat();
      file.close();
      file = undefined;
      opts.signal?.throwIfAborted();
      // Sidecar first: if we crash before the data rename, the old data keeps
      // its old inode and the new sidecar is recognised as not matching it.
      await this.#writeSidecar(dir, basename(path), {
        size,
        sha256,
        ino: ino ?? null,
      });
      await Deno.rename(tmp, path);
      if (this.#fsync) await fsyncDir(dir);
      return { key, size, sha256, lastModified: new Date() };
    } catch (err) {
      if (reader) await reader.cancel(err).catch(() => {});
      try {
        file?.close();
      } catch { /* already closed */ }
      await Deno.remove(tmp).catch(() => {});
      throw this.#wrap(err, `write ${JSON.stringify(key)}`);
    } finally {
      if (onAbort) opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  async get(
    key: string,
    opts: ReadOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    validateKey(key);
    opts.signal?.throwIfAborted();
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path(key), { read: true });
      const info = await file.stat();
      if (!info.isFile) {
        file.close();
        throw new Deno.errors.NotFound();
      }
    } catch (err) {
      throw this.#wrap(err, `read ${JSON.stringify(key)}`, key);
    }
    return file.readable;
  }

  async getBytes(key: string, opts: ReadOptions = {}): Promise<Uint8Array> {
    validateKey(key);
    opts.signal?.throwIfAborted();
    try {
      const info = await Deno.stat(this.#path(key));
      if (!info.isFile) throw new Deno.errors.NotFound();
      return await Deno.readFile(this.#path(key), { signal: opts.signal });
    } catch (err) {
      throw this.#wrap(err, `read ${JSON.stringify(key)}`, key);
    }
  }

  async head(key: string, opts: ReadOptions = {}): Promise<ObjectInfo | null> {
    validateKey(key);
    opts.signal?.throwIfAborted();
    const path = this.#path(key);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (err) {
      if (
        err instanceof Deno.errors.NotFound ||
        err instanceof Deno.errors.NotADirectory
      ) return null;
      throw this.#wrap(err, `stat ${JSON.stringify(key)}`);
    }
    if (!info.isFile) return null;
    const side = await this.#readSidecar(dirname(path), basename(path));
    let sha256: string;
    if (
      side && side.size === info.size && side.ino !== null &&
      side.ino === info.ino
    ) {
      sha256 = side.sha256;
    } else {
      // Written by something else, or the sidecar is stale: hash the bytes.
      sha256 = await hashFile(path).catch((err) => {
        throw this.#wrap(err, `hash ${JSON.stringify(key)}`, key);
      });
    }
    return {
      key,
      size: info.size,
      sha256,
      lastModified: info.mtime ?? undefined,
    };
  }

  async *list(prefix = "", opts: ReadOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    // Only walk the directory the prefix pins down; filter the rest by name.
    const slash = prefix.lastIndexOf("/");
    const baseKey = slash < 0 ? "" : prefix.slice(0, slash);
    const found: ObjectInfo[] = [];
    try {
      await this.#walk(baseKey, prefix, found, opts.signal);
    } catch (err) {
      throw this.#wrap(err, `list ${JSON.stringify(prefix)}`);
    }
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  async delete(key: string, opts: ReadOptions = {}): Promise<void> {
    validateKey(key);
    opts.signal?.throwIfAborted();
    const path = this.#path(key);
    try {
      await Deno.remove(path);
    } catch (err) {
      if (
        !(err instanceof Deno.errors.NotFound ||
          err instanceof Deno.errors.NotADirectory)
      ) {
        throw this.#wrap(err, `delete ${JSON.stringify(key)}`);
      }
    }
    await Deno.remove(sidecarPath(dirname(path), basename(path))).catch(
      () => {},
    );
    if (this.#fsync) await fsyncDir(dirname(path)).catch(() => {});
  }

  #path(key: string): string {
    return `${this.root}/${key}`;
  }

  async #walk(
    relDir: string,
    prefix: string,
    out: ObjectInfo[],
    signal?: AbortSignal,
  ): Promise<void> {
    signal?.throwIfAborted();
    const abs = relDir ? `${this.root}/${relDir}` : this.root;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(abs));
    } catch (err) {
      if (
        err instanceof Deno.errors.NotFound ||
        err instanceof Deno.errors.NotADirectory
      ) return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith(RESERVED_PREFIX)) continue;
      const key = relDir ? `${relDir}/${e.name}` : e.name;
      // Descend only into directories that can still contain matches.
      if (e.isDirectory) {
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) {
          await this.#walk(key, prefix, out, signal);
        }
      } else if (e.isFile && key.startsWith(prefix)) {
        const info = await Deno.stat(`${abs}/${e.name}`).catch(() => undefined);
        if (info) {
          out.push({
            key,
            size: info.size,
            lastModified: info.mtime ?? undefined,
          });
        }
      }
    }
  }

  // Keys are validated, but a symlinked directory inside the root could still
  // lead elsewhere; refuse to write through one.
  async #mkdirInsideRoot(dir: string, key: string): Promise<void> {
    try {
      await Deno.mkdir(dir, { recursive: true });
      const [realRoot, realDir] = await Promise.all([
        Deno.realPath(this.root),
        Deno.realPath(dir),
      ]);
      if (realDir !== realRoot && !realDir.startsWith(`${realRoot}/`)) {
        throw new StoreError(
          "invalid_key",
          `Key ${
            JSON.stringify(key)
          } resolves outside the store root ${this.root} (through a symlink); remove the link or use another key.`,
        );
      }
    } catch (err) {
      throw this.#wrap(err, `create the directory for ${JSON.stringify(key)}`);
    }
  }

  async #writeSidecar(dir: string, name: string, data: Sidecar): Promise<void> {
    const final = sidecarPath(dir, name);
    const tmp = `${dir}/${TMP_PREFIX}${crypto.randomUUID()}`;
    try {
      const f = await Deno.open(tmp, {
        write: true,
        createNew: true,
        mode: 0o644,
      });
      try {
        await writeAll(f, new TextEncoder().encode(JSON.stringify(data)));
        if (this.#fsync) await f.sync();
      } finally {
        f.close();
      }
      await Deno.rename(tmp, final);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
  }

  async #readSidecar(dir: string, name: string): Promise<Sidecar | undefined> {
    try {
      const parsed = JSON.parse(
        await Deno.readTextFile(sidecarPath(dir, name)),
      );
      if (
        typeof parsed?.size === "number" &&
        typeof parsed?.sha256 === "string" && isSha256Hex(parsed.sha256)
      ) {
        return {
          size: parsed.size,
          sha256: parsed.sha256,
          ino: typeof parsed.ino === "number" ? parsed.ino : null,
        };
      }
    } catch { /* missing or corrupt: fall back to hashing */ }
    return undefined;
  }

  #wrap(err: unknown, what: string, key?: string): unknown {
    if (err instanceof StoreError) return err;
    if (err instanceof DOMException && err.name === "AbortError") {
      return new StoreError("aborted", `Cancelled: ${what} in ${this.root}.`, {
        cause: err,
      });
    }
    if (
      key !== undefined &&
      (err instanceof Deno.errors.NotFound ||
        err instanceof Deno.errors.NotADirectory)
    ) {
      return new StoreError(
        "not_found",
        `No object ${JSON.stringify(key)} in ${this.describe()}.`,
        { cause: err },
      );
    }
    if (
      err instanceof Deno.errors.PermissionDenied ||
      err instanceof Deno.errors.NotCapable
    ) {
      return new StoreError(
        "auth",
        `Permission denied to ${what} in ${this.root}: fix the directory's ownership/mode, or grant Deno --allow-read/--allow-write for it.`,
        { cause: err },
      );
    }
    const msg = err instanceof Error ? err.message : String(err);
    if (/no space left/i.test(msg)) {
      return new StoreError(
        "unavailable",
        `Disk full: could not ${what} in ${this.root}; free space or use another store.`,
        {
          cause: err,
        },
      );
    }
    if (err instanceof Error && err.name === "AbortError") {
      return new StoreError("aborted", `Cancelled: ${what} in ${this.root}.`, {
        cause: err,
      });
    }
    return new StoreError(
      "failed",
      `Could not ${what} in ${this.root}: ${msg}`,
      { cause: err },
    );
  }
}

function sidecarPath(dir: string, name: string): string {
  return `${dir}/${META_PREFIX}${name}.json`;
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await file.write(data.subarray(off));
}

// A rename is only durable once the directory entry itself is on disk.
async function fsyncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  // `readable` closes the file when the loop ends, however it ends.
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

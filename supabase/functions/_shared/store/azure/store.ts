/**
 * A {@link Store} in one container (and optional prefix) of an Azure Blob Storage account, or
 * of Azurite, through Microsoft's `@azure/storage-blob`.
 *
 * - Bodies up to one block go up in one Put Blob; streams and larger bodies as block blobs:
 *   Put Block for fixed-size blocks, several in flight, buffering only those blocks
 *   (memory ≈ (concurrency + 1) × blockSize), then Put Block List. Uncommitted blocks are
 *   invisible, so a failed upload leaves the previous blob (or none) in place; the service
 *   drops them after a week.
 * - Every block and single put carries its MD5 (`Content-MD5`), which the service checks.
 * - The object's sha256 is stored as blob metadata `sha256`; with blocks it is known only at
 *   the end and set by Put Block List itself. A put resolves only after Get Blob Properties
 *   confirms size and sha256.
 * - Each blob gets the store's access tier, and its time-based immutability policy when one
 *   is configured (`immutabilityDays`).
 * - The SDK retries 5xx, 408, 429 and network errors with exponential backoff
 *   (its `retryOptions`, from the store's {@link RetryOptions}).
 * - A read of a blob in the Archive tier fails with code `archived` and says how to rehydrate.
 *
 * Why the SDK and not hand-written signing: it runs under Deno (its Node build, through
 * Deno's node:http) and loading it adds about 40 MB of RSS (Deno 2.9: 30 MB → 68 MB), well
 * inside an edge function's 256 MB; so the signing (Shared Key, SAS) is Microsoft's, not ours.
 * @module
 */
import {
  AnonymousCredential,
  type BlobItem,
  BlobServiceClient,
  type BlockBlobClient,
  type ContainerClient,
  StorageSharedKeyCredential,
  StorageRetryPolicyType,
} from "@azure/storage-blob";
import { Readable } from "node:stream";
import { createHash, randomBytes } from "node:crypto";
import { DEFAULT_RETRY } from "../retry.ts";
import { expectSha256 } from "../expect.ts";
import { type Part, sliceParts, streamParts } from "../parts.ts";
import {
  isSha256Hex,
  type ObjectInfo,
  type PutOptions,
  type ReadOptions,
  type Store,
  type StoredObject,
  StoreError,
  validateKey,
  validatePrefix,
  validatePut,
} from "../types.ts";
import { type AzureErrorContext, storeErrorFrom } from "./errors.ts";
import { type AzureStoreConfig, MAX_BLOCKS } from "./options.ts";

/** A store in one container (and optional prefix) of an Azure storage account. */
export class AzureStore implements Store {
  readonly #cfg: AzureStoreConfig;
  readonly #container: ContainerClient;
  readonly #errors: AzureErrorContext;

  constructor(config: AzureStoreConfig) {
    this.#cfg = config;
    const r = { ...DEFAULT_RETRY, ...config.retry };
    const pipelineOptions = {
      retryOptions: {
        retryPolicyType: StorageRetryPolicyType.EXPONENTIAL,
        maxTries: r.attempts,
        retryDelayInMs: Math.max(1, r.baseDelayMs),
        maxRetryDelayInMs: Math.max(1, r.maxDelayMs),
        tryTimeoutInMs: r.timeoutMs,
      },
      // The SDK's own logging could print request URLs; keep it off.
      userAgentOptions: { userAgentPrefix: "lifeboat" },
    };
    const service = config.credential.kind === "sharedKey"
      ? new BlobServiceClient(
        config.endpoint,
        new StorageSharedKeyCredential(config.account, config.credential.accountKey),
        pipelineOptions,
      )
      : new BlobServiceClient(`${config.endpoint}?${config.credential.sasToken}`, new AnonymousCredential(), pipelineOptions);
    this.#container = service.getContainerClient(config.container);
    this.#errors = {
      where: (key) => this.#where(key),
      endpoint: config.endpoint,
      container: config.container,
      auth: config.credential.kind,
      secrets: [config.credential.kind === "sharedKey" ? config.credential.accountKey : config.credential.sasToken],
    };
  }

  /** The container, prefix and endpoint (no credentials), for people. */
  describe(): string {
    const c = this.#cfg;
    return `az://${c.account}/${c.container}/${c.prefix} at ${c.endpoint}${c.accessTier ? ` (tier ${c.accessTier})` : ""}`;
  }

  // ------------------------------------------------------------------ put

  async put(key: string, body: Uint8Array | ReadableStream<Uint8Array>, opts: PutOptions = {}): Promise<StoredObject> {
    validatePut(key, opts);
    const size = this.#cfg.blockSize;
    const parts = body instanceof Uint8Array ? sliceParts(body, size) : streamParts(body, size, opts.signal);
    try {
      const first = await parts.next();
      if (first.done || first.value.last) {
        return await this.#putSingle(key, first.done ? new Uint8Array(0) : first.value.bytes, opts);
      }
      return await this.#putBlocks(key, first.value.bytes, parts, opts);
    } catch (err) {
      throw this.#error(err, `put ${JSON.stringify(key)}`, key, opts.signal);
    } finally {
      await parts.return(undefined);
    }
  }

  async #putSingle(key: string, bytes: Uint8Array, opts: PutOptions): Promise<StoredObject> {
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    expectSha256(key, sha256, opts);
    const blob = this.#blob(key);
    await blob.upload(bytes, bytes.byteLength, {
      abortSignal: opts.signal,
      metadata: { sha256 },
      blobHTTPHeaders: {
        blobContentType: opts.contentType ?? "application/octet-stream",
        blobContentMD5: md5(bytes),
      },
      ...this.#writeOptions(),
    });
    return await this.#confirm(key, bytes.byteLength, sha256, opts.signal);
  }

  /** Put Block for each block (bounded concurrency), then Put Block List. */
  async #putBlocks(key: string, first: Uint8Array, rest: AsyncGenerator<Part>, opts: PutOptions): Promise<StoredObject> {
    const blob = this.#blob(key);
    // Block ids are per upload: a concurrent or earlier failed upload to the same key has
    // other ids, so its uncommitted blocks never end up in this blob.
    const nonce = randomBytes(12).toString("hex");
    const ids: string[] = [];
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const inflight = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    const hash = createHash("sha256");
    let size = 0;
    const launch = (bytes: Uint8Array) => {
      if (ids.length >= MAX_BLOCKS) {
        throw new StoreError(
          "config",
          `Object ${this.#where(key)} needs more than ${MAX_BLOCKS} blocks of ${this.#cfg.blockSize} bytes: raise the block size.`,
        );
      }
      const id = btoa(`${nonce}-${String(ids.length).padStart(6, "0")}`);
      ids.push(id);
      hash.update(bytes);
      size += bytes.byteLength;
      const p = blob.stageBlock(id, bytes, bytes.byteLength, { abortSignal: signal, transactionalContentMD5: md5(bytes) })
        .then(() => undefined, (err) => {
          failure ??= { err };
          stop.abort(err);
        });
      const tracked = p.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
    };
    try {
      launch(first);
      for (;;) {
        // Bounded memory: read the next block only when a slot is free.
        while (inflight.size >= this.#cfg.concurrency) await Promise.race(inflight);
        if (failure) break;
        const next = await rest.next();
        if (next.done) break;
        launch(next.value.bytes);
      }
      await Promise.all(inflight);
      if (failure) throw failure.err;
      opts.signal?.throwIfAborted();
      const sha256 = hash.digest("hex");
      expectSha256(key, sha256, opts);
      await blob.commitBlockList(ids, {
        abortSignal: opts.signal,
        metadata: { sha256 },
        blobHTTPHeaders: { blobContentType: opts.contentType ?? "application/octet-stream" },
        ...this.#writeOptions(),
      });
      return await this.#confirm(key, size, sha256, opts.signal);
    } catch (err) {
      stop.abort(err);
      await Promise.allSettled(inflight);
      throw err;
    }
  }

  /** The tier and immutability policy every write carries. */
  #writeOptions() {
    const c = this.#cfg;
    return {
      ...(c.accessTier ? { tier: c.accessTier } : {}),
      ...(c.immutabilityDays > 0
        ? {
          immutabilityPolicy: {
            expiriesOn: new Date(Date.now() + c.immutabilityDays * 86_400_000),
            policyMode: c.immutabilityMode,
          },
        }
        : {}),
    };
  }

  async #confirm(key: string, size: number, sha256: string, signal?: AbortSignal): Promise<StoredObject> {
    const info = await this.head(key, { signal });
    if (!info) {
      throw new StoreError(
        "integrity",
        `Azure reported ${this.#where(key)} stored, but its properties right after find nothing; do not trust this object.`,
      );
    }
    if (info.size !== size || info.sha256 !== sha256) {
      throw new StoreError(
        "integrity",
        `Azure stored ${this.#where(key)} as ${info.size} bytes (sha256 ${
          info.sha256 ?? "unknown"
        }) but ${size} bytes (sha256 ${sha256}) were sent; do not trust this object.`,
      );
    }
    if (this.#cfg.immutabilityDays > 0 && !info.lock) {
      // Azurite (3.37) accepts the policy headers and ignores them: a blob that should be
      // immutable but is not must not pass for a protected copy.
      await this.#blob(key).deleteIfExists().catch(() => {});
      throw new StoreError(
        "config",
        `${this.#where(key)} was stored without its immutability policy: ${this.#cfg.endpoint} does not implement immutability policies (Azurite does not) or the container lacks version-level immutability support; enable it on the container, or unset LIFEBOAT_AZURE_IMMUTABILITY_DAYS. Nothing was kept.`,
      );
    }
    return { key, size, sha256, lastModified: info.lastModified };
  }

  // ------------------------------------------------------------------ reads

  async get(key: string, opts: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    validateKey(key);
    try {
      const res = await this.#blob(key).download(0, undefined, { abortSignal: opts.signal });
      const body = res.readableStreamBody;
      if (!body) return new ReadableStream({ start: (c) => c.close() });
      // A Node stream in the CLI and the edge runtime alike (the SDK's Node build).
      return Readable.toWeb(body as Readable) as ReadableStream<Uint8Array>;
    } catch (err) {
      throw this.#error(err, `get ${JSON.stringify(key)}`, key, opts.signal);
    }
  }

  async getBytes(key: string, opts: ReadOptions = {}): Promise<Uint8Array> {
    const stream = await this.get(key, opts);
    const chunks: Uint8Array[] = [];
    let n = 0;
    try {
      for await (const c of stream) {
        chunks.push(c);
        n += c.byteLength;
      }
    } catch (err) {
      throw this.#error(err, `get ${JSON.stringify(key)}`, key, opts.signal);
    }
    const out = new Uint8Array(n);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }

  async head(key: string, opts: ReadOptions = {}): Promise<ObjectInfo | null> {
    validateKey(key);
    try {
      const p = await this.#blob(key).getProperties({ abortSignal: opts.signal });
      const sha = p.metadata?.sha256?.toLowerCase();
      const until = p.immutabilityPolicyExpiresOn;
      return {
        key,
        size: p.contentLength ?? 0,
        ...(sha && isSha256Hex(sha) ? { sha256: sha } : {}),
        ...(p.lastModified ? { lastModified: p.lastModified } : {}),
        ...(p.accessTier ? { storageClass: p.archiveStatus ? `${p.accessTier} (${p.archiveStatus})` : p.accessTier } : {}),
        // A locked policy binds everyone, like S3's compliance mode; an unlocked one can be
        // shortened or removed by the account owner, like governance mode.
        ...(until ? { lock: { mode: p.immutabilityPolicyMode === "Locked" ? "compliance" : "governance", retainUntil: until } } : {}),
      };
    } catch (err) {
      const e = this.#error(err, `head ${JSON.stringify(key)}`, key, opts.signal);
      if (e instanceof StoreError && e.code === "not_found") return null;
      throw e;
    }
  }

  async *list(prefix = "", opts: ReadOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const full = this.#cfg.prefix + prefix;
    const pages = this.#container.listBlobsFlat({ prefix: full }).byPage({ maxPageSize: 1000 });
    for (;;) {
      let page;
      try {
        opts.signal?.throwIfAborted();
        page = await pages.next();
      } catch (err) {
        throw this.#error(err, `list ${JSON.stringify(prefix)}`, undefined, opts.signal);
      }
      if (page.done) return;
      for (const b of page.value.segment.blobItems as BlobItem[]) {
        if (!b.name.startsWith(this.#cfg.prefix)) continue;
        yield {
          key: b.name.slice(this.#cfg.prefix.length),
          size: b.properties.contentLength ?? 0,
          ...(b.properties.lastModified ? { lastModified: b.properties.lastModified } : {}),
        };
      }
    }
  }

  async delete(key: string, opts: ReadOptions = {}): Promise<void> {
    validateKey(key);
    try {
      await this.#blob(key).deleteIfExists({ abortSignal: opts.signal });
    } catch (err) {
      throw this.#error(err, `delete ${JSON.stringify(key)}`, key, opts.signal);
    }
  }

  // ---------------------------------------------------------------- helpers

  #blob(key: string): BlockBlobClient {
    return this.#container.getBlockBlobClient(this.#cfg.prefix + key);
  }

  #where(key?: string): string {
    return `az://${this.#cfg.account}/${this.#cfg.container}/${this.#cfg.prefix}${key ?? ""}`;
  }

  #error(err: unknown, what: string, key: string | undefined, signal?: AbortSignal): unknown {
    if (err instanceof StoreError) return err;
    if (signal?.aborted || (err instanceof Error && err.name === "AbortError")) {
      return new StoreError("aborted", `Cancelled: ${what} on ${this.describe()}.`, { cause: err });
    }
    return storeErrorFrom(err, what, key, this.#errors);
  }
}

function md5(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("md5").update(bytes).digest());
}

/**
 * The HTTP side of the Storage source: one project's Storage API (`<project>/storage/v1`),
 * called with its secret (service) key. Bucket management goes through `@supabase/storage-js`;
 * file bytes are streamed with `fetch` both ways (download bodies and upload bodies are
 * streams, so memory stays bounded whatever the file size). Requests that fail because the
 * server is away (connection refused, 502-504) are retried with backoff, so a Storage
 * server that restarts mid-backup costs a few seconds, not the backup.
 * @module
 */
import { StorageClient } from "@supabase/storage-js";

/** The key is missing, or Storage refused it. Raised by {@link StorageApi.probe}, before any work. */
export class StorageKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StorageKeyError";
  }
}

/** Any other Storage failure; the message names the file or bucket. */
export class StorageApiError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "StorageApiError";
  }
}

/** Where a project's Storage is and the key to use. */
export interface StorageApiConfig {
  /** The project URL (`https://<ref>.supabase.co`) or its Storage URL (`…/storage/v1`). */
  url: string;
  /** The project's secret key (`sb_secret_…`) or legacy service_role JWT. */
  key: string;
  /**
   * The URL is a Storage server reached without the project's gateway (its routes at the
   * root, e.g. a local server in a benchmark): used as it is. Needs a service_role JWT.
   * The CLI sets it from `LIFEBOAT_STORAGE_DIRECT=1`.
   */
  direct?: boolean;
  /** Attempts for a request that meets a server that is away (default 8, ~30 s in all). */
  attempts?: number;
}

/** A download: the body stream and what the server said about it. */
export interface Download {
  body: ReadableStream<Uint8Array>;
  /** ETag without quotes. */
  etag: string | null;
  size: number | null;
}

/** What Storage's database row says about a stored file (`GET /object/info/…`). */
export interface FileInfo {
  size: number | null;
  /** ETag without quotes, as Storage recorded it when the file was written. */
  etag: string | null;
}

/** Upload settings of one file. */
export interface UploadOptions {
  contentType?: string | null;
  cacheControl?: string | null;
  userMetadata?: unknown;
  /** Replace a file of the same name. */
  upsert?: boolean;
  signal?: AbortSignal;
}

/** A bucket's settings as createBucket takes them. */
export interface BucketSettings {
  public: boolean;
  fileSizeLimit: number | null;
  allowedMimeTypes: string[] | null;
}

/** `https://x.supabase.co` or `…/storage/v1` → the Storage base URL, without a trailing slash. */
export function storageBaseUrl(url: string): string {
  const u = url.trim().replace(/\/+$/, "");
  if (!/^https?:\/\//.test(u)) {
    throw new StorageKeyError(`the Storage URL '${url}' is not an http(s) URL: pass the project URL, e.g. https://<ref>.supabase.co`);
  }
  return /\/storage\/v1$/.test(u) ? u : `${u}/storage/v1`;
}

/** Encodes an object name for a URL path: each segment escaped, the slashes kept. */
export function encodeName(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

const stripQuotes = (etag: string | null) => etag === null ? null : etag.replace(/^W\//, "").replace(/^"|"$/g, "");

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });

/**
 * Which kind of key this is: "service" for `sb_secret_…` and service_role JWTs,
 * "publishable" for `sb_publishable_…`, else the JWT's role (e.g. "anon"). Anything else is
 * taken for a service key and left to Storage to judge.
 */
export function keyRole(key: string): string {
  if (key.startsWith("sb_publishable_")) return "publishable";
  if (key.startsWith("sb_")) return "service";
  const parts = key.split(".");
  if (parts.length !== 3) return "service";
  try {
    const payload = JSON.parse(atob(parts[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.role === "service_role" ? "service" : String(payload.role ?? "unknown");
  } catch {
    return "service";
  }
}

/** A project's Storage API, as the service role. */
export class StorageApi {
  readonly base: string;
  readonly client: StorageClient;
  readonly #key: string;
  readonly #attempts: number;

  constructor(config: StorageApiConfig) {
    if (!config.key?.trim()) {
      throw new StorageKeyError(
        "no Storage key: pass the project's secret key (sb_secret_… or the service_role key) with --storage-key or LIFEBOAT_STORAGE_KEY",
      );
    }
    this.base = config.direct ? config.url.trim().replace(/\/+$/, "") : storageBaseUrl(config.url);
    this.#key = config.key.trim();
    this.#attempts = config.attempts ?? 8;
    this.client = new StorageClient(this.base, this.#headers());
  }

  #headers(): Record<string, string> {
    // An sb_secret_ key goes in `apikey` (the gateway swaps it for the service_role JWT);
    // a legacy JWT also goes as the bearer token, which Storage itself reads.
    const h: Record<string, string> = { apikey: this.#key };
    if (!this.#key.startsWith("sb_")) h.authorization = `Bearer ${this.#key}`;
    return h;
  }

  /** The URL of a Storage server, safe to log. */
  describe(): string {
    return this.base.replace(/\/\/[^@/]*@/, "//");
  }

  /**
   * Checks the key before any work: lists the buckets, which only the service role may do.
   * Throws {@link StorageKeyError} when the key is refused or is not the service key.
   */
  async probe(): Promise<void> {
    const role = keyRole(this.#key);
    if (role !== "service") {
      throw new StorageKeyError(
        `the Storage key is ${role === "publishable" ? "a publishable key" : `a JWT for role '${role}'`}, which sees only what RLS lets it: ` +
          "pass the project's secret key (sb_secret_… or the service_role key)",
      );
    }
    const res = await this.#fetch("GET", "/bucket", {});
    const text = await res.text();
    // Storage answers a bad JWT with HTTP 400 and {"statusCode":"403","error":"Unauthorized"}.
    const refused = res.status === 401 || res.status === 403 ||
      (res.status === 400 && /"statusCode":"40[13]"|Unauthorized|AccessDenied|Invalid JWT|JWS/i.test(text));
    if (refused) {
      throw new StorageKeyError(
        `Storage at ${this.describe()} refused the key (HTTP ${res.status}): pass the project's secret key (sb_secret_… or service_role), not the publishable/anon key`,
      );
    }
    if (!res.ok) throw new StorageApiError(`Storage at ${this.describe()} answered HTTP ${res.status}: ${text.slice(0, 200)}`, res.status);
    let buckets: unknown;
    try {
      buckets = JSON.parse(text);
    } catch {
      throw new StorageApiError(`${this.describe()} is not a Storage API (GET /bucket did not answer JSON): check the project URL`);
    }
    if (!Array.isArray(buckets)) throw new StorageApiError(`${this.describe()}: unexpected answer to GET /bucket`);
  }

  /** Sends a request, retrying while the server is away (connection refused, 502-504). */
  async #fetch(method: string, path: string, init: RequestInit & { retryBody?: boolean }): Promise<Response> {
    let wait = 250;
    for (let attempt = 1;; attempt++) {
      try {
        const res = await fetch(this.base + path, {
          ...init,
          method,
          headers: { ...this.#headers(), ...(init.headers as Record<string, string> ?? {}) },
        });
        if ((res.status === 502 || res.status === 503 || res.status === 504) && attempt < this.#attempts && init.body == null) {
          await res.body?.cancel();
        } else {
          return res;
        }
      } catch (err) {
        if (init.signal?.aborted) throw init.signal.reason;
        // A stream body cannot be sent twice: the caller retries the whole file.
        if (attempt >= this.#attempts || (init.body != null && !(init.body instanceof Uint8Array))) {
          throw new StorageApiError(`Storage at ${this.describe()} cannot be reached: ${(err as Error).message}`);
        }
      }
      await sleep(wait, init.signal ?? undefined);
      wait = Math.min(wait * 2, 4000);
    }
  }

  /**
   * Streams a file's bytes. Returns null when Storage has no such file (404, or Storage's 400
   * "not_found"). The caller must consume or cancel the body.
   */
  async download(bucket: string, name: string, signal?: AbortSignal): Promise<Download | null> {
    const res = await this.#fetch("GET", `/object/authenticated/${encodeURIComponent(bucket)}/${encodeName(name)}`, { signal });
    if (res.status === 404 || res.status === 400) {
      const text = await res.text();
      if (res.status === 404 || /not.?found/i.test(text)) return null;
      throw new StorageApiError(`download ${bucket}/${name}: HTTP 400 ${text.slice(0, 200)}`, 400);
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => "");
      throw new StorageApiError(`download ${bucket}/${name}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
    }
    const len = res.headers.get("content-length");
    return { body: res.body, etag: stripQuotes(res.headers.get("etag")), size: len === null ? null : Number(len) };
  }

  /**
   * A file's size and ETag from Storage's own record of it (`/object/info/authenticated/…`,
   * answered from the `storage.objects` row, without reading the bytes). Null when not found.
   */
  async info(bucket: string, name: string, signal?: AbortSignal): Promise<FileInfo | null> {
    const res = await this.#fetch("GET", `/object/info/authenticated/${encodeURIComponent(bucket)}/${encodeName(name)}`, { signal });
    const text = await res.text();
    if (res.status === 404 || (res.status === 400 && /not.?found/i.test(text))) return null;
    if (!res.ok) throw new StorageApiError(`info ${bucket}/${name}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
    let body: { size?: unknown; etag?: unknown };
    try {
      body = JSON.parse(text);
    } catch {
      throw new StorageApiError(`info ${bucket}/${name}: the answer is not JSON`);
    }
    return {
      size: typeof body.size === "number" ? body.size : null,
      etag: typeof body.etag === "string" ? stripQuotes(body.etag) : null,
    };
  }

  /** Whether a file exists (HEAD). */
  async exists(bucket: string, name: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.#fetch("HEAD", `/object/authenticated/${encodeURIComponent(bucket)}/${encodeName(name)}`, { signal });
    await res.body?.cancel();
    if (res.ok) return true;
    if (res.status === 404 || res.status === 400) return false;
    throw new StorageApiError(`HEAD ${bucket}/${name}: HTTP ${res.status}`, res.status);
  }

  /** Uploads a file from a stream (one streamed request; Storage writes the row and metadata). */
  async upload(bucket: string, name: string, body: ReadableStream<Uint8Array> | Uint8Array, opts: UploadOptions = {}): Promise<void> {
    const headers: Record<string, string> = {
      "content-type": opts.contentType || "application/octet-stream",
      "x-upsert": opts.upsert ? "true" : "false",
    };
    if (opts.cacheControl) headers["cache-control"] = opts.cacheControl;
    if (opts.userMetadata != null) {
      headers["x-metadata"] = btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(opts.userMetadata))));
    }
    const res = await this.#fetch("POST", `/object/${encodeURIComponent(bucket)}/${encodeName(name)}`, {
      body: body as BodyInit,
      headers,
      signal: opts.signal,
      // @ts-ignore: Deno's fetch needs duplex for a stream body.
      duplex: "half",
    });
    const text = await res.text();
    if (!res.ok) throw new StorageApiError(`upload ${bucket}/${name}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
  }

  /** The buckets of the project, by id. */
  async buckets(): Promise<Map<string, BucketSettings>> {
    const { data, error } = await this.client.listBuckets();
    if (error) throw new StorageApiError(`list buckets: ${error.message}`);
    return new Map(data.map((b) => [b.id, {
      public: b.public,
      fileSizeLimit: b.file_size_limit ?? null,
      allowedMimeTypes: b.allowed_mime_types ?? null,
    }]));
  }

  /** Creates a bucket with its settings. */
  async createBucket(id: string, s: BucketSettings): Promise<void> {
    const { error } = await this.client.createBucket(id, {
      public: s.public,
      fileSizeLimit: s.fileSizeLimit ?? undefined,
      allowedMimeTypes: s.allowedMimeTypes ?? undefined,
    });
    if (error) throw new StorageApiError(`create bucket ${id}: ${error.message}`);
  }

  /** Empties and deletes a bucket (the drill's scratch bucket). */
  async removeBucket(id: string): Promise<void> {
    const empty = await this.client.emptyBucket(id);
    if (empty.error) throw new StorageApiError(`empty bucket ${id}: ${empty.error.message}`);
    const { error } = await this.client.deleteBucket(id);
    if (error) throw new StorageApiError(`delete bucket ${id}: ${error.message}`);
  }
}

/**
 * Reading a stream back: listing a slot's segments (each manifest authenticated against the
 * trusted keys, never the store's word alone) and reading a segment's records after checking the
 * stored object's size and sha256 against its manifest. Replay (`_shared/pitr/`) reads segments
 * only through these.
 * @module
 */
import { createHash } from "node:crypto";
import { openStream } from "../crypto/mod.ts";
import { signerOf } from "../format/mod.ts";
import { type Store, StoreError } from "../store/mod.ts";
import type { Wal2JsonRecord } from "./records.ts";
import {
  parseSegmentKey,
  parseSegmentManifest,
  segmentKey,
  type SegmentManifest,
  segmentManifestKey,
  segmentSignatureKey,
  STREAM_ROOT,
  streamPrefix,
} from "./segment.ts";

/** A stream problem a user can act on; `code` is stable. */
export class SegmentError extends Error {
  readonly code: "invalid" | "unsigned" | "bad_signature" | "integrity" | "gap" | "not_found";
  constructor(code: SegmentError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SegmentError";
    this.code = code;
  }
}

/** Which signing keys a reader trusts (the same rule as backup manifests). */
export interface SegmentTrust {
  trustedKeys: string[];
  /** Accept unsigned segment manifests, on explicit request. */
  allowUnsigned: boolean;
}

/** Options for {@link listSegments}. */
export interface ListSegmentsOptions {
  trust: SegmentTrust;
  /** Skip segments whose seq is below this. */
  fromSeq?: number;
  /** Fail on a missing seq between the first and last listed (default true). */
  requireContiguous?: boolean;
  signal?: AbortSignal;
}

/** The slots that have a stream in the store. */
export async function listStreamSlots(store: Store, signal?: AbortSignal): Promise<string[]> {
  const slots = new Set<string>();
  for await (const o of store.list(STREAM_ROOT, { signal })) {
    const rest = o.key.slice(STREAM_ROOT.length);
    const slash = rest.indexOf("/");
    if (slash > 0) slots.add(rest.slice(0, slash));
  }
  return [...slots].sort();
}

/** The seqs of `slot` whose manifest is stored (complete segments), ascending, without reading them. */
export async function listSegmentSeqs(store: Store, slot: string, signal?: AbortSignal): Promise<number[]> {
  const seqs: number[] = [];
  for await (const o of store.list(streamPrefix(slot), { signal })) {
    const k = parseSegmentKey(slot, o.key);
    if (k?.kind === "json") seqs.push(k.seq);
  }
  return seqs.sort((a, b) => a - b);
}

/** Reads and authenticates one segment manifest. */
export async function readSegmentManifest(
  store: Store,
  slot: string,
  seq: number,
  trust: SegmentTrust,
  signal?: AbortSignal,
): Promise<SegmentManifest> {
  let body: Uint8Array;
  try {
    body = await store.getBytes(segmentManifestKey(slot, seq), { signal });
  } catch (err) {
    if (err instanceof StoreError && err.code === "not_found") {
      throw new SegmentError("not_found", `stream ${slot}: segment ${seq} has no manifest (never completed)`);
    }
    throw err;
  }
  let manifest: SegmentManifest;
  try {
    manifest = parseSegmentManifest(JSON.parse(new TextDecoder().decode(body)));
  } catch (err) {
    throw new SegmentError("invalid", `stream ${slot} segment ${seq}: ${(err as Error).message}`);
  }
  if (manifest.slot !== slot || manifest.seq !== seq) {
    throw new SegmentError("invalid", `stream ${slot} segment ${seq}: its manifest names ${manifest.slot} ${manifest.seq}; it was copied under the wrong key`);
  }
  let sig: Uint8Array | null = null;
  try {
    sig = await store.getBytes(segmentSignatureKey(slot, seq), { signal });
  } catch (err) {
    if (!(err instanceof StoreError && err.code === "not_found")) throw err;
  }
  if (!sig || trust.trustedKeys.length === 0) {
    if (trust.allowUnsigned) return manifest;
    throw new SegmentError("unsigned", sig
      ? `stream ${slot} segment ${seq} is signed, but no trusted signing key was given: pass --trust-key (or set LIFEBOAT_TRUSTED_KEYS)`
      : `stream ${slot} segment ${seq} is not signed: use it only if you know its writer, with --allow-unsigned`);
  }
  if (!(await signerOf(body, sig, trust.trustedKeys))) {
    throw new SegmentError("bad_signature",
      `stream ${slot} segment ${seq}: its signature is not by any trusted key: the segment was altered or written by someone else; do not replay it`);
  }
  return manifest;
}

/**
 * A slot's complete segments, ascending by seq, each manifest authenticated. With
 * `requireContiguous` (the default), a missing seq in between is an error: replay across a gap
 * would lose transactions.
 */
export async function listSegments(store: Store, slot: string, opts: ListSegmentsOptions): Promise<SegmentManifest[]> {
  const seqs = (await listSegmentSeqs(store, slot, opts.signal)).filter((s) => s >= (opts.fromSeq ?? 0));
  const out: SegmentManifest[] = [];
  for (const seq of seqs) {
    const m = await readSegmentManifest(store, slot, seq, opts.trust, opts.signal);
    const prev = out[out.length - 1];
    if (prev && (opts.requireContiguous ?? true) && m.seq !== prev.seq + 1) {
      throw new SegmentError("gap", `stream ${slot}: segments ${prev.seq + 1}..${m.seq - 1} are missing; the stream cannot be replayed past segment ${prev.seq}`);
    }
    out.push(m);
  }
  return out;
}

/**
 * A segment's plaintext (NDJSON), after its stored bytes matched the manifest's size and sha256.
 * `identities` are age identities; null for an unencrypted segment.
 */
export async function readSegmentText(
  store: Store,
  manifest: SegmentManifest,
  identities: string[] | null,
  signal?: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const key = segmentKey(manifest.slot, manifest.seq);
  // Segments are bounded (the shipper cuts them at a few MiB sealed): checking the whole object
  // before anything of it is parsed costs one buffer of that size.
  const stored = await store.getBytes(key, { signal });
  const sha = createHash("sha256").update(stored).digest("hex");
  if (stored.length !== manifest.bytes || sha !== manifest.sha256) {
    throw new SegmentError("integrity",
      `stream ${manifest.slot} segment ${manifest.seq}: the stored object does not match its manifest (size or sha256): it was altered or truncated; do not replay it`);
  }
  if (manifest.recipients.length > 0 && identities === null) {
    throw new SegmentError("invalid", `stream ${manifest.slot} segment ${manifest.seq} is encrypted: pass the age identity (--identity)`);
  }
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(stored);
      c.close();
    },
  });
  return await openStream(source, manifest.recipients.length > 0 ? identities : null, manifest.compression);
}

/**
 * A segment's lines in order, in batches (one per decrypted chunk: a big transaction's lines are
 * taken a batch at a time, not one await each); the plaintext's size and sha256 are checked
 * after the last, so a caller must read to the end before it trusts what it applied.
 */
export async function* readSegmentLineBatches(
  store: Store,
  manifest: SegmentManifest,
  identities: string[] | null,
  signal?: AbortSignal,
): AsyncGenerator<string[]> {
  const plain = await readSegmentText(store, manifest, identities, signal);
  const hash = createHash("sha256");
  const decoder = new TextDecoder();
  let size = 0;
  let rest = "";
  for await (const chunk of plain) {
    hash.update(chunk);
    size += chunk.length;
    const text = rest + decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    rest = lines.pop()!;
    const batch = lines.filter((l) => l.length > 0);
    if (batch.length) yield batch;
  }
  rest += decoder.decode();
  if (rest) yield [rest];
  if (size !== manifest.plainBytes || hash.digest("hex") !== manifest.plainSha256) {
    throw new SegmentError("integrity", `stream ${manifest.slot} segment ${manifest.seq}: its plaintext does not match its manifest`);
  }
}

/** A segment's records in order, each with its verbatim line; the plaintext sha256 is checked at the end. */
export async function* readSegmentLines(
  store: Store,
  manifest: SegmentManifest,
  identities: string[] | null,
  signal?: AbortSignal,
): AsyncGenerator<{ line: string; record: Wal2JsonRecord }> {
  for await (const batch of readSegmentLineBatches(store, manifest, identities, signal)) {
    for (const line of batch) yield { line, record: JSON.parse(line) as Wal2JsonRecord };
  }
}

/** A segment's wal2json records in order. */
export async function* readSegment(
  store: Store,
  manifest: SegmentManifest,
  identities: string[] | null,
  signal?: AbortSignal,
): AsyncGenerator<Wal2JsonRecord> {
  for await (const { record } of readSegmentLines(store, manifest, identities, signal)) yield record;
}

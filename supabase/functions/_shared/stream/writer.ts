/**
 * Writing one segment: records go into a sealed object as they come (bounded memory: the part
 * writer streams it to the store), then the manifest is signed and stored. The segment is
 * durable once {@link SegmentWriter.finish} resolves: object confirmed with its sha256, signature
 * and manifest stored. Only then may the shipper advance the slot.
 * @module
 */
import { createHash } from "node:crypto";
import { PartWriter, type SealConfig } from "../export/mod.ts";
import { signManifest } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";
import type { Wal2JsonRecord } from "./records.ts";
import {
  type PartialTransaction,
  SEGMENT_FORMAT,
  segmentKey,
  type SegmentManifest,
  segmentManifestKey,
  type SegmentSequence,
  segmentSignatureKey,
} from "./segment.ts";

const enc = new TextEncoder();

/** Streams wal2json records into segment `seq` of `slot`. */
export class SegmentWriter {
  readonly slot: string;
  readonly seq: number;
  #store: Store;
  #seal: SealConfig;
  #part: PartWriter;
  #hash = createHash("sha256");
  #plain = 0;
  #startLsn: string | null = null;
  #endLsn: string | null = null;
  #firstCommitAt: string | null = null;
  #lastCommitAt: string | null = null;
  #transactions = 0;
  #changes = 0;
  #open: { xid: number; fromLsn: string; toLsn: string } | null = null;
  #lastCommitLsn: string | null = null;
  /** Lines not encoded yet, and their characters (with newlines). */
  #pending: string[] = [];
  #pendingChars = 0;

  private constructor(store: Store, slot: string, seq: number, seal: SealConfig, part: PartWriter) {
    this.#store = store;
    this.slot = slot;
    this.seq = seq;
    this.#seal = seal;
    this.#part = part;
  }

  /** When the stream was enabled (the manifest's `streamStartedAt`). */
  streamStartedAt: string | null = null;

  /** Starts segment `seq`'s upload. */
  static async open(
    store: Store,
    slot: string,
    seq: number,
    seal: SealConfig,
    signal?: AbortSignal,
    streamStartedAt: string | null = null,
  ): Promise<SegmentWriter> {
    const part = await PartWriter.open(store, segmentKey(slot, seq), seal, signal);
    const w = new SegmentWriter(store, slot, seq, seal, part);
    w.streamStartedAt = streamStartedAt;
    return w;
  }

  /** Plain bytes taken so far (lines not encoded yet count their characters). */
  get plainBytes(): number {
    return this.#plain + this.#pendingChars;
  }

  /** Change records taken so far. */
  get changes(): number {
    return this.#changes;
  }

  /** Commits taken so far. */
  get transactions(): number {
    return this.#transactions;
  }

  /** LSN of the last commit taken (the slot may advance to it once the segment is durable). */
  get lastCommitLsn(): string | null {
    return this.#lastCommitLsn;
  }

  /** Commit time of the last commit taken. */
  get lastCommitAt(): string | null {
    return this.#lastCommitAt;
  }

  /** Whether the segment holds nothing yet. */
  get empty(): boolean {
    return this.#startLsn === null;
  }

  /**
   * Adds one record; `line` is its verbatim wal2json text (without a newline), `position` the
   * peek's `lsn` column for it (for a commit: the end of its commit record, where the slot may
   * advance to); defaults to the record's own `lsn`.
   */
  async add(line: string, rec: Wal2JsonRecord, position?: string): Promise<void> {
    await this.addLine(line, rec.action, position ?? rec.lsn ?? this.#endLsn ?? "0/0", () => rec);
  }

  /**
   * Adds one record by its action; `parse` is called only when the writer needs its fields (a
   * begin or commit, or the first change of a transaction continued from the previous segment),
   * so a big transaction's changes are stored without being parsed.
   */
  async addLine(line: string, action: Wal2JsonRecord["action"], lsn: string, parse: () => Wal2JsonRecord): Promise<void> {
    this.#startLsn ??= lsn;
    this.#endLsn = lsn;
    if (action === "B") {
      this.#open = { xid: parse().xid ?? 0, fromLsn: lsn, toLsn: lsn };
    } else if (action === "C") {
      const rec = parse();
      this.#transactions++;
      this.#firstCommitAt ??= rec.timestamp ?? null;
      this.#lastCommitAt = rec.timestamp ?? this.#lastCommitAt;
      this.#lastCommitLsn = lsn;
      this.#open = null;
    } else {
      this.#changes++;
      if (this.#open) this.#open.toLsn = lsn;
      // A transaction continued from the previous segment has no B here.
      else this.#open = { xid: parse().xid ?? 0, fromLsn: lsn, toLsn: lsn };
    }
    // Lines are encoded, hashed and sealed in ~256 KiB batches: one call each per batch, not per row.
    this.#pending.push(line);
    this.#pendingChars += line.length + 1;
    if (this.#pendingChars >= 256 * 1024) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    this.#pending.push("");
    const out = enc.encode(this.#pending.join("\n"));
    this.#pending = [];
    this.#pendingChars = 0;
    this.#hash.update(out);
    this.#plain += out.length;
    await this.#part.write(out);
  }

  /**
   * Ends the segment: confirms the object, then stores the signature and the manifest.
   * `sequences` are the sequences' states read after the segment's last commit.
   */
  async finish(sequences: SegmentSequence[], signingKey: CryptoKey | null, signal?: AbortSignal): Promise<SegmentManifest> {
    if (this.#startLsn === null || this.#endLsn === null) throw new Error("an empty segment is never stored");
    await this.#flush();
    const stored = await this.#part.close();
    const partial: PartialTransaction | null = this.#open ? { ...this.#open } : null;
    const manifest: SegmentManifest = {
      format: SEGMENT_FORMAT,
      slot: this.slot,
      seq: this.seq,
      streamStartedAt: this.streamStartedAt,
      startLsn: this.#startLsn,
      endLsn: this.#endLsn,
      firstCommitAt: this.#firstCommitAt,
      lastCommitAt: this.#lastCommitAt,
      transactions: this.#transactions,
      changes: this.#changes,
      partial,
      sequences,
      bytes: stored.size,
      sha256: stored.sha256,
      plainBytes: this.#plain,
      plainSha256: this.#hash.digest("hex"),
      compression: this.#seal.compression,
      recipients: [...this.#seal.recipients],
      signed: signingKey !== null,
      createdAt: new Date().toISOString(),
    };
    await storeSegmentManifest(this.#store, manifest, signingKey, signal);
    return manifest;
  }

  /** Abandons the segment (nothing durable was claimed). */
  async abort(reason?: unknown): Promise<void> {
    await this.#part.abort(reason);
  }
}

/** Serializes, signs and stores a segment manifest: the signature first, the manifest last. */
export async function storeSegmentManifest(
  store: Store,
  manifest: SegmentManifest,
  signingKey: CryptoKey | null,
  signal?: AbortSignal,
): Promise<void> {
  const body = enc.encode(JSON.stringify(manifest, null, 2) + "\n");
  if (signingKey) {
    const sig = await signManifest(signingKey, body);
    await store.put(segmentSignatureKey(manifest.slot, manifest.seq), sig, { contentType: "application/octet-stream", signal });
  }
  await store.put(segmentManifestKey(manifest.slot, manifest.seq), body, { contentType: "application/json", signal });
}

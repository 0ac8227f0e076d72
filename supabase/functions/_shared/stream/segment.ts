/**
 * The stream segment format: where segments live in a store, and the segment manifest that
 * describes each one (docs/format.md, "Stream segments"). A segment's plaintext is NDJSON: the
 * wal2json format-2 records of the slot, verbatim, one per line, in LSN order. It is stored
 * compressed and age-encrypted exactly like a backup part, and its manifest is signed like a
 * backup manifest (`<seq>.json.sig` beside `<seq>.json`, the signature written first).
 * @module
 */
import { z } from "zod";

/** The format tag every segment manifest carries. */
export const SEGMENT_FORMAT = "lifeboat.segment/1";

/** Every stream lives under this store prefix. */
export const STREAM_ROOT = "stream/";

/** Digits of a segment's sequence number in its key (zero-padded so keys sort by seq). */
export const SEQ_DIGITS = 12;

const SLOT_RE = /^[a-z0-9_]{1,63}$/;

/** Whether `slot` is a replication slot name Postgres accepts (and so a safe key segment). */
export function isSlotName(slot: string): boolean {
  return SLOT_RE.test(slot);
}

function checkSlot(slot: string): string {
  if (!isSlotName(slot)) {
    throw new Error(`'${slot}' is not a replication slot name: use lowercase letters, digits and '_' (at most 63)`);
  }
  return slot;
}

function pad(seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq >= 10 ** SEQ_DIGITS) throw new Error(`segment seq ${seq} is out of range`);
  return String(seq).padStart(SEQ_DIGITS, "0");
}

/** The prefix holding one slot's segments: `stream/<slot>/`. */
export function streamPrefix(slot: string): string {
  return `${STREAM_ROOT}${checkSlot(slot)}/`;
}

/** The stored (sealed) segment: `stream/<slot>/<seq>.seg`. */
export function segmentKey(slot: string, seq: number): string {
  return `${streamPrefix(slot)}${pad(seq)}.seg`;
}

/** The segment manifest: `stream/<slot>/<seq>.json`. */
export function segmentManifestKey(slot: string, seq: number): string {
  return `${streamPrefix(slot)}${pad(seq)}.json`;
}

/** The manifest's Ed25519 signature: `stream/<slot>/<seq>.json.sig`. */
export function segmentSignatureKey(slot: string, seq: number): string {
  return `${segmentManifestKey(slot, seq)}.sig`;
}

/** The seq a key of `slot`'s prefix names and what it is, or null for any other key. */
export function parseSegmentKey(slot: string, key: string): { seq: number; kind: "seg" | "json" | "sig" } | null {
  const prefix = streamPrefix(slot);
  if (!key.startsWith(prefix)) return null;
  const m = /^(\d{12})\.(seg|json|json\.sig)$/.exec(key.slice(prefix.length));
  if (!m) return null;
  return { seq: Number(m[1]), kind: m[2] === "json.sig" ? "sig" : m[2] as "seg" | "json" };
}

const LSN_RE = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;

/** A Postgres LSN as text (`16/B374D848`), upper-case hex. */
export const Lsn = z.string().regex(LSN_RE, "an LSN like 16/B374D848");

/** An LSN as a bigint, to compare and subtract. */
export function lsnToBigInt(lsn: string): bigint {
  const t = lsn.trim().toUpperCase();
  if (!LSN_RE.test(t)) throw new Error(`'${lsn}' is not an LSN (expected e.g. 16/B374D848)`);
  const [hi, lo] = t.split("/");
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** The Postgres text form of an LSN. */
export function bigIntToLsn(n: bigint): string {
  return `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Compares two LSNs: negative, zero or positive. */
export function compareLsn(a: string, b: string): number {
  const x = lsnToBigInt(a), y = lsnToBigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A sequence's state read after the segment's last commit. */
export const SegmentSequence = z.object({
  schema: z.string(),
  name: z.string(),
  /** `last_value` as text (bigint). */
  lastValue: z.string().regex(/^-?\d+$/),
  isCalled: z.boolean(),
});
export type SegmentSequence = z.infer<typeof SegmentSequence>;

/** An open transaction that a segment ends inside of; it continues in the next segment. */
export const PartialTransaction = z.object({
  /** The transaction id as wal2json reports it (32-bit). */
  xid: z.number().int().nonnegative(),
  /** LSN of its first record in this segment. */
  fromLsn: Lsn,
  /** LSN of its last record in this segment. */
  toLsn: Lsn,
});
export type PartialTransaction = z.infer<typeof PartialTransaction>;

/** The manifest of one stored segment (`<seq>.json`). */
export const SegmentManifest = z.object({
  format: z.literal(SEGMENT_FORMAT),
  slot: z.string().regex(SLOT_RE),
  seq: z.number().int().nonnegative(),
  /**
   * When the stream this segment belongs to was enabled (its slot created). Seqs continue across
   * a disable/enable of the same slot name; a change of this value between two segments is a
   * new stream: the changes between them were not captured.
   */
  streamStartedAt: z.string().nullable().default(null),
  /** LSN of the segment's first record. */
  startLsn: Lsn,
  /** LSN of its last record (the commit of its last complete transaction, unless `partial`). */
  endLsn: Lsn,
  /** Commit time of the first transaction completed in this segment (null: none completed). */
  firstCommitAt: z.string().nullable(),
  /** Commit time of the last transaction completed in this segment. */
  lastCommitAt: z.string().nullable(),
  /** Transactions whose commit record is in this segment. */
  transactions: z.number().int().nonnegative(),
  /** Change records (I/U/D/T/M) in this segment. */
  changes: z.number().int().nonnegative(),
  partial: PartialTransaction.nullable(),
  sequences: z.array(SegmentSequence),
  /** Stored (sealed) bytes and their sha256. */
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Plaintext NDJSON bytes and their sha256. */
  plainBytes: z.number().int().nonnegative(),
  plainSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The stored object's codec (zstd unless the runtime has none). */
  compression: z.enum(["zstd", "gzip"]).default("zstd"),
  /** age recipients the segment is encrypted to; empty = unencrypted (by explicit request only). */
  recipients: z.array(z.string()),
  /** Whether a `.json.sig` was written (the writer had a signing key). */
  signed: z.boolean(),
  createdAt: z.string(),
});
export type SegmentManifest = z.infer<typeof SegmentManifest>;

/** Parses a segment manifest; throws with what is wrong. */
export function parseSegmentManifest(json: unknown): SegmentManifest {
  const r = SegmentManifest.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new Error(`not a ${SEGMENT_FORMAT} manifest: ${first.path.join(".") || "(root)"}: ${first.message}`);
  }
  return r.data;
}

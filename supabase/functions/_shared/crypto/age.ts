/**
 * age encryption (X25519 recipients) for backup objects, through `age-encryption`.
 * The exporter only ever holds recipients (public keys); identities (private keys) are
 * needed only to restore. Output is the standard binary age format, so the `age` CLI
 * decrypts it.
 * @module
 */
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import type { Recipient, Stanza } from "age-encryption";
import { decryptPayload, encryptPayload, hasNativeChaCha, payloadKey, sealedPayloadBytes, sealPayloadInto } from "./age_stream.ts";
import { handOver } from "../release.ts";

// Bech32 data characters. X25519 recipients are `age1` + 58 of them; we accept only these
// (not post-quantum or plugin recipients) so that any age CLI can decrypt the backup.
const RECIPIENT_RE = /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/;
const IDENTITY_RE = /^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}$/;

/** Thrown for a malformed recipient or identity, or a file no identity can open. */
export class AgeKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AgeKeyError";
  }
}

/** Checks an X25519 recipient (`age1…`) and returns it trimmed; throws {@link AgeKeyError}. */
export function parseRecipient(text: string): string {
  const r = text.trim();
  if (!RECIPIENT_RE.test(r)) {
    const shown = r.length > 16 ? `${r.slice(0, 12)}…` : r;
    throw new AgeKeyError(
      `'${shown}' is not an age X25519 recipient: expected 'age1' followed by 58 characters (create one with 'lifeboat keygen' or 'age-keygen')`,
    );
  }
  try {
    new Encrypter().addRecipient(r); // also verifies the bech32 checksum
  } catch {
    throw new AgeKeyError(`'${r.slice(0, 12)}…' is not a valid age recipient (bad checksum): copy it again`);
  }
  return r;
}

/** Recipients from a recipients file: one per line, `#` comments and blank lines ignored. */
export function parseRecipientsFile(text: string): string[] {
  const out = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map(parseRecipient);
  if (out.length === 0) throw new AgeKeyError("the recipients file lists no recipient (one 'age1…' per line)");
  return out;
}

/** Identities (`AGE-SECRET-KEY-1…`) from an identity file as age-keygen writes it. */
export function parseIdentityFile(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const l = raw.trim();
    if (!l || l.startsWith("#")) continue;
    if (!IDENTITY_RE.test(l)) throw new AgeKeyError("the identity file holds a line that is not an age X25519 identity (AGE-SECRET-KEY-1…)");
    out.push(l);
  }
  if (out.length === 0) throw new AgeKeyError("the identity file holds no identity (AGE-SECRET-KEY-1…)");
  return out;
}

/** A new X25519 identity and its recipient. */
export async function generateIdentity(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** The recipient of an identity. */
export function recipientOf(identity: string): Promise<string> {
  return identityToRecipient(identity);
}

/** A recipient that records the file key it is handed and adds no stanza to the header. */
class FileKeyTap implements Recipient {
  fileKey: Uint8Array | null = null;
  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    this.fileKey = fileKey;
    return [];
  }
}

/** An age header (recipients' stanzas and MAC) and the file key it wraps. */
export interface AgeHeader {
  header: Uint8Array;
  fileKey: Uint8Array;
}

/**
 * A new file key wrapped for `recipients`: the header `age-encryption` writes (one X25519
 * agreement per recipient, the costly part of sealing a small object). Passed to
 * {@link encryptStream} as `header`, it is shared by the objects sealed with it: each still
 * gets its own random 16-byte payload nonce, hence its own payload key (HKDF of the file key
 * and the nonce), and is a complete age file. Where node:crypto lacks ChaCha20-Poly1305,
 * {@link encryptStream} ignores it (`age-encryption` then writes a header per object).
 */
export async function ageHeader(recipients: string[]): Promise<AgeHeader> {
  if (recipients.length === 0) throw new AgeKeyError("no recipient: pass at least one age1… public key");
  const e = encrypterTo(recipients);
  const tap = new FileKeyTap();
  e.addRecipient(tap);
  // Encrypting nothing yields header ‖ 16-byte nonce ‖ the sealed empty final chunk (16 bytes).
  const empty = await e.encrypt(new Uint8Array(0));
  return { header: empty.slice(0, empty.length - 32), fileKey: tap.fileKey! };
}

/**
 * A TransformStream that age-encrypts to `recipients` (validated with {@link parseRecipient}).
 * `age-encryption` makes the file key, the recipients' stanzas and the header MAC; the payload
 * is sealed with node:crypto's native ChaCha20-Poly1305 when available (see age_stream.ts),
 * else by `age-encryption` itself. With `header` ({@link ageHeader}) the stream reuses that
 * header and file key instead of making its own. Memory is one 64 KiB age chunk plus what is
 * in flight.
 */
export async function encryptStream(
  recipients: string[],
  opts: { native?: boolean; header?: AgeHeader } = {},
): Promise<TransformStream<Uint8Array, Uint8Array>> {
  if (recipients.length === 0) throw new AgeKeyError("no recipient: pass at least one age1… public key");
  if (!(opts.native ?? true) || !hasNativeChaCha()) {
    const e = encrypterTo(recipients);
    const pass = new TransformStream<Uint8Array, Uint8Array>();
    const readable = await e.encrypt(pass.readable);
    return { writable: pass.writable, readable };
  }
  const { header, fileKey } = opts.header ?? await ageHeader(recipients);
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  // A buffer of this stream's own: handed over, so the stage after it may free it once read.
  const prefix = handOver(new Uint8Array(header.length + 16));
  prefix.set(header);
  prefix.set(nonce, header.length);
  const key = payloadKey(fileKey, nonce);
  const payload = encryptPayload(key);
  let first = true;
  const withPrefix = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      if (first) {
        c.enqueue(prefix);
        first = false;
      }
      c.enqueue(chunk);
    },
    flush(c) {
      if (first) c.enqueue(prefix);
    },
  });
  return { writable: payload.writable, readable: payload.readable.pipeThrough(withPrefix) };
}

/** `age-encryption`'s encrypter to `recipients` (each parsed and checked). */
function encrypterTo(recipients: string[]): Encrypter {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(parseRecipient(r));
  return e;
}

/**
 * Age-encrypts bytes in memory to `recipients` into one buffer of the exact size: the same age
 * file {@link encryptStream} writes, without a stream (a small file's object is sealed in one
 * call, bench/storage/RESULTS.md). Where node:crypto lacks ChaCha20-Poly1305, `age-encryption`
 * encrypts it (its own header).
 */
export async function encryptBytes(recipients: string[], plain: Uint8Array, opts: { header?: AgeHeader } = {}): Promise<Uint8Array> {
  if (recipients.length === 0) throw new AgeKeyError("no recipient: pass at least one age1… public key");
  if (!hasNativeChaCha()) return await encrypterTo(recipients).encrypt(plain);
  const { header, fileKey } = opts.header ?? await ageHeader(recipients);
  const out = new Uint8Array(header.length + 16 + sealedPayloadBytes(plain.length));
  out.set(header);
  const nonce = out.subarray(header.length, header.length + 16);
  crypto.getRandomValues(nonce);
  sealPayloadInto(payloadKey(fileKey, nonce), plain, out, header.length + 16);
  return out;
}

const HEADER_END = new TextEncoder().encode("\n--- ");
const MAX_HEADER = 64 * 1024;

function indexOfSeq(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = hay.indexOf(needle[0], from); i !== -1 && i <= hay.length - needle.length; i = hay.indexOf(needle[0], i + 1)) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Reads the age header (up to and including the MAC line) and the 16-byte payload nonce. */
async function readHeader(reader: ReadableStreamDefaultReader<Uint8Array>) {
  let buf: Uint8Array = new Uint8Array(0);
  for (;;) {
    const at = indexOfSeq(buf, HEADER_END);
    if (at !== -1) {
      const eol = buf.indexOf(10, at + HEADER_END.length);
      if (eol !== -1 && buf.length >= eol + 1 + 16) {
        return { header: buf.subarray(0, eol + 1), nonce: buf.subarray(eol + 1, eol + 17), rest: buf.subarray(eol + 17) };
      }
    }
    if (buf.length > MAX_HEADER) throw new Error("no age header found");
    const { value, done } = await reader.read();
    if (done) throw new Error("the file ends inside the age header");
    buf = concat(buf, value);
  }
}

function describeAgeFailure(err: unknown): AgeKeyError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/no identity matched/i.test(msg)) {
    return new AgeKeyError("none of the given age identities can decrypt this backup: use the key whose recipient the backup lists");
  }
  return new AgeKeyError(`not a readable age file (${msg}): the object is damaged or not encrypted`);
}

/**
 * Decrypts an age stream with any of `identities`. Resolves once the header has been read;
 * rejects with {@link AgeKeyError} if none of the identities is a recipient of the file.
 * A damaged payload makes the returned stream error.
 */
export async function decryptStream(
  source: ReadableStream<Uint8Array>,
  identities: string[],
  opts: { native?: boolean } = {},
): Promise<ReadableStream<Uint8Array>> {
  const d = new Decrypter();
  for (const id of identities) d.addIdentity(id);
  if (!(opts.native ?? true) || !hasNativeChaCha()) {
    try {
      return await d.decrypt(source);
    } catch (err) {
      throw describeAgeFailure(err);
    }
  }
  const reader = source.getReader();
  let key: Uint8Array;
  let rest: Uint8Array;
  try {
    const h = await readHeader(reader);
    key = payloadKey(await d.decryptHeader(h.header), h.nonce);
    rest = h.rest;
  } catch (err) {
    reader.cancel().catch(() => {});
    throw describeAgeFailure(err);
  }
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      if (rest.length) c.enqueue(rest);
    },
    async pull(c) {
      const { value, done } = await reader.read();
      if (done) c.close();
      else c.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return body.pipeThrough(decryptPayload(key));
}

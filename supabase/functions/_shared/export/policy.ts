/**
 * The encryption and codec policy of a backup, decided here for every driver (the CLI's
 * flags, the one-shot export's options, the backup-export job settings): a backup is
 * encrypted to at least one age recipient unless it is explicitly unencrypted, never both,
 * and its codec is the requested one or the runtime's default, which must be available.
 * Each driver words the problems for its own inputs (flags, options, settings).
 * @module
 */
import { type Compression, defaultCompression, hasZstd } from "../crypto/mod.ts";
import type { SealConfig } from "./part_writer.ts";

/** What can be wrong with a requested policy. */
export type PolicyProblem =
  /** Encrypted (the default) but no recipient was given. */
  | "no_recipient"
  /** Unencrypted and recipients were given. */
  | "recipients_with_unencrypted"
  /** zstd was asked for but this runtime's node:zlib has none. */
  | "zstd_unavailable";

/** Turns a problem into the driver's own error (its message names the driver's inputs). */
export type PolicyFailure = (problem: PolicyProblem) => Error;

/** How a backup's objects are sealed. */
export interface ExportPolicy {
  encrypted: boolean;
  /** age recipients; empty when unencrypted. */
  recipients: string[];
  compression: Compression;
}

/** Decides whether the backup is encrypted; throws `fail(problem)` when the request contradicts itself. */
export function decideEncryption(
  recipients: readonly string[],
  unencrypted: boolean,
  fail: PolicyFailure,
): { encrypted: boolean; recipients: string[] } {
  if (!unencrypted && recipients.length === 0) throw fail("no_recipient");
  if (unencrypted && recipients.length > 0) throw fail("recipients_with_unencrypted");
  return { encrypted: !unencrypted, recipients: unencrypted ? [] : [...recipients] };
}

/** The codec: the requested one, else zstd where node:zlib has it, else gzip; throws `fail` if zstd is unavailable. */
export function decideCodec(requested: Compression | null | undefined, fail: PolicyFailure): Compression {
  const codec = requested ?? defaultCompression();
  if (codec === "zstd" && !hasZstd()) throw fail("zstd_unavailable");
  return codec;
}

/** Decides encryption, then the codec. */
export function decidePolicy(
  req: { recipients: readonly string[]; unencrypted?: boolean; compression?: Compression | null },
  fail: PolicyFailure,
): ExportPolicy {
  const e = decideEncryption(req.recipients, req.unencrypted ?? false, fail);
  return { ...e, compression: decideCodec(req.compression, fail) };
}

/** The part writers' seal settings for a policy. */
export function sealOf(policy: ExportPolicy, level?: number): SealConfig {
  return { recipients: policy.encrypted ? policy.recipients : [], compression: policy.compression, level };
}

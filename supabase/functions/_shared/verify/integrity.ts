/**
 * Integrity of a stored backup: every object the manifest lists is present with the listed
 * size and sha256 (hashed from the stored bytes, never taken from store metadata), the
 * manifest is self-consistent, and, without a key, each object's age header names as many
 * X25519 recipients as the manifest says.
 * @module
 */
import { type Store, StoreError } from "../store/mod.ts";
import { type Check, check } from "../checks.ts";
import { sniffCompression } from "../crypto/mod.ts";
import { HEADER_PROBE_BYTES, inspectAgeHeader } from "./ciphertext.ts";
import { createHash } from "node:crypto";
import { backupPrefix, type Manifest, objectKey } from "../format/mod.ts";

/** Options for {@linkcode checkIntegrity}. */
export interface IntegrityOptions {
  /** Objects hashed at once (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Called after each object is hashed, for progress. */
  onObject?: (key: string, bytes: number) => void;
}

/** Per-object outcome of hashing, kept for callers that gate on it (restore). */
export interface ObjectVerdict {
  key: string;
  ok: boolean;
  problem?: string;
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
}

/** Hashes a stream, keeping its first `probe` bytes. */
async function hashWithHead(stream: ReadableStream<Uint8Array>, probe: number) {
  const h = createHash("sha256");
  let size = 0;
  const head = new Uint8Array(probe);
  let headLen = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    if (headLen < probe) {
      const take = Math.min(probe - headLen, chunk.byteLength);
      head.set(chunk.subarray(0, take), headLen);
      headLen += take;
    }
    size += chunk.byteLength;
  }
  return { sha256: h.digest("hex"), size, head: head.subarray(0, headLen) };
}

/** Checks of the manifest's own consistency: kinds present, parts and row counts agree. */
export function checkManifestConsistency(m: Manifest): Check[] {
  const out: Check[] = [];
  const byKey = new Map(m.objects.map((o) => [o.key, o]));
  for (const kind of ["roles", "pre-data", "post-data", "finalize"] as const) {
    const n = m.objects.filter((o) => o.kind === kind).length;
    if (n !== 1) {
      out.push(check("manifest_objects", "error", kind, `the manifest lists ${n} ${kind} objects instead of 1`,
        "The backup is malformed: take a new backup."));
    }
  }
  let bad = 0; // tables with a part problem
  for (const t of m.tables) {
    const name = `${t.schema}.${t.name}`;
    const missing = t.parts.filter((k) => byKey.get(k)?.kind !== "data");
    if (missing.length > 0) {
      bad++;
      out.push(check("manifest_parts", "error", name,
        `${missing.length} of the table's ${t.parts.length} parts are not listed as data objects (${missing[0]})`,
        "The backup is malformed: take a new backup."));
      continue;
    }
    const partRows = t.parts.reduce((s, k) => s + (byKey.get(k)?.rows ?? 0), 0);
    if (partRows !== t.rows) {
      bad++;
      out.push(check("manifest_rows", "error", name,
        `the table has ${t.rows} rows but its parts hold ${partRows}`,
        "The backup is malformed: take a new backup.", { rows: t.rows, partRows }));
    }
  }
  if (out.length === 0) {
    out.push(check("manifest", "ok", m.id,
      `format v${m.formatVersion}, ${m.tables.length} tables, ${m.sequences.length} sequences, ${m.objects.length} objects, ${
        m.tables.reduce((s, t) => s + t.rows, 0)} rows`, "",
      { tables: m.tables.length, sequences: m.sequences.length, objects: m.objects.length, consistent: m.snapshot.consistent }));
  }
  if (!m.snapshot.consistent) {
    out.push(check("snapshot", "warn", m.id, "the tables were not all read in one snapshot",
      "Cross-table constraints may not hold in a restore; take backups with a single exported snapshot."));
  }
  if (m.encryption.scheme === "none") {
    out.push(check("encryption", "warn", m.id, "the backup is not encrypted (explicitly requested)",
      "Store unencrypted backups only where the data may be read by anyone with store access; pass recipients to encrypt."));
  }
  return out;
}

/**
 * Hashes every object of the backup and compares it with the manifest; also checks the age
 * header of every object (encrypted backups) or the magic number of the manifest's codec
 * (unencrypted ones: gzip 1f 8b, zstd 28 b5 2f fd). Returns the
 * checks and the per-object verdicts.
 */
export async function checkIntegrity(
  store: Store,
  m: Manifest,
  opts: IntegrityOptions = {},
): Promise<{ checks: Check[]; verdicts: ObjectVerdict[] }> {
  const checks: Check[] = [];
  const listed = new Map<string, number>();
  for await (const o of store.list(backupPrefix(m.id), { signal: opts.signal })) {
    listed.set(o.key.slice(m.id.length + 1), o.size);
  }
  const verdicts: ObjectVerdict[] = [];
  const encrypted = m.encryption.scheme !== "none";
  const recipients = m.encryption.recipients.length;
  let bytes = 0;
  let headerProblems = 0;
  await pool(m.objects, opts.concurrency ?? 4, async (o) => {
    const fail = (name: string, detail: string, remediation: string, meta: Record<string, unknown> = {}) => {
      verdicts.push({ key: o.key, ok: false, problem: detail });
      checks.push(check(name, "error", o.key, detail, remediation, meta));
    };
    const size = listed.get(o.key);
    if (size === undefined) {
      fail("object_missing", `listed in the manifest but absent from the store: the backup is INCOMPLETE`,
        "Do not restore this backup; restore an older one and investigate who deleted objects (enable versioning/object lock).");
      return;
    }
    if (size !== o.size) {
      fail("object_size", `stored size ${size} bytes, manifest says ${o.size}`,
        "The object was truncated or replaced: restore from another backup.", { expected: o.size, actual: size });
      return;
    }
    let got;
    try {
      got = await hashWithHead(await store.get(objectKey(m.id, o.key), { signal: opts.signal }), HEADER_PROBE_BYTES);
    } catch (err) {
      if (err instanceof StoreError && err.code === "archived") {
        // Offline tiers are a choice, not damage: say what it takes to read the object.
        fail("object_archived", `is in an offline storage tier: ${err.message}`,
          "Rehydrate (Azure) or restore (S3 Glacier/Deep Archive) the backup's objects, wait until they are online, then run verify or restore again; or restore from a location whose copy is online.");
        return;
      }
      fail("object_readable", `could not be read (${err instanceof Error ? err.message : String(err)})`,
        "Check the store credentials and network, then run verify again.");
      return;
    }
    bytes += got.size;
    opts.onObject?.(o.key, got.size);
    if (got.sha256 !== o.sha256 || got.size !== o.size) {
      fail("object_sha256", `sha256 of the stored bytes is ${got.sha256.slice(0, 16)}…, manifest says ${o.sha256.slice(0, 16)}…`,
        "The object was altered or corrupted after the backup: do not restore this backup; use another one.",
        { expected: o.sha256, actual: got.sha256 });
      return;
    }
    if (encrypted) {
      const h = inspectAgeHeader(got.head);
      if (typeof h === "string") {
        headerProblems++;
        fail("age_header", h, "The object is not a valid age file: use another backup.");
        return;
      }
      if (h.x25519 !== recipients) {
        headerProblems++;
        fail("age_recipients", `the age header has ${h.x25519} X25519 stanzas, the manifest lists ${recipients} recipients`,
          "The object was encrypted to other keys than the manifest says: use another backup.",
          { stanzas: h.x25519, recipients });
        return;
      }
    } else if (sniffCompression(got.head) !== m.compression) {
      const found = sniffCompression(got.head);
      fail("compression_header",
        found
          ? `the object is ${found}-compressed, the manifest says ${m.compression}`
          : `the object does not start with the ${m.compression} magic number`,
        "The object is damaged or does not belong to this backup: use another backup.");
      return;
    }
    verdicts.push({ key: o.key, ok: true });
  });
  const manifestKeys = new Set(m.objects.map((o) => o.key));
  const extra = [...listed.keys()].filter((k) => k !== "manifest.json" && !manifestKeys.has(k));
  if (extra.length > 0) {
    checks.push(check("object_unlisted", "warn", backupPrefix(m.id),
      `${extra.length} objects in the prefix are not in the manifest (e.g. ${extra[0]})`,
      "Leftovers of a retried upload are harmless; anything else was added after the backup: investigate.",
      { keys: extra.slice(0, 20) }));
  }
  const failed = verdicts.filter((v) => !v.ok).length;
  if (failed === 0) {
    checks.push(check("integrity", "ok", backupPrefix(m.id),
      `all ${m.objects.length} objects present, sizes and sha256 match (${bytes} bytes hashed)${
        encrypted ? `, every age header names ${recipients} recipient(s)` : ""}`, "",
      { objects: m.objects.length, bytes, headerProblems }));
  }
  return { checks, verdicts };
}

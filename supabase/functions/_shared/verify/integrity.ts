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
import { hashObject, WHOLE_OBJECT_BUFFERS, WholeObjectBuffers } from "./hash.ts";
import { backupPrefix, type Manifest, objectKey, SIGNATURE_KEY, type StoredObjectEntry } from "../format/mod.ts";

/** Options for {@linkcode checkIntegrity}. */
export interface IntegrityOptions {
  /** Objects hashed at once (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Called after each object is hashed, for progress. */
  onObject?: (key: string, bytes: number) => void;
  /** Objects up to this size are read whole and hashed off the JS thread (default 0: every object streams). */
  wholeObjectMaxBytes?: number;
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

/** Checks of the manifest's own consistency: kinds present, parts and row counts agree. */
export function checkManifestConsistency(m: Manifest): Check[] {
  const out: Check[] = [];
  const byKey = new Map(m.objects.map((o) => [o.key, o]));
  for (const kind of ["roles", "pre-data", "post-data", "finalize"] as const) {
    const n = m.objects.filter((o) => o.kind === kind).length;
    // A files backup (backup-export files mode) holds no schema object, and must say so.
    if (n !== (m.kind === "files" ? 0 : 1)) {
      out.push(check("manifest_objects", "error", kind, `the manifest lists ${n} ${kind} objects instead of ${m.kind === "files" ? 0 : 1}`,
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

/** What checking one stored object found. */
export type ObjectOutcome =
  | { ok: true; bytes: number }
  | { ok: false; bytes: number; check: Check; headerProblem: boolean };

/**
 * Checks one object of the backup: present with its listed size (`storedSize` from the
 * store's listing, undefined when absent), its sha256 hashed from the stored bytes, and its
 * age header (encrypted backups) or the manifest codec's magic number (unencrypted ones).
 * With `buffers` (one set per check, shared by its lanes), an object that fits one is hashed
 * off the JavaScript thread (verify/hash.ts).
 */
export async function checkObject(
  store: Store,
  m: Manifest,
  o: StoredObjectEntry,
  storedSize: number | undefined,
  opts: { signal?: AbortSignal; buffers?: WholeObjectBuffers } = {},
): Promise<ObjectOutcome> {
  const { signal } = opts;
  const fail = (name: string, detail: string, remediation: string, meta: Record<string, unknown> = {}, bytes = 0,
    headerProblem = false): ObjectOutcome => ({ ok: false, bytes, headerProblem, check: check(name, "error", o.key, detail, remediation, meta) });
  if (storedSize === undefined) {
    return fail("object_missing", `listed in the manifest but absent from the store: the backup is INCOMPLETE`,
      "Do not restore this backup; restore an older one and investigate who deleted objects (enable versioning/object lock).");
  }
  if (storedSize !== o.size) {
    return fail("object_size", `stored size ${storedSize} bytes, manifest says ${o.size}`,
      "The object was truncated or replaced: restore from another backup.", { expected: o.size, actual: storedSize });
  }
  let got;
  try {
    got = await hashObject(await store.get(objectKey(m.id, o.key), { signal, byteStream: true }),
      { expectedSize: o.size, probe: HEADER_PROBE_BYTES, buffers: opts.buffers });
  } catch (err) {
    if (err instanceof StoreError && err.code === "archived") {
      // Offline tiers are a choice, not damage: say what it takes to read the object.
      return fail("object_archived", `is in an offline storage tier: ${err.message}`,
        "Rehydrate (Azure) or restore (S3 Glacier/Deep Archive) the backup's objects, wait until they are online, then run verify or restore again; or restore from a location whose copy is online.");
    }
    return fail("object_readable", `could not be read (${err instanceof Error ? err.message : String(err)})`,
      "Check the store credentials and network, then run verify again.");
  }
  if (got.sha256 !== o.sha256 || got.size !== o.size) {
    return fail("object_sha256", `sha256 of the stored bytes is ${got.sha256.slice(0, 16)}…, manifest says ${o.sha256.slice(0, 16)}…`,
      "The object was altered or corrupted after the backup: do not restore this backup; use another one.",
      { expected: o.sha256, actual: got.sha256 }, got.size);
  }
  if (m.encryption.scheme !== "none") {
    const recipients = m.encryption.recipients.length;
    const h = inspectAgeHeader(got.head);
    if (typeof h === "string") return fail("age_header", h, "The object is not a valid age file: use another backup.", {}, got.size, true);
    if (h.x25519 !== recipients) {
      return fail("age_recipients", `the age header has ${h.x25519} X25519 stanzas, the manifest lists ${recipients} recipients`,
        "The object was encrypted to other keys than the manifest says: use another backup.",
        { stanzas: h.x25519, recipients }, got.size, true);
    }
  } else if (sniffCompression(got.head) !== m.compression) {
    const found = sniffCompression(got.head);
    return fail("compression_header",
      found
        ? `the object is ${found}-compressed, the manifest says ${m.compression}`
        : `the object does not start with the ${m.compression} magic number`,
      "The object is damaged or does not belong to this backup: use another backup.", {}, got.size);
  }
  return { ok: true, bytes: got.size };
}

/** The sizes of the objects stored under a backup's prefix, keyed relative to it. */
export async function listStoredObjects(store: Store, m: Pick<Manifest, "id">, signal?: AbortSignal): Promise<Map<string, number>> {
  const listed = new Map<string, number>();
  for await (const o of store.list(backupPrefix(m.id), { signal })) listed.set(o.key.slice(m.id.length + 1), o.size);
  return listed;
}

/** A warning for objects in the backup's prefix that the manifest does not list (none when all are listed). */
export function checkUnlisted(m: Manifest, listed: Map<string, number>): Check[] {
  const manifestKeys = new Set(m.objects.map((o) => o.key));
  const extra = [...listed.keys()].filter((k) => k !== "manifest.json" && k !== SIGNATURE_KEY && !manifestKeys.has(k));
  if (extra.length === 0) return [];
  return [check("object_unlisted", "warn", backupPrefix(m.id),
    `${extra.length} objects in the prefix are not in the manifest (e.g. ${extra[0]})`,
    "Leftovers of a retried upload are harmless; anything else was added after the backup: investigate.",
    { keys: extra.slice(0, 20) })];
}

/** The check that says every object passed (after none failed). */
export function integrityOk(m: Manifest, bytes: number, headerProblems = 0): Check {
  const encrypted = m.encryption.scheme !== "none";
  return check("integrity", "ok", backupPrefix(m.id),
    `all ${m.objects.length} objects present, sizes and sha256 match (${bytes} bytes hashed)${
      encrypted ? `, every age header names ${m.encryption.recipients.length} recipient(s)` : ""}`, "",
    { objects: m.objects.length, bytes, headerProblems });
}

/**
 * Hashes every object of the backup and compares it with the manifest (see
 * {@linkcode checkObject}). Returns the checks and the per-object verdicts.
 */
export async function checkIntegrity(
  store: Store,
  m: Manifest,
  opts: IntegrityOptions = {},
): Promise<{ checks: Check[]; verdicts: ObjectVerdict[] }> {
  const checks: Check[] = [];
  const listed = await listStoredObjects(store, m, opts.signal);
  const verdicts: ObjectVerdict[] = [];
  let bytes = 0;
  let headerProblems = 0;
  const buffers = new WholeObjectBuffers(WHOLE_OBJECT_BUFFERS, opts.wholeObjectMaxBytes ?? 0);
  await pool(m.objects, opts.concurrency ?? 4, async (o) => {
    const r = await checkObject(store, m, o, listed.get(o.key), { signal: opts.signal, buffers });
    bytes += r.bytes;
    if (r.bytes > 0) opts.onObject?.(o.key, r.bytes);
    if (r.ok) {
      verdicts.push({ key: o.key, ok: true });
      return;
    }
    if (r.headerProblem) headerProblems++;
    verdicts.push({ key: o.key, ok: false, problem: r.check.detail });
    checks.push(r.check);
  });
  checks.push(...checkUnlisted(m, listed));
  if (verdicts.every((v) => v.ok)) checks.push(integrityOk(m, bytes, headerProblems));
  return { checks, verdicts };
}

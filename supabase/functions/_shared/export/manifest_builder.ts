/**
 * Builds a backup's manifest. The one-shot export (engine.ts) and the edge-function jobs
 * (jobs/finalize.ts) gather their facts differently but must write the same document, so
 * both feed their stored parts and their facts to {@link manifestFromParts}, which checks and
 * orders everything in {@link buildManifest}.
 * @module
 */
import {
  type Compression,
  FORMAT_VERSION,
  LIFEBOAT_VERSION,
  Manifest,
  type ManifestPlatform,
  type ManifestScope,
  type ObjectKind,
  type SequenceEntry,
  type StoredObjectEntry,
  type TableEntry,
} from "../format/mod.ts";
import { type Fingerprints, fingerprintOf } from "./fingerprints.ts";
import type { ExportPolicy } from "./policy.ts";
import type { Selection } from "./selection.ts";
import type { SnapshotVisibility, StreamPosition } from "./snapshot.ts";

/**
 * The manifest's snapshot: its ids and LSN range, and, when the backup was read in one
 * snapshot, what that snapshot sees (the hand-off to the change stream).
 */
export interface ManifestSnapshot {
  consistent: boolean;
  snapshotIds: string[];
  lsnStart: string;
  lsnEnd: string;
  visibility?: SnapshotVisibility;
}

/** Everything a manifest records, as the exporters know it. */
export interface ManifestInput {
  id: string;
  label: string | null;
  kind: "full" | "tables" | "files";
  server: {
    version: string;
    versionNum: number;
    database: string;
    extensions: { name: string; version: string; schema: string }[];
  };
  startedAt: Date;
  finishedAt: Date;
  snapshot: ManifestSnapshot;
  /** The change stream's slot at the snapshot (null: none; absent: not read). */
  stream?: StreamPosition | null;
  /** age recipients; ignored when `encrypted` is false. */
  recipients: string[];
  encrypted: boolean;
  /** The codec every object was written with. */
  compression: Compression;
  /** The managed schemas left out. */
  excludedSchemas: string[];
  /** The include/exclude rules the backup was taken with. */
  selection: Selection;
  passwordsNotExported: string[];
  /** The platform's versions and tables (absent when the exporter did not read them). */
  platform?: ManifestPlatform;
  tables: TableEntry[];
  sequences: SequenceEntry[];
  objects: StoredObjectEntry[];
}

const KIND_ORDER: Record<ObjectKind, number> = { roles: 0, "pre-data": 1, data: 2, "post-data": 3, finalize: 4 };
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The manifest's `scope` for a selection (empty lists mean "no rule", as in the CLI). */
export function scopeOf(selection: Selection): ManifestScope {
  const refs = (ts: { schema: string; name: string }[]) => ts.map((t) => ({ schema: t.schema, name: t.name }));
  return {
    includeSchemas: selection.includeSchemas?.length ? [...selection.includeSchemas] : null,
    excludeSchemas: [...(selection.excludeSchemas ?? [])],
    tables: selection.tables?.length ? refs(selection.tables) : null,
    excludeTables: refs(selection.excludeTables ?? []),
  };
}

/** The exported rows of a table disagree with its fingerprint taken in the same snapshot. */
export class IncompleteTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IncompleteTableError";
  }
}

/**
 * In a consistent backup each table's fingerprint and its data were read in one snapshot, so
 * the rows counted by the fingerprint must equal the rows exported: a last check, before the
 * manifest exists, that no part of a table went missing on the way.
 */
function checkRowCounts(m: ManifestInput): void {
  if (!m.snapshot.consistent) return;
  for (const t of m.tables) {
    const counted = (t.fingerprint as { rows?: unknown } | null)?.rows;
    if (typeof counted === "number" && counted !== t.rows) {
      throw new IncompleteTableError(
        `table ${t.schema}.${t.name}: ${t.rows} rows were exported but the snapshot holds ${counted}; the backup was not marked complete (a Lifeboat bug; please report it)`,
      );
    }
  }
}

/** The manifest's `snapshot`: visibility is recorded only for a backup read in one snapshot. */
function snapshotOf(s: ManifestSnapshot): Manifest["snapshot"] {
  const base = { consistent: s.consistent, snapshotIds: s.snapshotIds, lsnStart: s.lsnStart, lsnEnd: s.lsnEnd };
  if (!s.consistent || !s.visibility) return base;
  const v = s.visibility;
  return { ...base, xmin: v.xmin, xmax: v.xmax, xip: [...v.xip], takenAt: v.takenAt };
}

/** Builds and validates a manifest; tables and objects are put in their canonical order. */
export function buildManifest(m: ManifestInput): Manifest {
  checkRowCounts(m);
  return Manifest.parse({
    format: "lifeboat-backup",
    formatVersion: FORMAT_VERSION,
    id: m.id,
    label: m.label,
    kind: m.kind,
    lifeboatVersion: LIFEBOAT_VERSION,
    server: { version: m.server.version, versionNum: m.server.versionNum },
    database: m.server.database,
    extensions: m.server.extensions,
    startedAt: m.startedAt.toISOString(),
    finishedAt: m.finishedAt.toISOString(),
    snapshot: snapshotOf(m.snapshot),
    ...(m.stream !== undefined ? { stream: m.stream } : {}),
    encryption: {
      scheme: m.encrypted ? "age-x25519" : "none",
      recipients: m.encrypted ? m.recipients : [],
      unencryptedByRequest: !m.encrypted,
    },
    compression: m.compression,
    excludedSchemas: m.excludedSchemas,
    scope: scopeOf(m.selection),
    roles: { passwordsNotExported: m.passwordsNotExported },
    ...(m.platform ? { platform: m.platform } : {}),
    tables: [...m.tables].sort((a, b) => cmp(a.schema, b.schema) || cmp(a.name, b.name)),
    sequences: m.sequences.map((s) => ({ schema: s.schema, name: s.name, lastValue: s.lastValue, isCalled: s.isCalled })),
    objects: [...m.objects].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || cmp(a.key, b.key)),
  });
}

/** A stored object as the drivers record it: a schema object, or a data part with its rows. */
export interface StoredPart {
  /** Key relative to the backup prefix. */
  key: string;
  kind: ObjectKind;
  /** Stored bytes and their sha256. */
  size: number;
  sha256: string;
  /** Data parts: rows, plain (COPY text) bytes, table and part number. */
  rows?: number;
  plainBytes?: number;
  table?: { schema: string; name: string };
  part?: number;
}

/** What the manifest records besides the parts, as read in the export's snapshot(s). */
export interface ManifestFacts {
  server: ManifestInput["server"];
  snapshot: ManifestInput["snapshot"];
  stream?: StreamPosition | null;
  sequences: SequenceEntry[];
  fingerprints: Fingerprints;
  excludedSchemas: string[];
  passwordsNotExported: string[];
  platform?: ManifestPlatform;
}

/** The backup itself: its id, label, kind, times, selection and policy. */
export interface ManifestHeader {
  id: string;
  label: string | null;
  kind: "full" | "tables" | "files";
  startedAt: Date;
  finishedAt: Date;
  selection: Selection;
  policy: ExportPolicy;
}

/**
 * Builds the manifest from every stored part and the facts: each table's entry sums its data
 * parts (in part order) and carries its fingerprint.
 */
export function manifestFromParts(header: ManifestHeader, facts: ManifestFacts, parts: readonly StoredPart[]): Manifest {
  const tables = new Map<string, TableEntry>();
  const data = parts.filter((p) => p.kind === "data" && p.table)
    .sort((a, b) => cmp(a.table!.schema, b.table!.schema) || cmp(a.table!.name, b.table!.name) || (a.part ?? 0) - (b.part ?? 0));
  for (const p of data) {
    const { schema, name } = p.table!;
    const k = `${schema}\u0000${name}`;
    let t = tables.get(k);
    if (!t) {
      t = { schema, name, rows: 0, bytes: 0, fingerprint: fingerprintOf(facts.fingerprints, schema, name), parts: [] };
      tables.set(k, t);
    }
    t.rows += p.rows ?? 0;
    t.bytes += p.plainBytes ?? 0;
    t.parts.push(p.key);
  }
  const objects: StoredObjectEntry[] = parts.map((p) =>
    p.kind === "data"
      ? { key: p.key, kind: p.kind, size: p.size, sha256: p.sha256, rows: p.rows, table: p.table, part: p.part }
      : { key: p.key, kind: p.kind, size: p.size, sha256: p.sha256 }
  );
  return buildManifest({
    id: header.id,
    label: header.label,
    kind: header.kind,
    server: facts.server,
    startedAt: header.startedAt,
    finishedAt: header.finishedAt,
    snapshot: facts.snapshot,
    stream: facts.stream,
    recipients: header.policy.recipients,
    encrypted: header.policy.encrypted,
    compression: header.policy.compression,
    excludedSchemas: facts.excludedSchemas,
    selection: header.selection,
    passwordsNotExported: facts.passwordsNotExported,
    platform: facts.platform,
    tables: [...tables.values()],
    sequences: facts.sequences,
    objects,
  });
}

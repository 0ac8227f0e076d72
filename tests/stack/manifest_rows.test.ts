// The last check before a manifest exists: in a consistent backup, each table's exported rows
// must equal the rows its fingerprint counted in the same snapshot.
import assert from "node:assert/strict";
import { buildManifest, IncompleteTableError, type ManifestInput } from "../../supabase/functions/_shared/export/mod.ts";

function input(exportedRows: number, consistent = true): ManifestInput {
  return {
    id: "20261202T000000Z-0000abcd",
    label: null,
    kind: "full",
    server: { version: "15.14", versionNum: 150014, database: "postgres", extensions: [] },
    startedAt: new Date("2026-12-02T00:00:00Z"),
    finishedAt: new Date("2026-12-02T00:01:00Z"),
    snapshot: { consistent, snapshotIds: ["00000003-00000002-1"], lsnStart: "0/1000000", lsnEnd: "0/1000100" },
    recipients: [],
    encrypted: false,
    compression: "zstd",
    excludedSchemas: [],
    selection: {},
    passwordsNotExported: [],
    tables: [{
      schema: "public",
      name: "orders",
      rows: exportedRows,
      bytes: 100,
      fingerprint: { rows: 50, hash_sum: "1", algorithm: "lifeboat-fp-v2", fingerprint: "v2:50:1" },
      parts: ["data/public.orders-0000.copy.zst"],
    }],
    sequences: [],
    objects: [],
  };
}

Deno.test("manifest: a table missing rows against its fingerprint is refused; matching counts pass", () => {
  assert.throws(() => buildManifest(input(49)), (e: Error) => e instanceof IncompleteTableError && /49 rows were exported but the snapshot holds 50/.test(e.message));
  assert.equal(buildManifest(input(50)).tables[0].rows, 50);
  // Parts read in different snapshots (an edge job that had to re-snapshot) cannot be compared.
  assert.equal(buildManifest(input(49, false)).tables[0].rows, 49);
});

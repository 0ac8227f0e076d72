// End-to-end export round trip: tests/fixtures/hard_schema.sql is backed up by the real
// `lifeboat backup` CLI into a local store, restored into an EMPTY database with nothing but
// `age -d -i key | zstd -d | psql` (the default codec) or `age -d -i key | gunzip | psql`
// (`--compression gzip`) in the order docs/format.md gives, and then
// `pg_dump --schema-only` of source and copy must match, every table's lifeboat.fingerprint
// must equal the manifest's, and the run must be recorded. The same backup then serves the
// negative cases: a wrong key is refused and a corrupted part is caught by its sha256.
import assert from "node:assert/strict";
import { type Compression, generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { Fingerprinter } from "../../supabase/functions/_shared/restore/mod.ts";
import { connect } from "../../supabase/functions/_shared/db/mod.ts";
import {
  lifeboat,
  psql,
  readManifest,
  restoreWithStandardTools,
  schemaDump,
  scratchDb,
  verifyObjects,
} from "../../harness/export_env.ts";
import { db, dbUrl, repoRoot, run } from "../../harness/stack.ts";

const SCHEMAS = ["hard", "Other Schema"];

/** pg_dump lines; runs of GRANTs sorted (an ACL keeps grant order, a restore need not). */
function normalize(dump: string): string[] {
  const out: string[] = [];
  let grants: string[] = [];
  for (const l of dump.split("\n")) {
    if (/^(SET |SELECT pg_catalog\.set_config)/.test(l)) continue;
    if (/^(GRANT|REVOKE) /.test(l)) {
      grants.push(l);
      continue;
    }
    out.push(...grants.sort(), l);
    grants = [];
  }
  return [...out, ...grants.sort()];
}

async function dropFixture() {
  const sql = db();
  try {
    await sql.unsafe(`drop publication if exists hard_pub; drop schema if exists "Other Schema" cascade; drop schema if exists hard cascade;`);
  } finally {
    await sql.end();
  }
}

/** Backs up the fixture with `codec` (null = the CLI's default) and restores it with `tool`. */
async function roundTrip(codec: Compression | null, expected: Compression, tool: string) {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-export-rt-" });
  const { identity, recipient } = await generateIdentity();
  const keyFile = `${dir}/key.txt`;
  await Deno.writeTextFile(keyFile, `${identity}\n`, { mode: 0o600 });
  const storeDir = `${dir}/store`;
  const target = await scratchDb("lifeboat_export_rt");
  const audit = db();
  try {
    await psql(dbUrl(), ["-f", `${repoRoot}/tests/fixtures/hard_schema.sql`]);

    const r = await lifeboat([
      "backup", "--db-url", dbUrl(), "--store", storeDir, "--recipient", recipient,
      ...SCHEMAS.flatMap((s) => ["--include-schema", s]), "--part-size", "1", "--label", "round trip", "--json",
      ...(codec ? ["--compression", codec] : []),
    ]);
    assert.equal(r.code, 0, `backup failed: ${r.stderr}\n${r.stdout}`);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const done = events.find((e) => e.event === "done");
    assert.ok(done, "a 'done' event is printed");
    assert.ok(events.some((e) => e.event === "progress" && typeof e.bytes === "number"), "progress is reported as JSON lines");
    const id: string = done.id;

    const store = openStore(storeDir);
    const m = await readManifest(store, id);
    assert.equal(m.label, "round trip");
    assert.equal(m.compression, expected);
    assert.equal(events[0].compression, expected, "the start event names the codec");
    const suffix = expected === "zstd" ? ".zst.age" : ".gz.age";
    assert.ok(m.objects.every((o) => o.key.endsWith(suffix)), `every object (schema scripts too) ends in ${suffix}`);
    assert.equal(m.encryption.scheme, "age-x25519");
    assert.deepEqual(m.encryption.recipients, [recipient]);
    assert.equal(m.snapshot.consistent, true);
    assert.equal(m.snapshot.snapshotIds.length, 1);
    const names = m.tables.map((t) => `${t.schema}.${t.name}`);
    for (const t of ["hard.everything", "hard.blobs", 'hard.Mixed Case "Quoted" Table', "hard.events_2024", "hard.events_2025_click", "hard.trucks", "hard.scratchpad"]) {
      assert.ok(names.includes(t), `${t} is in the backup`);
    }
    assert.ok(!names.includes("hard.events"), "a partitioned parent holds no rows of its own");
    const blobs = m.tables.find((t) => t.name === "blobs")!;
    assert.ok(blobs.parts.length >= 2, "1 MiB parts split the TOASTed table");
    for (const t of m.tables) {
      assert.equal((t.fingerprint as { rows: number }).rows, t.rows, `${t.name}: fingerprint rows = exported rows`);
    }
    assert.deepEqual(m.sequences.find((s) => s.name === "ticket_seq"), { schema: "hard", name: "ticket_seq", lastValue: "1070", isCalled: true });
    assert.deepEqual(await verifyObjects(store, id, m), []);

    // Restore with the standard tools only, in the documented order.
    await restoreWithStandardTools(`${storeDir}/${id}`, keyFile, target.url, expected);

    const [a, b] = await Promise.all([schemaDump(dbUrl(), SCHEMAS), schemaDump(target.url, SCHEMAS)]);
    assert.ok(a.split("\n").length > 200, "the source dump is not empty");
    assert.deepEqual(normalize(b), normalize(a));

    const sqlB = connect(target.url, { max: 2 }); // the Fingerprinter reserves one
    const fp = new Fingerprinter(sqlB);
    try {
      await fp.open();
      for (const t of m.tables) {
        const got = await fp.of({ schema: t.schema, name: t.name });
        assert.deepEqual(got, t.fingerprint, `fingerprint of ${t.schema}.${t.name}`);
      }
      const [seq] = await sqlB`select last_value::text as v from hard.ticket_seq`;
      assert.equal(seq.v, "1070", "finalize.sql set the sequence");
      const [mv] = await sqlB`select count(*)::int as n from hard.mood_counts`;
      assert.ok(mv.n > 0, "finalize.sql refreshed the materialized view");
    } finally {
      fp.close();
      await sqlB.end();
    }

    // The run and its parts are recorded, completed only with the manifest.
    const [run_] = await audit`
      select state, manifest_key, parts_total, rows, label, consistent, snapshot_id is not null as has_snapshot
      from lifeboat.backup_runs where id = ${done.runId}`;
    assert.equal(run_.state, "completed");
    assert.equal(run_.manifest_key, `${id}/manifest.json`);
    assert.equal(run_.label, "round trip");
    assert.equal(run_.consistent, true);
    assert.equal(run_.has_snapshot, true);
    const dataObjects = m.objects.filter((o) => o.kind === "data");
    assert.equal(run_.parts_total, dataObjects.length);
    const parts = await audit`select object_key, sha256, size_bytes, row_count from lifeboat.backup_parts where run_id = ${done.runId} order by object_key`;
    assert.deepEqual(
      parts.map((p) => [p.object_key, p.sha256, Number(p.size_bytes), Number(p.row_count)]),
      dataObjects.map((o) => [o.key, o.sha256, o.size, o.rows]).sort((x, y) => (x[0] as string) < (y[0] as string) ? -1 : 1),
    );

    // A wrong key is refused by the standard age CLI.
    const other = await generateIdentity();
    await Deno.writeTextFile(`${dir}/other.txt`, `${other.identity}\n`);
    const wrong = await run("age", ["-d", "-i", `${dir}/other.txt`, `${storeDir}/${id}/${blobs.parts[0]}`]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /no identity matched/);

    // A corrupted part is found by its sha256 (and age refuses it too).
    const victim = `${storeDir}/${id}/${blobs.parts[1]}`;
    const bytes = await Deno.readFile(victim);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await Deno.writeFile(victim, bytes);
    assert.deepEqual(await verifyObjects(store, id, m), [{ key: blobs.parts[1], problem: "sha256" }]);
    const broken = await run("bash", ["-c", `set -o pipefail; age -d -i "${keyFile}" "${victim}" | ${tool} > /dev/null`]);
    assert.notEqual(broken.code, 0, "age detects the damage");
  } finally {
    await audit.end();
    await target.drop();
    await dropFixture();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("export round trip (zstd, the default): hard schema → lifeboat backup → age | zstd -d | psql → same schema and fingerprints", async () => {
  await roundTrip(null, "zstd", "zstd -d");
});

Deno.test("export round trip (--compression gzip): hard schema → lifeboat backup → age | gunzip | psql → same schema and fingerprints", async () => {
  await roundTrip("gzip", "gzip", "gunzip");
});

// Fingerprint algorithms across versions, against real Postgres and through the real CLI:
// lifeboat.fingerprint() is v2, fingerprint(t, 'lifeboat-fp-v1') is exactly the original v1,
// a target without Lifeboat (or with an older one that knows only v1) computes both with
// temporary copies of format/fingerprint.ts's functions (exactly those the migrations install),
// and a backup whose manifest recorded v1 fingerprints still restores as verified (and a wrong
// v1 value is still a mismatch).
import assert from "node:assert/strict";
import { Fingerprinter, fingerprintAlgorithm, temporaryFingerprintSql } from "../../supabase/functions/_shared/restore/mod.ts";
import { FINGERPRINT_FUNCTIONS } from "../../supabase/functions/_shared/format/mod.ts";
import { splitSql } from "../../supabase/functions/_shared/restore/mod.ts";
import { client, createDb, dropDb, lifeboat, sourceUrl, urlOf } from "../support/restore.ts";
import { repoRoot } from "../../harness/stack.ts";

const SCHEMA = "fp_versions";
const TABLES = ["kinds", "plain"];

// The same DDL and rows go into the source and into databases without Lifeboat.
const FIXTURE = `
  drop schema if exists ${SCHEMA} cascade;
  create schema ${SCHEMA};
  create type ${SCHEMA}.mood as enum ('sad', 'ok', 'happy');
  create table ${SCHEMA}.kinds (
    id bigint primary key, n numeric, f float8, t text, b bytea, d date, at timestamptz,
    jb jsonb, js json, m ${SCHEMA}.mood, ms ${SCHEMA}.mood[], tags text[], r int4range
  );
  insert into ${SCHEMA}.kinds values
    (1, 'NaN', 'Infinity', '', '\\x00', '-infinity', '2026-01-02 03:04:05.123456+00', '[]', '[]', 'ok', '{sad,happy}', '{a,NULL}', '[1,5)'),
    (4294967296, 'Infinity', '-0', null, '', 'infinity', '-infinity', '{}', '{ }', 'happy', '{}', '{}', 'empty'),
    (3, 1.50, null, 'x y', null, '2026-02-28', null, '{"a": [1, {"b": null}]}', null, null, null, null, null);
  create table ${SCHEMA}.plain (id int, note text);
  insert into ${SCHEMA}.plain select g, repeat('n', g % 7) from generate_series(1, 500) g;
`;

/** The original `lifeboat.fingerprint(regclass)` (v1), as the first migration defined it (kept in tests/fixtures). */
async function originalV1(name: string): Promise<string> {
  const text = await Deno.readTextFile(`${repoRoot}/tests/fixtures/fingerprint_v1.sql`);
  const stmt = splitSql(text).map((s) => s.text).find((s) => /^create or replace function lifeboat\.fingerprint\(target regclass\)/.test(s));
  assert.ok(stmt, "tests/fixtures/fingerprint_v1.sql defines lifeboat.fingerprint(regclass)");
  return stmt.replace("lifeboat.fingerprint(", `${name}(`);
}

async function withDb<T>(prefix: string, sqlText: string, fn: (db: string) => Promise<T>): Promise<T> {
  const db = await createDb(prefix);
  try {
    const sql = client(urlOf(db));
    try {
      await sql.unsafe(sqlText);
    } finally {
      await sql.end();
    }
    return await fn(db);
  } finally {
    await dropDb(db);
  }
}

/** Fingerprints of the fixture's tables through a Fingerprinter on `url`. */
async function fingerprintsOn(url: string, algorithm?: string): Promise<{ mode: string; fps: Record<string, unknown> }> {
  const sql = client(url);
  const fp = new Fingerprinter(sql);
  try {
    const mode = await fp.open();
    const fps: Record<string, unknown> = {};
    for (const t of TABLES) fps[t] = await fp.of({ schema: SCHEMA, name: t }, algorithm);
    return { mode, fps };
  } finally {
    fp.close();
    await sql.end();
  }
}

Deno.test("fingerprints: v2 by default, v1 on request, installed or as temporary copies, v1 manifests still verify", async (t) => {
  const src = client();
  await src.unsafe(FIXTURE);
  const installed: Record<string, Record<string, unknown>> = { v1: {}, v2: {} };
  for (const tbl of TABLES) {
    const [r] = await src.unsafe(
      `select lifeboat.fingerprint($1::regclass) as v2, lifeboat.fingerprint($1::regclass, 'lifeboat-fp-v1') as v1`,
      [`${SCHEMA}.${tbl}`],
    );
    installed.v1[tbl] = r.v1;
    installed.v2[tbl] = r.v2;
  }
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-fpver-" });
  try {
    await t.step("the installed function: v2 by default, v1 when named", () => {
      assert.equal(fingerprintAlgorithm(installed.v2.kinds), "lifeboat-fp-v2");
      assert.equal(fingerprintAlgorithm(installed.v1.kinds), "lifeboat-fp-v1");
      assert.match((installed.v2.kinds as { fingerprint: string }).fingerprint, /^v2:3:-?[0-9]+$/);
      assert.notEqual((installed.v2.kinds as { hash_sum: string }).hash_sum, (installed.v1.kinds as { hash_sum: string }).hash_sum);
      assert.equal(fingerprintAlgorithm({ rows: 1 }), undefined);
      assert.equal(fingerprintAlgorithm(null), undefined);
    });

    await t.step("v1 today is the original v1 function's value", async () => {
      const sql = client();
      const reserved = await sql.reserve();
      try {
        await reserved.unsafe(await originalV1("pg_temp.fingerprint_v1_original"));
        for (const tbl of TABLES) {
          const [r] = await reserved.unsafe(`select pg_temp.fingerprint_v1_original($1::regclass) as f`, [`${SCHEMA}.${tbl}`]);
          assert.deepEqual(r.f, installed.v1[tbl], tbl);
        }
      } finally {
        reserved.release();
        await sql.end();
      }
    });

    await t.step("temporaryFingerprintSql: the newest definitions of both overloads and of the helper, in pg_temp", async () => {
      const stmts = await temporaryFingerprintSql();
      const created = stmts.map((s) => /^create or replace function (pg_temp\.\w+\([^)]*\))/.exec(s)?.[1]);
      assert.deepEqual(created, [
        "pg_temp.fingerprint_sql(target regclass, algorithm text)",
        "pg_temp.fingerprint(target regclass)",
        "pg_temp.fingerprint(target regclass, algorithm text)",
      ]);
      for (const s of stmts) assert.doesNotMatch(s, /\blifeboat\.\w+\s*\(/, "no call into the lifeboat schema is left");
      assert.ok(stmts.some((s) => s.includes("lifeboat-fp-v2")), "the v2 definition, not the first migration's");
    });

    await t.step("format/fingerprint.ts holds exactly the fingerprint functions the migrations install", async () => {
      // Every lifeboat.fingerprint* function and its definition as Postgres prints it back.
      const definitions = async (sql: ReturnType<typeof client>) =>
        Object.fromEntries(
          (await sql<{ sig: string; def: string }[]>`
            select p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' as sig,
                   pg_catalog.pg_get_functiondef(p.oid) as def
              from pg_catalog.pg_proc p
             where p.pronamespace = 'lifeboat'::regnamespace and p.proname like 'fingerprint%'`).map((r) => [r.sig, r.def]),
        );
      const installed = await definitions(src);
      assert.deepEqual(
        Object.keys(installed).sort(),
        FINGERPRINT_FUNCTIONS.map((f) => `${f.name}(${f.args})`).sort(),
        "the module has one entry per installed overload",
      );
      const embedded = FINGERPRINT_FUNCTIONS.map((f) => `${f.sql};`).join("\n");
      await withDb("lifeboat_fpsql", `create schema lifeboat;\n${embedded}`, async (db) => {
        const sql = client(urlOf(db));
        try {
          assert.deepEqual(await definitions(sql), installed);
        } finally {
          await sql.end();
        }
      });
    });

    await t.step("a database without Lifeboat: temporary copies give the installed function's v1 and v2", async () => {
      await withDb("lifeboat_fpver", FIXTURE, async (db) => {
        const v2 = await fingerprintsOn(urlOf(db));
        assert.equal(v2.mode, "temporary");
        assert.deepEqual(v2.fps, installed.v2);
        assert.deepEqual((await fingerprintsOn(urlOf(db), "lifeboat-fp-v2")).fps, installed.v2);
        assert.deepEqual((await fingerprintsOn(urlOf(db), "lifeboat-fp-v1")).fps, installed.v1);
        await assert.rejects(() => fingerprintsOn(urlOf(db), "lifeboat-fp-v9"), (e: { code?: string; message: string }) => {
          assert.equal(e.code, "22023");
          assert.match(e.message, /unknown algorithm 'lifeboat-fp-v9'/);
          return true;
        });
      });
    });

    await t.step("a target whose Lifeboat knows only v1 gets temporary copies too", async () => {
      const old = `create schema lifeboat; ${await originalV1("lifeboat.fingerprint")};`;
      await withDb("lifeboat_fpold", FIXTURE + old, async (db) => {
        const v1 = await fingerprintsOn(urlOf(db), "lifeboat-fp-v1");
        assert.equal(v1.mode, "temporary");
        assert.deepEqual(v1.fps, installed.v1);
        assert.deepEqual((await fingerprintsOn(urlOf(db))).fps, installed.v2);
      });
    });

    await t.step("the installed function is used where it has the two-argument form", async () => {
      const r = await fingerprintsOn(sourceUrl(), "lifeboat-fp-v1");
      assert.equal(r.mode, "installed");
      assert.deepEqual(r.fps, installed.v1);
    });

    await t.step("a backup whose manifest recorded v1 fingerprints restores as verified; a wrong v1 value does not", async () => {
      const store = `${dir}/store`;
      // The manifest is edited below as an older (unsigned) backup's: restored with --allow-unsigned.
      const b = await lifeboat(["backup", "--store", store, "--unencrypted", "--unsigned", "--include-schema", SCHEMA, "--json"]);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      const id = /"id":"([0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})"/.exec(b.stdout)?.[1];
      assert.ok(id, b.stdout);
      const manifestPath = `${store}/${id}/manifest.json`;
      const manifest = JSON.parse(await Deno.readTextFile(manifestPath));
      const entries = manifest.tables.filter((x: { schema: string }) => x.schema === SCHEMA);
      assert.deepEqual(entries.map((x: { name: string }) => x.name).sort(), [...TABLES].sort());
      for (const e of entries) {
        assert.deepEqual(e.fingerprint, installed.v2[e.name], "exports record v2");
        e.fingerprint = installed.v1[e.name]; // as a backup taken before v2 recorded it
      }
      await Deno.writeTextFile(manifestPath, JSON.stringify(manifest));
      const ok = await createDb("lifeboat_fpv1");
      try {
        const r = await lifeboat(["restore", "--store", store, id, "--target", urlOf(ok), "--json", "--allow-unsigned"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const report = JSON.parse(r.stdout);
        assert.equal(report.passed, true);
        const mine = report.tables.filter((x: { target: string }) => x.target.startsWith(`${SCHEMA}.`));
        assert.equal(mine.length, TABLES.length);
        assert.ok(mine.every((x: { fingerprint: string }) => x.fingerprint === "match"), JSON.stringify(mine));
      } finally {
        await dropDb(ok);
      }
      const kinds = entries.find((x: { name: string }) => x.name === "kinds");
      kinds.fingerprint = { ...kinds.fingerprint, hash_sum: "1", fingerprint: `v1:${kinds.fingerprint.rows}:1` };
      await Deno.writeTextFile(manifestPath, JSON.stringify(manifest));
      const bad = await createDb("lifeboat_fpv1bad");
      try {
        const r = await lifeboat(["restore", "--store", store, id, "--target", urlOf(bad), "--json", "--allow-unsigned"]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        const report = JSON.parse(r.stdout);
        const k = report.tables.find((x: { target: string }) => x.target === `${SCHEMA}.kinds`);
        assert.equal(k.fingerprint, "mismatch");
        assert.ok(report.checks.some((c: { check: string; level: string }) => c.check === "fingerprint" && c.level === "error"));
      } finally {
        await dropDb(bad);
      }
    });
  } finally {
    await src.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await src.end();
    await Deno.remove(dir, { recursive: true });
  }
});

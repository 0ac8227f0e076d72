/**
 * The backup-export HTTP contract through the gateway: service credentials only (401
 * without or with a wrong key, 403 for a public key), POST only, 400 naming the bad field
 * for every malformed body, 409 when no target is configured; no error body carries a
 * secret or a hostname.
 */
import assert from "node:assert/strict";
import { db, functionUrl, stackEnv } from "../../harness/stack.ts";
import { callExport, configureExport, removeTestTargets, testTarget } from "../../harness/edge_export.ts";

const url = () => functionUrl("backup-export");

function assertClean(text: string) {
  const forbidden = [JSON.parse(stackEnv("SUPABASE_SECRET_KEYS")).default, stackEnv("LIFEBOAT_S3_SECRET_ACCESS_KEY"),
    stackEnv("LIFEBOAT_S3_ACCESS_KEY_ID"), "127.0.0.1", "localhost", "postgres:postgres"];
  for (const f of forbidden) assert.ok(!text.includes(f), `response leaks ${f.slice(0, 6)}…: ${text}`);
}

Deno.test("credentials: missing 401, wrong 401, public key 403, method 405", async () => {
  const missing = await callExport(url(), { mode: "full" }, {});
  assert.equal(missing.status, 401);
  assert.equal(missing.json.error, "unauthorized");
  const wrong = await callExport(url(), { mode: "full" }, { apikey: "sb_secret_wrongwrongwrong" });
  assert.equal(wrong.status, 401);
  const bearer = await callExport(url(), { mode: "full" }, { authorization: "Bearer not-a-key" });
  assert.equal(bearer.status, 401);
  const anon = await callExport(url(), { mode: "full" }, { apikey: JSON.parse(stackEnv("SUPABASE_PUBLISHABLE_KEYS")).default });
  assert.equal(anon.status, 403);
  assert.equal(anon.json.error, "forbidden");
  const legacyAnon = await callExport(url(), { mode: "full" }, { authorization: `Bearer ${stackEnv("SUPABASE_ANON_KEY")}` });
  assert.equal(legacyAnon.status, 403);
  const get = await fetch(url(), { headers: { apikey: JSON.parse(stackEnv("SUPABASE_SECRET_KEYS")).default } });
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  await get.body?.cancel();
  for (const r of [missing, wrong, bearer, anon, legacyAnon]) assertClean(r.text);
});

Deno.test("bad bodies get a 400 naming the field", async () => {
  const cases: [unknown, string][] = [
    [{}, "mode"],
    [{ mode: "everything" }, "mode"],
    [{ mode: "full", target: "s3://elsewhere" }, "target"],
    [{ mode: "full", tables: ["public.orders"] }, "tables"],
    [{ mode: "tables" }, "tables"],
    [{ mode: "tables", tables: [] }, "tables"],
    [{ mode: "tables", tables: ['"unterminated'] }, "tables.0"],
    [{ mode: "tables", tables: [42] }, "tables.0"],
    [{ mode: "full", label: 7 }, "label"],
    [{ mode: "full", resume: "yesterday" }, "resume"],
    [[1, 2], "(body)"],
  ];
  for (const [body, field] of cases) {
    const r = await callExport(url(), body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.text}`);
    assert.equal(r.json.error, "bad_request");
    assert.equal(r.json.field, field, `${JSON.stringify(body)} → ${r.text}`);
    assert.match(String(r.json.message), new RegExp(`^${field.replace(/[.()]/g, "\\$&")} `));
  }
  const notJson = await fetch(url(), { method: "POST", headers: { apikey: JSON.parse(stackEnv("SUPABASE_SECRET_KEYS")).default }, body: "{mode:" });
  assert.equal(notJson.status, 400);
  assert.equal((await notJson.json()).field, "(body)");
});

Deno.test("a missing table is a 400 on tables; no target is a 409 that says what to set; unknown job 404", async () => {
  const sql = db();
  try {
    const { target } = testTarget("http");
    await configureExport(sql, { target, recipients: ["age1nv6zuv8ghnulynzffssdynkg0clf50d63rpzwqnda7pp5t874uds0jwfkd"] });
    const missing = await callExport(url(), { mode: "tables", tables: ["public.no_such_table"] });
    assert.equal(missing.status, 400, missing.text);
    assert.equal(missing.json.field, "tables");
    assert.match(String(missing.json.message), /no such table/);
    const unknown = await callExport(url(), { mode: "full", resume: crypto.randomUUID() });
    assert.equal(unknown.status, 404);
    await sql`update lifeboat.settings set value = 'null' where key = 'export.target'`;
    const none = await callExport(url(), { mode: "full" });
    assert.equal(none.status, 409);
    assert.equal(none.json.error, "not_configured");
    assert.match(String(none.json.message), /export\.target/);
    await sql`update lifeboat.settings set value = '[]' where key = 'export.recipients'`;
    await sql`update lifeboat.settings set value = ${JSON.stringify(target)}::text::jsonb where key = 'export.target'`;
    const noKey = await callExport(url(), { mode: "full" });
    assert.equal(noKey.status, 409);
    assert.match(String(noKey.json.message), /export\.recipients/);
    await sql`update lifeboat.settings set value = '"lz4"' where key = 'export.compression'`;
    const badCodec = await callExport(url(), { mode: "full" });
    assert.equal(badCodec.status, 409, badCodec.text);
    assert.match(String(badCodec.json.message), /setting export\.compression is invalid \(must be "gzip", "zstd" or null\)/);
    for (const r of [missing, unknown, none, noKey, badCodec]) assertClean(r.text);
  } finally {
    await removeTestTargets();
    await sql`update lifeboat.settings set value = 'null' where key = 'export.target'`;
    await sql`update lifeboat.settings set value = 'null' where key = 'export.compression'`;
    await sql.end();
  }
});

/**
 * Adversarial inputs (issue 17, items 8-16 but 14, which is pgTAP): bad bodies and unusable
 * targets for backup-export, what the read-only status token may see, malformed and
 * unreachable database URLs on the CLI, `.`/`..` in store URLs, restoring into the backup's
 * own source, and inherited object keys as function names at the gateway.
 */
import assert from "node:assert/strict";
import { openStore, StoreError } from "../../../supabase/functions/_shared/store/mod.ts";
import { isBackupSource } from "../../../supabase/functions/_shared/restore/mod.ts";
import { backup, client, lifeboat, makeKey } from "../../support/restore.ts";
import { callExport, configureExport, removeTestTargets, testTarget } from "../../../harness/edge_export.ts";
import { db, functionUrl, secretKey, stackEnv, waitFor } from "../../../harness/stack.ts";

const noS3 = Deno.env.get("LIFEBOAT_SKIP_S3") === "1";
const RECIPIENT = "age1nv6zuv8ghnulynzffssdynkg0clf50d63rpzwqnda7pp5t874uds0jwfkd";

/** A tiny schema to back up (so the CLI tests stay fast). */
async function smallSchema(name: string): Promise<void> {
  const sql = client();
  try {
    await sql.unsafe(`drop schema if exists ${name} cascade; create schema ${name};
      create table ${name}.t (id int primary key, v text);
      insert into ${name}.t select i, md5(i::text) from generate_series(1, 100) i;`);
  } finally {
    await sql.end();
  }
}

Deno.test("item 8: a NUL byte in a table name or label is a 400 on that field; a wrong type is not 'required'", async () => {
  const url = functionUrl("backup-export");
  const cases: [unknown, string, RegExp][] = [
    [{ mode: "tables", tables: ["public.a\u0000b"] }, "tables.0", /NUL/],
    [{ mode: "full", label: "nightly\u0000" }, "label", /NUL/],
    [{ mode: "full", label: 123 }, "label", /^label must be a string/],
    [{ mode: "tables", tables: [7] }, "tables.0", /^tables\.0 must be/],
    [{ mode: "full", resume: 5 }, "resume", /^resume must be/],
  ];
  for (const [body, field, message] of cases) {
    const r = await callExport(url, body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${r.text}`);
    assert.equal(r.json.field, field, r.text);
    assert.match(String(r.json.message), message, r.text);
    assert.doesNotMatch(String(r.json.message), /required/, r.text);
  }
  // Absent is still "required".
  const absent = await callExport(url, {});
  assert.equal(absent.status, 400);
  assert.equal(absent.json.message, "mode is required");
});

Deno.test({
  name: "item 9: a target the function cannot use is a 409 that says why, and no job holds it",
  ignore: noS3,
  fn: async () => {
    const sql = db();
    const bucket = stackEnv("LIFEBOAT_S3_BUCKET");
    const targets: [string, RegExp][] = [
      ["/etc/lifeboat-harden", /may not write to the local directory \/etc\/lifeboat-harden/],
      ["file:///etc/lifeboat-harden", /may not write to the local directory \/etc\/lifeboat-harden/],
      ["file://", /file system root/],
      [`s3://lifeboat-missing-${crypto.randomUUID().slice(0, 8)}/x/`, /bucket or directory does not exist/],
      [`s3://${bucket}/../escape/`, /'\.\.' path segment/],
    ];
    try {
      const { target: good } = testTarget("harden-target");
      await configureExport(sql, { target: good, recipients: [RECIPIENT] });
      for (const [target, why] of targets) {
        await sql`update lifeboat.settings set value = ${
          JSON.stringify(target)
        }::text::jsonb where key = 'export.target'`;
        const r = await callExport(functionUrl("backup-export"), { mode: "full" });
        assert.equal(r.status, 409, `${target} → ${r.status} ${r.text}`);
        assert.equal(r.json.error, "target_unusable", r.text);
        assert.match(String(r.json.message), /^export\.target cannot be used: /, r.text);
        assert.match(String(r.json.message), why, r.text);
        assert.ok(!r.text.includes(stackEnv("LIFEBOAT_S3_SECRET_ACCESS_KEY")), r.text);
        const held =
          await sql`select id from lifeboat.backup_runs where target = ${target} and state in ('planned', 'running')`;
        assert.equal(held.length, 0, `no job holds ${target}`);
      }
    } finally {
      await sql`update lifeboat.settings set value = 'null' where key = 'export.target'`;
      await sql.end();
      await removeTestTargets();
    }
  },
});

Deno.test("item 10: the status token sees alerts and incidents without targets or failure messages", async () => {
  const sql = db();
  const secret = `s3://harden-secret-${crypto.randomUUID().slice(0, 8)}/prod`;
  const key = `backup_export_stale:${secret}`;
  try {
    await sql`select lifeboat.export_raise_alert('backup_export_stale', 'critical', ${key},
      ${"backup export of " + secret + " failed: password authentication failed"}, '{}'::jsonb)`;
    const get = async (headers: Record<string, string>) => {
      let text = "";
      await waitFor(
        async () => {
          const res = await fetch(functionUrl("backup-status"), { headers });
          text = await res.text();
          return res.status === 200 && text.includes("backup_export_stale");
        },
        10_000,
        "the alert in the status",
      );
      return text;
    };
    const service = await get({ apikey: secretKey() });
    assert.ok(service.includes(secret), "service callers see the alert in full");
    const token = stackEnv("LIFEBOAT_STATUS_TOKEN");
    for (const format of ["json", "html"]) {
      const text = await get({ authorization: `Bearer ${token}` }).then(async (t) =>
        format === "json" ? t : await (await fetch(functionUrl("backup-status", `?format=html&token=${token}`))).text()
      );
      assert.ok(!text.includes(secret), `${format}: the token view names the target: ${text.slice(0, 400)}`);
      assert.ok(!text.includes("password authentication"), `${format}: the token view carries the failure message`);
      if (format === "json") {
        const firing = JSON.parse(text).alerts.firing.find((a: { rule: string }) => a.rule === "backup_export_stale");
        assert.equal(firing.dedup_key, "backup_export_stale");
        assert.match(firing.summary, /critical alert backup_export_stale/);
      }
    }
  } finally {
    await sql`delete from lifeboat.incident_events where incident_id in (select id from lifeboat.incidents where dedup_key = ${key})`
      .catch(() => {});
    await sql`update lifeboat.alert_events set incident_id = null where dedup_key = ${key}`.catch(() => {});
    await sql`delete from lifeboat.incidents where dedup_key = ${key}`.catch(() => {});
    await sql`delete from lifeboat.alert_events where dedup_key = ${key}`;
    await sql.end();
  }
});

Deno.test("item 11: a --db-url with a bad % escape exits 2 with a message, not a URIError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-harden-url-" });
  try {
    const key = await makeKey(dir);
    const bad = "postgresql://postgres:50%off@127.0.0.1:1/postgres";
    const runs = [
      await lifeboat(["backup", "--db-url", bad, "--store", `${dir}/store`, "--recipient", key.recipient]),
      await lifeboat(["verify", "--db-url", bad, "--store", `${dir}/store`, "20260101T000000Z-00000000"]),
      await lifeboat(["report", "--db-url", bad, "--json"]),
      await lifeboat([
        "restore",
        "--target",
        "postgresql://u:%E0%A4%A@127.0.0.1:1/x",
        "--store",
        `${dir}/store`,
        "20260101T000000Z-00000000",
      ]),
    ];
    for (const r of runs) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /malformed % escape|not valid UTF-8/, r.stderr);
      assert.doesNotMatch(r.stderr, /URIError| {4}at /, r.stderr);
      assert.ok(!r.stderr.includes("50%off"), "the password is not echoed");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("items 12 and 15: verify fails on an unreachable --db-url; restore into the backup's own source warns", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-harden-src-" });
  const store = `${dir}/store`;
  try {
    const key = await makeKey(dir);
    await smallSchema("harden_src");
    const id = await backup(store, key.recipient, ["--include-schema", "harden_src"]);

    await t.step("verify against an unreachable database fails and says how to skip it", async () => {
      const r = await lifeboat([
        "verify",
        id,
        "--store",
        store,
        "--db-url",
        "postgresql://postgres:postgres@127.0.0.1:1/postgres",
      ]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /not reachable/);
      assert.match(r.stderr, /--no-db/);
      const skipped = await lifeboat(["verify", id, "--store", store, "--no-db"]);
      assert.equal(skipped.code, 0, skipped.stdout + skipped.stderr);
    });

    await t.step("restore --clean --preflight-only into the source warns that it is the source", async () => {
      const r = await lifeboat([
        "restore",
        id,
        "--store",
        store,
        "--identity",
        key.path,
        "--target",
        stackEnv("SUPABASE_DB_URL"),
        "--clean",
        "--preflight-only",
        "--json",
      ]);
      const report = JSON.parse(r.stdout);
      const own = report.checks.find((c: { check: string }) => c.check === "own_source");
      assert.ok(own, `an own_source check: ${r.stdout}`);
      assert.equal(own.level, "warn");
      assert.match(own.detail, new RegExp(`the database backup ${id} was taken from: --clean`));
      const sql = client();
      try {
        assert.equal(await isBackupSource(sql as never, id), true);
        assert.equal(await isBackupSource(sql as never, "20200101T000000Z-00000000"), false, "another backup's id");
      } finally {
        await sql.end();
      }
    });
  } finally {
    const sql = client();
    await sql.unsafe("drop schema if exists harden_src cascade").finally(() => sql.end());
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("item 13: '.' and '..' segments in store URLs are refused, not resolved elsewhere", () => {
  const env = {
    LIFEBOAT_S3_ENDPOINT: "http://127.0.0.1:1",
    LIFEBOAT_S3_ACCESS_KEY_ID: "a",
    LIFEBOAT_S3_SECRET_ACCESS_KEY: "b",
  };
  for (
    const bad of [
      "s3://bucket/../escape",
      "s3://bucket/a/../../escape/",
      "s3://bucket/./x",
      "s3://bucket/a/%2e%2e/b",
      "s3://bucket/a/%2E/b",
      "file:///tmp/a/../etc",
    ]
  ) {
    assert.throws(
      () => openStore(bad, { env }),
      (err) => err instanceof StoreError && err.code === "config" && /path segment/.test(err.message),
      bad,
    );
  }
  for (const ok of ["s3://bucket", "s3://bucket/a..b/c.d/", "s3://bucket/.well/x", "file:///tmp/a.b/c"]) {
    openStore(ok, { env });
  }
});

Deno.test("item 16: inherited object keys are not function names at the gateway (404, not 502)", async () => {
  for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
    const res = await fetch(functionUrl(name), { headers: { apikey: secretKey() } });
    const text = await res.text();
    assert.equal(res.status, 404, `${name} → ${res.status} ${text}`);
  }
});

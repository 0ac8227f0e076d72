// Restore refusals against real Postgres, through the real CLI: a tampered part is caught
// before any data is written, a wrong identity is refused with nothing written, an extension
// the target role cannot create is found by pre-flight, and bad input gets a clear message and
// exit status 2.
import assert from "node:assert/strict";
import {
  backup, copyTree, createDb, dropDb, lifeboat, makeKey, superSql, urlOf, userTableCount,
} from "../support/restore.ts";

async function largestPart(store: string, id: string): Promise<string> {
  const m = JSON.parse(await Deno.readTextFile(`${store}/${id}/manifest.json`));
  const parts = m.objects.filter((o: { kind: string }) => o.kind === "data").sort((a: { size: number }, b: { size: number }) => b.size - a.size);
  return `${store}/${id}/${parts[0].key}`;
}

Deno.test("restore: tampering, wrong identity, missing extension, bad input", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-restore-fail-" });
  const store = `${dir}/store`;
  const key = await makeKey(dir);
  const id = await backup(store, key.recipient);
  try {
    await t.step("a tampered part is caught before any data is written", async () => {
      const bad = `${dir}/tampered`;
      await copyTree(store, bad);
      const part = await largestPart(bad, id);
      const bytes = await Deno.readFile(part);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff; // same size, different bytes
      await Deno.writeFile(part, bytes);
      const db = await createDb("lifeboat_tamper");
      try {
        const r = await lifeboat(["restore", "--store", bad, id, "--identity", key.path, "--target", urlOf(db)]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /object_sha256/);
        assert.match(r.stdout, /FAILED \(nothing was written\)/);
        assert.equal(await userTableCount(db), 0, "no table was created");
        const v = await lifeboat(["verify", "--store", bad, id, "--no-db", "--json"]);
        assert.equal(v.code, 1);
        assert.ok(JSON.parse(v.stdout).checks.some((c: { check: string }) => c.check === "object_sha256"));
      } finally {
        await dropDb(db);
      }
    });

    await t.step("a wrong identity is refused and nothing is written", async () => {
      const other = await makeKey(dir, "other.txt");
      const db = await createDb("lifeboat_wrongkey");
      try {
        const r = await lifeboat(["restore", "--store", store, id, "--identity", other.path, "--target", urlOf(db)]);
        assert.equal(r.code, 1);
        assert.match(r.stdout, /identity.*not one of the backup's 1 recipients/);
        assert.match(r.stdout, /nothing was written/);
        assert.equal(await userTableCount(db), 0);
        const noKey = await lifeboat(["restore", "--store", store, id, "--target", urlOf(db)]);
        assert.equal(noKey.code, 1);
        assert.match(noKey.stdout, /encrypted and no identity was given/);
      } finally {
        await dropDb(db);
      }
    });

    await t.step("pre-flight finds an extension the target role cannot create", async () => {
      // A real case: the source uses pg_buffercache (superuser-only) in its own schema; the
      // restoring role (postgres, not a superuser) cannot create it in a new database.
      await superSql("create schema if not exists lb_ext_probe; create extension if not exists pg_buffercache with schema lb_ext_probe;");
      const db = await createDb("lifeboat_ext");
      try {
        const id2 = await backup(store, key.recipient);
        const r = await lifeboat(["restore", "--store", store, id2, "--identity", key.path, "--target", urlOf(db)]);
        assert.equal(r.code, 1, r.stdout);
        assert.match(r.stdout, /ERROR +extension_available +pg_buffercache: extension pg_buffercache is available but only a superuser can create it/);
        assert.match(r.stdout, /fix: Have a superuser run 'create extension pg_buffercache with schema lb_ext_probe'/);
        assert.equal(await userTableCount(db), 0, "pre-flight stops before anything is written");
      } finally {
        await superSql("drop extension if exists pg_buffercache; drop schema if exists lb_ext_probe;");
        await dropDb(db);
      }
    });

    await t.step("bad input: clear message, exit 2", async () => {
      const cases: [string[], RegExp][] = [
        [["restore", "--store", store, id], /--target <database url> is required/],
        [["restore", "--store", store, id, "--target", "mysql://x"], /--target must be a postgres/],
        [["restore", "--store", store, id, "--target", urlOf("postgres"), "--jobs", "0"], /--jobs must be an integer/],
        [["restore", "--store", store, id, "--target", urlOf("postgres"), "--table", "nodot"], /is not schema\.table/],
        [["restore", "--store", store, "not-an-id", "--target", urlOf("postgres")], /is not a backup id/],
        [["restore", "--store", store, id, "--target", "postgresql://postgres:postgres@127.0.0.1:1/x"], /cannot connect to the target/],
        [["verify", "/nowhere/at/all"], /does not end with a backup id/],
        [["verify", "--store", store], /pass its id, or --latest/],
        [["verify", "--bogus"], /Unknown option/],
        [["drill", "--store", store, "--assertions", `${dir}/missing`], /does not exist/],
        [["drill", "--store", store, "--jobs", "x"], /--jobs must be an integer/],
      ];
      for (const [args, re] of cases) {
        const r = await lifeboat(args);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, re, args.join(" "));
        assert.doesNotMatch(r.stderr, /postgres:postgres@|at file:|\bError:\s+at\b/, "no secret or stack trace");
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// `lifeboat backup` as a user meets it: each bad input gives a message saying what to fix
// and a non-zero exit; a killed export leaves no manifest and the run is not completed (and
// holds its store until released: a second run is refused); a cancelled one (SIGTERM) is
// recorded as failed.
import { signingEnv } from "../support/signing.ts";
import assert from "node:assert/strict";
import { generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";
import { hasS3, lifeboat, s3Env } from "../../harness/export_env.ts";
import { db, dbUrl, freePort, repoRoot } from "../../harness/stack.ts";

const { recipient } = await generateIdentity();

async function expectFailure(args: string[], pattern: RegExp, env: Record<string, string> = {}, code = 2) {
  const r = await lifeboat(["backup", ...args], env);
  assert.equal(r.code, code, `exit code for ${args.join(" ")}: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /postgres:postgres|at .*\.ts:\d+/, "no password or stack trace");
  const secret = s3Env().LIFEBOAT_S3_SECRET_ACCESS_KEY;
  if (secret) assert.ok(!r.stderr.includes(secret), "no S3 secret");
  return r;
}

Deno.test("cli: bad inputs are refused with a message saying what to fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = ["--store", `${dir}/store`];
    await expectFailure(["--db-url", "not a url", ...store, "--recipient", recipient], /not a URL: expected postgresql:\/\//);
    await expectFailure(["--db-url", "mysql://x@y/z", ...store, "--recipient", recipient], /must start with postgresql:\/\//);
    await expectFailure(
      ["--db-url", `postgresql://postgres:postgres@127.0.0.1:${freePort()}/postgres`, ...store, "--recipient", recipient],
      /cannot reach the database: database refused the connection; check --db-url/,
    );
    await expectFailure(["--db-url", dbUrl(), ...store, "--recipient", "age1nope"], /bad recipient: .*not an age X25519 recipient/);
    await expectFailure(["--db-url", dbUrl(), ...store], /no recipient: backups are encrypted; pass --recipient/);
    await expectFailure(["--db-url", dbUrl(), ...store, "--recipient", recipient, "--unencrypted"], /contradict/);
    await expectFailure(["--db-url", dbUrl(), "--recipient", recipient], /no store: pass --store/);
    await expectFailure(["--db-url", dbUrl(), ...store, "--recipient", recipient, "--bogus"], /Unknown option '--bogus'/);
    await expectFailure(["--db-url", dbUrl(), ...store, "--recipient", recipient, "--concurrency", "0"], /--concurrency must be/);
    await expectFailure(["--db-url", dbUrl(), ...store, "--recipient", recipient, "--compression", "lz4"],
      /--compression must be one of gzip, zstd \(got 'lz4'\)/);
    await expectFailure(["--db-url", dbUrl(), ...store, "--recipient", recipient, "--compression", ""], /--compression must be one of gzip, zstd/);
    await expectFailure(["--db-url", dbUrl(), ...store, "--recipient", recipient, "--compression"], /Option '--compression <value>' argument missing/);
    await expectFailure(["--db-url", dbUrl(), "--store", "/proc/lifeboat-nope", "--recipient", recipient], /cannot write to the local store/);
    await expectFailure(["--db-url", dbUrl(), "--store", "ftp://x/y", "--recipient", recipient], /store: Unsupported store location scheme/);
    await expectFailure(
      ["--db-url", dbUrl(), "--store", "s3://lifeboat/x", "--recipient", recipient],
      /store: .*(unreachable|could not be reached|gave up|refused|network)/i,
      { ...s3Env(), LIFEBOAT_S3_ENDPOINT: `http://127.0.0.1:${freePort()}` },
    );
    if (hasS3()) {
      await expectFailure(
        ["--db-url", dbUrl(), "--store", "s3://no-such-bucket-lifeboat/x", "--recipient", recipient],
        /store: .*create bucket 'no-such-bucket-lifeboat'/,
        s3Env(),
      );
    }
    // A missing table fails after the run was recorded: the run says why.
    const r = await expectFailure(
      ["--db-url", dbUrl(), ...store, "--recipient", recipient, "--table", "public.no_such_table", "--json"],
      /table public\.no_such_table cannot be backed up: no such table/,
    );
    const start = JSON.parse(r.stdout.split("\n")[0]);
    const sql = db();
    try {
      const [run] = await sql`select state, error from lifeboat.backup_runs where id = ${start.runId}`;
      assert.equal(run.state, "failed");
      assert.match(run.error, /no such table/);
    } finally {
      await sql.end();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Starts a backup and resolves with the child once it reports reading data. */
async function startBackup(args: string[]) {
  const child = new Deno.Command(`${repoRoot}/scripts/lifeboat`, {
    args: ["backup", "--json", ...args],
    env: signingEnv,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let start: { id: string; runId: number } | null = null;
  for (;;) {
    const { value, done } = await lines.read();
    if (done) throw new Error("the backup ended before it reached the data");
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) !== -1) {
      const ev = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (ev.event === "start") start = ev;
      if (ev.event === "progress" && ev.phase === "data" && start) {
        // Keep draining stdout so the child never blocks on a full pipe.
        (async () => {
          while (!(await lines.read().catch(() => ({ done: true }))).done) { /* drain */ }
        })();
        return { child, ...start };
      }
    }
  }
}

Deno.test("cli: a killed export leaves no manifest and the run is not completed; SIGTERM records it failed", async () => {
  const schema = `export_kill_${crypto.randomUUID().slice(0, 8)}`;
  const sql = db();
  const dir = await Deno.makeTempDir();
  try {
    // ~120 MB: far more than can be exported between 'data started' and the kill.
    await sql.unsafe(`create schema ${schema}; create table ${schema}.big (id int, v text);
      insert into ${schema}.big select i, repeat(md5(i::text), 5) from generate_series(1, 700000) i;`);
    const args = ["--db-url", dbUrl(), "--store", dir, "--recipient", recipient, "--include-schema", schema, "--concurrency", "1"];

    const killed = await startBackup(args);
    killed.child.kill("SIGKILL");
    const st = await killed.child.status;
    assert.equal(st.success, false);
    await killed.child.stderr.cancel().catch(() => {});
    await assert.rejects(() => Deno.stat(`${dir}/${killed.id}/manifest.json`), Deno.errors.NotFound);
    const [k] = await sql`select state from lifeboat.backup_runs where id = ${killed.runId}`;
    assert.notEqual(k.state, "completed");

    // The killed run still holds the store (one backup per store at a time): the next run is
    // refused, naming it and how to release it; released as its message says, the store is free.
    const [held] = await sql`select run_uuid::text as uuid from lifeboat.backup_runs where id = ${killed.runId}`;
    await expectFailure(args, new RegExp(`another backup is already writing into this target: .*run ${held.uuid}.*export_fail_run\\(${killed.runId},`), {}, 3);
    await sql`select lifeboat.export_fail_run(${killed.runId}, 'abandoned')`;

    const cancelled = await startBackup(args);
    cancelled.child.kill("SIGTERM");
    const [status, stderr] = await Promise.all([cancelled.child.status, new Response(cancelled.child.stderr).text()]);
    assert.equal(status.code, 1);
    assert.match(stderr, /cancelled; no manifest was written/);
    await assert.rejects(() => Deno.stat(`${dir}/${cancelled.id}/manifest.json`), Deno.errors.NotFound);
    const [c] = await sql`select state, error from lifeboat.backup_runs where id = ${cancelled.runId}`;
    assert.equal(c.state, "failed");
    assert.match(c.error, /cancelled/);
  } finally {
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end();
    await Deno.remove(dir, { recursive: true });
  }
});

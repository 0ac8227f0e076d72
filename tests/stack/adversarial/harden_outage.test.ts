/**
 * A database outage at random points (issue 17 item 2): Postgres is stopped (scripts/stack.sh
 * db-stop) during a `lifeboat backup`, a backup-export job and a `lifeboat restore`, and
 * started again. No process dies of it (postgres.js's write to a closed socket is guarded,
 * db/driver_guard.ts), the CLI exits with a handled error, a backup run cut off is marked
 * failed with its stored objects removed, the function keeps serving and its job finishes
 * without waiting out the part lease, and runs a restart cut off are swept at once.
 * Stops the shared database: like health.test.ts, it must not overlap with other files.
 */
import assert from "node:assert/strict";
import { backup, createDb, dropDb, makeKey, sourceUrl, urlOf } from "../../support/restore.ts";
import {
  ageKey,
  callExport,
  configureExport,
  makeTestSchema,
  removeTestTargets,
  testTarget,
} from "../../../harness/edge_export.ts";
import { signingEnv } from "../../support/signing.ts";
import { db, denoBin, FunctionProcess, functionUrl, repoRoot, run, waitFor } from "../../../harness/stack.ts";

const STACK = `${repoRoot}/scripts/stack.sh`;
const SCHEMA = "harden_outage";
const noS3 = Deno.env.get("LIFEBOAT_SKIP_S3") === "1";

async function dbStop(): Promise<void> {
  const r = await run("bash", [STACK, "db-stop"]);
  assert.equal(r.code, 0, r.stderr);
}

async function dbStart(): Promise<void> {
  const r = await run("bash", [STACK, "db-start"]);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(
    async () => {
      const sql = db();
      try {
        await sql`select 1`;
        return true;
      } finally {
        await sql.end({ timeout: 1 }).catch(() => {});
      }
    },
    20_000,
    "the database to accept connections again",
  );
}

/** Stops the database `afterMs` from now, keeps it down `downMs`, starts it again. */
async function outage(afterMs: number, downMs: number): Promise<void> {
  await new Promise((r) => setTimeout(r, afterMs));
  await dbStop();
  try {
    await new Promise((r) => setTimeout(r, downMs));
  } finally {
    await dbStart();
  }
}

/** A `lifeboat <args>` run in progress: `seen(re)` resolves once its stdout or stderr matched `re`. */
interface Running {
  done: Promise<{ code: number; stdout: string; stderr: string }>;
  seen: (re: RegExp) => Promise<void>;
}

/** Starts `lifeboat <args>` without waiting for it, reading its stdout as it comes. */
function spawnLifeboat(args: string[]): Running {
  const child = new Deno.Command(denoBin, {
    args: ["run", "--quiet", "-A", `${repoRoot}/scripts/lifeboat.ts`, ...args],
    // Signs with, and trusts, the tests' signing key, as every CLI run of the tests does.
    env: { SUPABASE_DB_URL: sourceUrl(), PGSSLMODE: "disable", ...signingEnv },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) (w.re.test(stdout) || w.re.test(stderr) ? w.resolve : () => waiters.push(w))();
  };
  const read = async (s: ReadableStream<Uint8Array<ArrayBuffer>>, add: (c: string) => void) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      add(chunk);
      wake();
    }
  };
  const reading = Promise.all([read(child.stdout, (c) => stdout += c), read(child.stderr, (c) => stderr += c)])
    .then(() => {
      for (const w of waiters.splice(0)) w.resolve(); // ended: nothing more to wait for
    });
  const done = Promise.all([child.status, reading]).then(([st]) => ({ code: st.code, stdout, stderr }));
  return {
    done,
    seen: (re) =>
      re.test(stdout) || re.test(stderr) ? Promise.resolve() : new Promise((resolve) => waiters.push({ re, resolve })),
  };
}

/** No crash: no uncaught exception, no stack trace. */
function assertHandled(what: string, r: { code: number; stderr: string }): void {
  assert.doesNotMatch(r.stderr, /Uncaught|TypeError|\n\s+at /, `${what} crashed: ${r.stderr}`);
}

const random = (min: number, max: number) => Math.floor(min + Math.random() * (max - min));

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`);
      else out.push(`${d}/${e.name}`.slice(dir.length + 1));
    }
  };
  await walk(dir).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  return out;
}

Deno.test({
  name: "outage: lifeboat backup, a backup-export job and lifeboat restore survive a stopped database",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-harden-outage-" });
    const sql = db();
    try {
      await makeTestSchema(sql, SCHEMA, 24);
      const key = await makeKey(dir);

      await t.step("lifeboat backup: a handled error, the run failed, no orphan objects", async () => {
        let cutOff = 0;
        for (let round = 0; round < 3; round++) {
          const store = `${dir}/store-${round}`;
          const running = spawnLifeboat([
            "backup",
            "--store",
            store,
            "--recipient",
            key.recipient,
            "--json",
            "--include-schema",
            SCHEMA,
            "--concurrency",
            "2",
          ]);
          // Somewhere in the run: from its first stored object to about when it would finish.
          await running.seen(/"event":"start"/);
          await outage(random(0, 700), random(500, 2500));
          const r = await running.done;
          assertHandled("lifeboat backup", r);
          const c = db();
          try {
            const [row] = await c`select state, error, metadata ->> 'backup_id' as id from lifeboat.backup_runs
                                  where rtrim(target, '/') = ${store} order by id desc limit 1`;
            if (r.code === 0) {
              assert.equal(row.state, "completed");
              assert.ok((await filesUnder(store)).some((f) => f.endsWith("manifest.json")));
              continue;
            }
            if (!row) {
              // Stopped before the run was recorded: refused up front (exit 2), nothing stored.
              assert.equal(r.code, 2, r.stderr);
              assert.match(r.stderr, /lifeboat backup: (cannot reach the database|cannot record the run)/, r.stderr);
              assert.deepEqual(await filesUnder(store), []);
              continue;
            }
            cutOff++;
            assert.equal(r.code, 1, r.stderr);
            assert.match(r.stderr, /lifeboat backup: (database|store):/, r.stderr);
            assert.equal(row.state, "failed", `the run stayed ${row.state}: ${r.stderr}`);
            assert.ok(row.error, "the failure is recorded");
            const left = (await filesUnder(store)).filter((f) => !f.startsWith(".lifeboat-"));
            assert.deepEqual(
              left.filter((f) => !f.split("/").pop()!.startsWith(".lifeboat-")),
              [],
              "orphan objects were left",
            );
          } finally {
            await c.end();
          }
        }
        assert.ok(cutOff >= 1, "no backup was cut off by the outage: the test proved nothing");
      });

      await t.step(
        "a run or a claim from before a restart is released at once, not after stale_after or the lease",
        async () => {
          const target = `${dir}/swept`;
          const [cli] = await sql`
          insert into lifeboat.backup_runs (kind, target, state, started_at, last_progress_at, metadata)
          values ('full', ${target}, 'running', now(), now(), '{"origin":"cli","source":"cli"}') returning id`;
          const [job] = await sql`
          insert into lifeboat.backup_runs (kind, target, state, started_at, last_progress_at, metadata)
          values ('full', ${target + "-job"}, 'running', now(), now(), '{"origin":"backup-export"}') returning id`;
          await sql`insert into lifeboat.backup_parts (run_id, table_schema, table_name, chunk, state, claimed_by, claimed_at, attempt)
                  values (${job.id}, ${SCHEMA}, 'events', 0, 'claimed', 'gone-worker', now(), 1)`;
          await sql.end();
          await outage(0, 200);
          const c = db();
          try {
            const swept = await c`select run_id from lifeboat.export_sweep_stale()`;
            assert.ok(
              swept.some((s) => Number(s.run_id) === Number(cli.id)),
              "the CLI run cut off by the restart is swept",
            );
            const [after] = await c`select state, error from lifeboat.backup_runs where id = ${cli.id}`;
            assert.equal(after.state, "failed");
            assert.match(after.error, /database restarted/);
            const [jobAfter] = await c`select state from lifeboat.backup_runs where id = ${job.id}`;
            assert.equal(jobAfter.state, "running", "an edge job is not failed by a restart: its parts resume");
            const claimed =
              await c`select * from lifeboat.claim_backup_part(${job.id}, 'new-worker', interval '10 minutes')`;
            assert.equal(claimed.length, 1, "the part claimed before the restart is claimable at once");
            assert.equal(claimed[0].attempt, 2);
            await c`delete from lifeboat.backup_parts where run_id = ${job.id}`;
            await c`delete from lifeboat.backup_runs where id in (${cli.id}, ${job.id})`;
            await c`delete from lifeboat.alert_events where dedup_key like ${"%" + target + "%"}`;
          } finally {
            await c.end();
          }
        },
      );

      await t.step({
        name: "backup-export: the function keeps serving and the job completes after the outage",
        ignore: noS3,
        fn: async () => {
          const c = db();
          const proc = new FunctionProcess("backup-export", Deno.env.toObject());
          try {
            const { recipient } = await ageKey();
            const { target } = testTarget("harden-outage");
            // The default 10-minute lease: a claim the outage cut off must not hold the job that long.
            await configureExport(c, {
              target,
              recipients: [recipient],
              budgetBytes: 4 * 1024 * 1024,
              chunkBytes: 1024 * 1024,
              continueJobs: false,
              partLease: "10 minutes",
            });
            await proc.ready();
            const url = `${proc.url}/backup-export`;
            const first = callExport(url, { mode: "tables", tables: [`${SCHEMA}.events`, `${SCHEMA}.pairs`] }).catch((
              err,
            ) => err);
            await outage(random(150, 700), random(500, 2000));
            const answered = await first;
            assert.ok(!(answered instanceof Error), `the first call got no answer: ${answered}`);
            assert.ok([200, 202, 503].includes(answered.status), `first call: ${answered.status} ${answered.text}`);
            let state = "";
            // The same request again: it joins the job the first call started, or starts it.
            for (let i = 0; i < 40 && state !== "completed"; i++) {
              const r = await callExport(url, { mode: "tables", tables: [`${SCHEMA}.events`, `${SCHEMA}.pairs`] });
              assert.ok([200, 202].includes(r.status), `call ${i} after the outage: ${r.status} ${r.text}`);
              state = String(r.json.state);
              assert.notEqual(state, "failed", r.text);
            }
            const [row] =
              await c`select state, error from lifeboat.backup_runs where rtrim(target, '/') = rtrim(${target}, '/')
                                  order by id desc limit 1`;
            assert.equal(row?.state, "completed", `the job did not complete: ${row?.state} ${row?.error}`);
            const health = await fetch(functionUrl("health", "?probe=liveness"));
            await health.body?.cancel();
            assert.equal(health.status, 200, "the stack's functions still serve");
          } finally {
            const stderr = await proc.stop();
            assertHandled("the backup-export process", { code: 0, stderr });
            await c`update lifeboat.settings set value = 'null' where key = 'export.target'`;
            await c.end();
            await removeTestTargets();
          }
        },
      });

      await t.step("lifeboat restore: stopped in its data phase, it fails (exit 1) saying the database went away", async () => {
        const store = `${dir}/restore-store`;
        const id = await backup(store, key.recipient, ["--include-schema", SCHEMA]);
        let cutOff = 0;
        for (let round = 0; round < 3; round++) {
          const target = await createDb("lifeboat_harden_outage");
          try {
            const restore = spawnLifeboat(["restore", id, "--store", store, "--identity", key.path, "--target", urlOf(target)]);
            await restore.seen(/"phase":"data"/);
            await outage(random(0, 400), random(300, 1500));
            const r = await restore.done;
            assertHandled("lifeboat restore", r);
            if (r.code === 0) {
              // Finished before the stop reached it: then it is a complete, verified restore.
              assert.match(r.stdout, /RESTORED AND VERIFIED/, r.stdout);
              continue;
            }
            cutOff++;
            assert.equal(r.code, 1, `exit ${r.code}: ${r.stdout}\n${r.stderr}`);
            assert.match(r.stdout, /the target database went away during the [a-z-]+ phase/, r.stdout);
            assert.match(r.stdout, /FAILED \(the target holds a partial restore\)/, r.stdout);
          } finally {
            await dropDb(target);
          }
        }
        assert.ok(cutOff >= 1, "no restore was cut off by the outage: the test proved nothing");
      });

      await t.step("lifeboat drill: stopped mid-way, it ends and its scratch database is dropped or recorded", async () => {
        const store = `${dir}/restore-store`;
        const backupId = await backup(store, key.recipient, ["--include-schema", SCHEMA]);
        const drill = spawnLifeboat(["drill", backupId, "--store", store, "--identity", key.path, "--json"]);
        await drill.seen(/"phase":"data"/);
        await outage(random(0, 400), random(300, 1500));
        const r = await drill.done;
        assertHandled("lifeboat drill", r);
        assert.ok([0, 1].includes(r.code), `exit ${r.code}: ${r.stdout}\n${r.stderr}`);
        const c = db();
        try {
          const left = await c`
            select d.datname, exists (select from lifeboat.drills x where x.details ->> 'scratchDatabase' = d.datname) as recorded
            from pg_catalog.pg_database d where d.datname like 'lifeboat\\_drill\\_%'`;
          for (const l of left) {
            assert.ok(l.recorded, `scratch database ${l.datname} left behind unrecorded`);
            await c.unsafe(`drop database if exists "${l.datname}" with (force)`);
          }
        } finally {
          await c.end();
        }
      });
    } finally {
      const c = db();
      await c.unsafe(`drop schema if exists ${SCHEMA} cascade`).catch(() => {});
      await c`delete from lifeboat.alert_events where dedup_key like ${"%" + dir + "%"}`.catch(() => {});
      await c.end();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

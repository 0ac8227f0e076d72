/**
 * Benchmark: verification of a stored backup through the backup-verify edge function (every
 * object read back from RGW and hashed, the manifest's signature checked, completeness against
 * the catalog), against reading the same objects with plain GETs (same store, same
 * concurrency, read the driver's fastest way, as the verification reads, bytes discarded). Goal: the function reaches at least 0.8 of the GETs'
 * throughput.
 *
 * The backup is taken once with `lifeboat backup` into a fresh prefix of the stack's bucket,
 * signed with the stack's key (the one in Vault, so the project trusts it). The function runs
 * with the migration's budget defaults and continuation off: the script calls it again until
 * the verification is done, so invocations are counted exactly. The GETs run before and after
 * the function; their mean is the anchor. The function runs twice per round, side by side: with
 * the defaults (verify.whole_object_max_bytes 0: every object streamed through node:crypto) and
 * with that setting at WHOLE_OBJECT_MAX_BYTES (objects up to 16 MiB read whole and hashed by
 * WebCrypto off the JS thread). Between them, the same integrity check in this
 * process, and the function's engine (runVerifyInvocation) called in this process: what the
 * function costs beyond its engine (HTTP, gateway, its own connection) is the difference.
 * Several rounds (`--rounds`, default 3); the medians are reported, with each round's
 * invocations and the JS-thread CPU each used (as its budget counts it).
 *
 * Usage: deno run -A bench/verify/run.ts [--mb 1024] [--rounds 3]   (stack env exported, S3 running)
 * @module
 */
import postgres from "postgres";
import { functionUrl, repoRoot, secretKey } from "../../harness/stack.ts";
import { ageKey, removeTestTargets, testTarget } from "../../harness/edge_export.ts";
import { lifeboat } from "../../tests/support/restore.ts";
import { checkIntegrity, readEach, WHOLE_OBJECT_MAX_BYTES } from "../../supabase/functions/_shared/verify/mod.ts";
import { parseManifest } from "../../supabase/functions/_shared/format/mod.ts";
import { isolateCpuMs } from "../../supabase/functions/_shared/jobs/mod.ts";
import { runVerifyInvocation } from "../../supabase/functions/_shared/verify_job/mod.ts";

const mbArg = Deno.args.indexOf("--mb");
const MB = mbArg >= 0 ? Number(Deno.args[mbArg + 1]) : 1024;
const SCHEMA = "bench_verify";
const CONCURRENCY = 4;
const roundsArg = Deno.args.indexOf("--rounds");
const ROUNDS = roundsArg >= 0 ? Number(Deno.args[roundsArg + 1]) : 3;
const sql = postgres(Deno.env.get("SUPABASE_DB_URL")!, { max: 2, onnotice: () => {} });

async function generate(): Promise<void> {
  // md5 text: about 2:1 under zstd, so the stored backup is about half the table bytes.
  await sql.unsafe(`
    drop schema if exists ${SCHEMA} cascade;
    create schema ${SCHEMA};
    create table ${SCHEMA}.docs (id bigint primary key, body text);
    insert into ${SCHEMA}.docs select i, (select string_agg(md5((i * 100 + j)::text), '') from generate_series(1, 64) j)
      from generate_series(1, ${Math.ceil((MB * 1024 * 1024) / 2100)}) i;
    analyze ${SCHEMA}.docs;`);
}

const setting = (key: string, value: unknown) =>
  sql`update lifeboat.settings set value = ${JSON.stringify(value)}::text::jsonb where key = ${key}`;

const t0 = performance.now();
await generate();
console.error(`generated ${SCHEMA} (${MB} MB of COPY text) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
const [sweep] = await sql`select jobid from cron.job where jobname = 'lifeboat-verify-backups'`;
if (sweep) await sql`select cron.alter_job(${sweep.jobid}, active => false)`;
await setting("verify.on_completion", false);
await setting("verify.continue", false);
try {
  const { recipient } = await ageKey();
  const { target, store } = testTarget("bench-verify");
  const b = await lifeboat(["backup", "--store", target, "--recipient", recipient, "--json",
    "--signing-key", `${Deno.env.get("LIFEBOAT_STACK_DIR") ?? `${repoRoot}/.lifeboat`}/signing.key.signing`]);
  if (b.code !== 0) throw new Error(`lifeboat backup failed: ${b.stderr}${b.stdout}`);
  const id = /"id":"([0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})"/.exec(b.stdout)![1];
  const [run] = await sql`select id from lifeboat.backup_runs where manifest_key like ${`%${id}/manifest.json`}`;
  const manifest = JSON.parse(new TextDecoder().decode(await store.getBytes(`${id}/manifest.json`)));
  const objects = manifest.objects as { key: string; size: number; sha256: string }[];
  const total = objects.reduce((s, o) => s + o.size, 0);
  console.error(`backup ${id}: ${objects.length} objects, ${(total / 1048576).toFixed(1)} MiB stored`);

  async function plainGet(): Promise<number> {
    const start = performance.now();
    let next = 0, bytes = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < objects.length) {
        const o = objects[next++];
        // The driver's fastest read, as the verification reads: a byte stream read into one buffer.
        const n = await readEach(await store.get(`${id}/${o.key}`, { byteStream: true }), () => {});
        bytes += n; // not `bytes += await …`: that reads bytes before the await, and the lanes race
      }
    }));
    if (bytes !== total) throw new Error(`read ${bytes} bytes, expected ${total}`);
    return (performance.now() - start) / 1000;
  }

  async function viaFunction(): Promise<{ seconds: number; invocations: number; passed: boolean; stops: string[]; cpuMs: number[] }> {
    const start = performance.now();
    let invocations = 0;
    const stops: string[] = [];
    const cpuMs: number[] = []; // each invocation's JS-thread CPU, as its budget counted it
    for (;;) {
      invocations++;
      const res = await fetch(functionUrl("backup-verify"), {
        method: "POST", headers: { apikey: secretKey(), "content-type": "application/json" },
        body: JSON.stringify({ backup_run_id: Number(run.id) }),
      });
      const r = await res.json();
      if (res.status >= 400 || r.state === "idle" || r.state === "lost") throw new Error(`backup-verify: ${res.status} ${JSON.stringify(r)}`);
      console.error(`invocation ${invocations}: ${r.state} ${JSON.stringify(r.timings)}`);
      cpuMs.push(r.timings?.cpuMs ?? NaN);
      if (r.state === "done") return { seconds: (performance.now() - start) / 1000, invocations, passed: r.passed, stops, cpuMs };
      stops.push(`${r.stoppedBy}@${r.objectsDone}`);
    }
  }

  // The function's engine called in this process (no HTTP, no gateway, no second process).
  const invocationInProcess = async (): Promise<number> => {
    await sql`delete from lifeboat.verification_runs where backup_run_id = ${run.id} and source = 'backup-verify'`;
    const start = performance.now();
    for (;;) {
      const r = await runVerifyInvocation({ backupRunId: Number(run.id) }, { sql, worker: "bench", openStore: () => store });
      console.error(`engine in-process: ${r.state} ${JSON.stringify(r.timings)}`);
      if (r.state === "done") {
        if (!r.passed) throw new Error("in-process invocation did not pass");
        return (performance.now() - start) / 1000;
      }
      if (r.state !== "running") throw new Error(`in-process invocation: ${r.state}`);
    }
  };

  /** checkIntegrity in this process; `wholeObjectMaxBytes` 0 streams every object through node:crypto. */
  async function inProcess(wholeObjectMaxBytes?: number): Promise<number> {
    const start = performance.now(), cpu0 = isolateCpuMs() ?? 0;
    const r = await checkIntegrity(store, parseManifest(manifest), { concurrency: CONCURRENCY, wholeObjectMaxBytes });
    if (r.verdicts.some((v) => !v.ok)) throw new Error("in-process integrity check failed");
    console.error(`in-process${wholeObjectMaxBytes ? " (whole objects)" : ""}: ${Math.round((isolateCpuMs() ?? 0) - cpu0)} ms JS-thread CPU`);
    return (performance.now() - start) / 1000;
  }

  // Rounds of GET, function (defaults), function with whole objects (verify.whole_object_max_bytes
  // at WHOLE_OBJECT_MAX_BYTES), in-process (both ways), engine, GET: on a shared host one round is noise; the medians
  // of the rounds are what is reported.
  type Fn = Awaited<ReturnType<typeof viaFunction>>;
  const rounds: { get: number; fn: Fn; fnWhole: Fn; local: number; localWhole: number; engine: number }[] = [];
  const fresh = () => sql`delete from lifeboat.verification_runs where backup_run_id = ${run.id} and source = 'backup-verify'`;
  for (let r = 0; r < ROUNDS; r++) {
    await fresh();
    const get1 = await plainGet();
    const fn = await viaFunction();
    if (!fn.passed) throw new Error("backup-verify did not pass");
    await fresh();
    await setting("verify.whole_object_max_bytes", WHOLE_OBJECT_MAX_BYTES);
    const fnWhole = await viaFunction().finally(() => sql`update lifeboat.settings set value = default_value where key = 'verify.whole_object_max_bytes'`);
    if (!fnWhole.passed) throw new Error("backup-verify (whole objects) did not pass");
    const local = await inProcess();
    const localWhole = await inProcess(WHOLE_OBJECT_MAX_BYTES);
    const engine = await invocationInProcess();
    const get2 = await plainGet();
    rounds.push({ get: (get1 + get2) / 2, fn, fnWhole, local, localWhole, engine });
    console.error(`round ${r + 1}: ${JSON.stringify(rounds[r])}`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mib = total / 1048576;
  const get = median(rounds.map((x) => x.get)), fn = median(rounds.map((x) => x.fn.seconds));
  const fnWhole = median(rounds.map((x) => x.fnWhole.seconds));
  const local = median(rounds.map((x) => x.local)), localWhole = median(rounds.map((x) => x.localWhole));
  const engine = median(rounds.map((x) => x.engine));
  const result = {
    backup: id, objects: objects.length, stored_mib: Number(mib.toFixed(1)), concurrency: CONCURRENCY, rounds: ROUNDS,
    get_seconds: Number(get.toFixed(2)), get_mib_s: Number((mib / get).toFixed(1)),
    function_seconds: Number(fn.toFixed(2)), function_mib_s: Number((mib / fn).toFixed(1)),
    in_process_integrity_seconds: Number(local.toFixed(2)),
    function_invocations: rounds.map((x) => x.fn.invocations), stopped_by: rounds.map((x) => x.fn.stops),
    function_js_thread_cpu_ms_per_invocation: rounds.map((x) => x.fn.cpuMs),
    ratio_function_to_get: Number((get / fn).toFixed(2)),
    // The same function with objects up to 16 MiB read whole and hashed off the JS thread.
    function_whole_seconds: Number(fnWhole.toFixed(2)),
    function_whole_invocations: rounds.map((x) => x.fnWhole.invocations),
    function_whole_js_thread_cpu_ms_per_invocation: rounds.map((x) => x.fnWhole.cpuMs),
    ratio_function_whole_to_get: Number((get / fnWhole).toFixed(2)),
    ratio_in_process_to_get: Number((get / local).toFixed(2)),
    ratio_in_process_whole_to_get: Number((get / localWhole).toFixed(2)),
    engine_in_process_seconds: Number(engine.toFixed(2)),
    ratio_engine_in_process_to_get: Number((get / engine).toFixed(2)),
    per_round_function_to_get: rounds.map((x) => Number((x.get / x.fn.seconds).toFixed(2))),
    per_round_function_whole_to_get: rounds.map((x) => Number((x.get / x.fnWhole.seconds).toFixed(2))),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await setting("verify.on_completion", true);
  await setting("verify.continue", true);
  await sql`update lifeboat.settings set value = default_value where key = 'verify.whole_object_max_bytes'`;
  await sql`update lifeboat.backup_runs set state = 'pruned' where label is distinct from 'keep' and target like '%bench-verify-%'`;
  if (sweep) await sql`select cron.alter_job(${sweep.jobid}, active => true)`;
  await removeTestTargets();
  await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
  await sql.end();
}

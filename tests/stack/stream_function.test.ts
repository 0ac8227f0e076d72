// The backup-stream edge function, served from its real index.ts: refuses callers without the
// service key and bodies with options, says 409 until a stream is enabled, then ships passes
// within the edge budget (each under 2 s of CPU), single-flight under concurrent calls, and what
// it stored equals the reference decode.
import assert from "node:assert/strict";
import { db, FunctionProcess, serviceHeaders } from "../../harness/stack.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { enableWithReference, linesOn, referenceLines, resetStream, storedLines } from "../support/stream.ts";
import { testSigning } from "../support/signing.ts";

const T = ["sc_fn.t"];

Deno.test({
  name: "backup-stream: auth, 409 before enable, passes under 2 s CPU each, single-flight, exact result",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = db();
    const prefix = `stream-fn-${crypto.randomUUID().slice(0, 8)}`;
    const target = `s3://${Deno.env.get("LIFEBOAT_S3_BUCKET") ?? "lifeboat"}/${prefix}`;
    const proc = new FunctionProcess("backup-stream", { ...Deno.env.toObject(), LIFEBOAT_SIGNING_KEY: testSigning.privatePem });
    const call = async (headers: Record<string, string>, body = "{}") => {
      const r = await fetch(`${proc.url}/backup-stream`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
      return { status: r.status, json: await r.json() };
    };
    try {
      await resetStream(sql);
      await sql`update lifeboat.settings set value = ${sql.json(target)} where key = 'export.target'`;
      await sql`update lifeboat.settings set value = 'true' where key = 'export.unencrypted'`;
      await sql`update lifeboat.settings set value = '[]' where key = 'export.recipients'`;
      await sql.unsafe(`drop schema if exists sc_fn cascade; create schema sc_fn; create table sc_fn.t (id bigserial primary key, v text);`);
      await proc.ready();

      assert.equal((await call({})).status, 401);
      assert.equal((await call({ apikey: "sb_secret_wrong" })).status, 401);
      const bad = await call(serviceHeaders(), '{"mode":"full"}');
      assert.equal(bad.status, 400);
      const off = await call(serviceHeaders());
      assert.equal(off.status, 409, JSON.stringify(off.json));
      assert.match(off.json.message, /not enabled/);

      await enableWithReference(sql);
      for (let i = 0; i < 6; i++) {
        await sql`insert into sc_fn.t (v) select md5(g::text) from generate_series(1, 3000) g`;
      }
      const results: { state: string; cpu_ms: number | null; segments: { seq: number }[]; caught_up: boolean }[] = [];
      for (let i = 0; i < 40; i++) {
        // Two calls at once: single-flight means at most one of them ships.
        const [a, b] = await Promise.all([call(serviceHeaders()), call(serviceHeaders())]);
        for (const r of [a, b]) {
          assert.equal(r.status, 200, JSON.stringify(r.json));
          results.push(r.json);
        }
        if (results.some((r) => r.caught_up) && i > 0) break;
      }
      const seqs = results.flatMap((r) => r.segments.map((s) => s.seq));
      assert.equal(new Set(seqs).size, seqs.length, "no segment was shipped twice");
      for (const r of results) {
        if (r.cpu_ms !== null) assert.ok(r.cpu_ms < 2000, `a pass used ${r.cpu_ms} ms of CPU`);
      }
      assert.ok(results.some((r) => r.state === "shipped"));

      const store = openStore(target);
      const { lines } = await storedLines(store);
      assert.deepEqual(linesOn(lines, T), await referenceLines(sql, T));
      const [st] = await sql`select lifeboat.status_stream() as s`;
      assert.ok(st.s.achieved_rpo_seconds < 60, `achieved RPO ${st.s.achieved_rpo_seconds} s`);
    } finally {
      const err = await proc.stop();
      if (err.trim()) console.error(err);
      await resetStream(sql).catch(() => {});
      await sql.unsafe(`drop schema if exists sc_fn cascade`).catch(() => {});
      await sql.end();
    }
  },
});

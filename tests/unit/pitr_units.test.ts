// Point-in-time restore: the pieces without a database (targets, microsecond times, 32-bit xid
// widening and the snapshot rule, DDL scope, set-based statement shapes) and the CLI's refusals.
import assert from "node:assert/strict";
import {
  formatMicros,
  parseMicros,
  parseTarget,
  seenBySnapshot,
  snapshotSeen,
  TargetError,
  widenXid,
} from "../../supabase/functions/_shared/pitr/mod.ts";
import { schemasOf } from "../../supabase/functions/_shared/pitr/replay.ts";
import { OpBuilder } from "../../supabase/functions/_shared/pitr/batch.ts";
import { parseRecord } from "../../supabase/functions/_shared/pitr/records.ts";
import { batchStatement } from "../../supabase/functions/_shared/pitr/statements.ts";
import { denoBin, repoRoot } from "../../harness/stack.ts";

Deno.test("pitr: commit times compare to the microsecond, in any zone", () => {
  const a = parseMicros("2026-12-03 14:29:13.035756+00");
  assert.equal(a, parseMicros("2026-12-03T15:29:13.035756+01:00"));
  assert.equal(parseMicros("2026-12-03 14:29:13.035757+00") - a, 1n);
  assert.equal(formatMicros(a), "2026-12-03T14:29:13.035756Z");
  assert.equal(parseMicros("2026-12-03T14:29:13Z"), parseMicros("2026-12-03 14:29:13"), "no zone means UTC");
  assert.throws(() => parseMicros("yesterday"), /not a timestamp.*2026-12-03T14:30:00/);
});

Deno.test("pitr: targets: exactly one of --until, --until-lsn, --until-xid", () => {
  assert.deepEqual(parseTarget({ untilXid: "42", exclusive: true }), { kind: "xid", xid: 42n, inclusive: false });
  assert.deepEqual(parseTarget({ until: "latest" }), { kind: "latest" });
  assert.deepEqual(parseTarget({ untilLsn: "16/b374d848" }), { kind: "lsn", lsn: "16/B374D848" });
  assert.throws(() => parseTarget({}), TargetError);
  assert.throws(() => parseTarget({ until: "2026-12-03T00:00:00Z", untilXid: "1" }), /exactly one/);
  assert.throws(() => parseTarget({ untilLsn: "16" }), /LSN/);
  assert.throws(() => parseTarget({ untilXid: "-1" }), /transaction id/);
});

Deno.test("pitr: 32-bit xids widen to the epoch of the snapshot, and the snapshot rule picks the unseen", () => {
  const near = (5n << 32n) + 10n;
  assert.equal(widenXid(12n, near), (5n << 32n) + 12n);
  assert.equal(widenXid(0xfffffff0n, near), (4n << 32n) + 0xfffffff0n, "just before the wraparound: the previous epoch");
  const snap = snapshotSeen({ xmin: "100", xmax: "110", xip: ["103", "107"] });
  assert.equal(seenBySnapshot(snap, 99n), true);
  assert.equal(seenBySnapshot(snap, 104n), true, "committed before the snapshot");
  assert.equal(seenBySnapshot(snap, 103n), false, "in progress at the snapshot");
  assert.equal(seenBySnapshot(snap, 110n), false, "started after it");
});

Deno.test("pitr: DDL scope reads the schemas of object identities", () => {
  assert.deepEqual(schemasOf("public.t, \"My.Schema\".\"x\""), ["public", "My.Schema"]);
  assert.equal(schemasOf(null), null);
});

Deno.test("pitr: a run of updates is one statement, cut where a row would be touched twice", () => {
  const rec = (id: number, newId = id) =>
    parseRecord(JSON.stringify({
      action: "U", xid: 7, schema: "s", table: "t", columns: [{ name: "id", type: "integer", value: newId }, { name: "v", type: "text", value: "x" }],
      identity: [{ name: "id", type: "integer", value: id }], pk: [{ name: "id", type: "integer" }],
    }), "test");
  const b = new OpBuilder(1000);
  b.addRow(rec(1), "t0");
  b.addRow(rec(2), "t0");
  b.addRow(rec(3, 1), "t0"); // key 1 again: a new statement
  assert.equal(b.ops.length, 2);
  assert.equal((b.ops[1] as { keyChanged: boolean }).keyChanged, true, "the second run changes a key");
  const shape = { schema: "s", table: "t", types: new Map([["id", "integer"], ["v", "text"]]), generated: new Set<string>() };
  const st = batchStatement(b.ops[0] as never, shape);
  // Every value has an exact text: one text[] per column, no JSON for Postgres to parse.
  assert.match(st.text, /^update "s"\."t" as t set "v" = v\.c0 from \(select r\.v1::text as c0, r\.v2::integer as k0 from rows from \(pg_catalog\.unnest\(\$1::text::text\[\]\), .*\) as r\(v0, v1, v2\)\) v where t\."id" = v\.k0$/);
  assert.deepEqual(st.params, ["{\"1\",\"2\"}", "{\"x\",\"x\"}", "{\"1\",\"2\"}"]);
  // A numeric value keeps its text only in the line: that run reads the records as jsonb.
  const num = new OpBuilder(1000);
  num.addRow(parseRecord(JSON.stringify({ ...rec(1).rec, columns: [{ name: "id", type: "integer", value: 1 }, { name: "v", type: "numeric", value: 1.5 }] }), "test"), "t0");
  const js = batchStatement(num.ops[0] as never, shape);
  assert.match(js.text, /jsonb_array_elements\(\$1::text::jsonb\) r\) v where t\."id" = v\.k0$/);
  assert.equal(js.params.length, 1);
});

Deno.test("pitr: interleaved inserts, updates and deletes of a table group per kind, keeping each row's order", () => {
  const col = (id: number) => [{ name: "id", type: "integer", value: id }, { name: "v", type: "text", value: `v${id}` }];
  const key = (id: number) => [{ name: "id", type: "integer", value: id }];
  const pk = [{ name: "id", type: "integer" }];
  const rec = (action: "I" | "U" | "D", id: number) =>
    parseRecord(JSON.stringify({
      action, xid: 7, schema: "s", table: "t", pk,
      ...(action === "D" ? {} : { columns: col(id) }), ...(action === "I" ? {} : { identity: key(id) }),
    }), "test");
  const changes = [rec("I", 1), rec("U", 5), rec("I", 2), rec("U", 6), rec("U", 1), rec("D", 2), rec("I", 2), rec("U", 2)];
  const b = new OpBuilder(1000);
  for (const r of changes) b.addRow(r, "t0");
  const ids = (o: unknown) => (o as { lines: string[] }).lines.map((l) => JSON.parse(l).columns?.[0].value ?? JSON.parse(l).identity[0].value);
  assert.deepEqual(b.ops.map((o) => (o as { action: string }).action), ["I", "U", "D", "I", "U"]);
  assert.deepEqual(b.ops.map(ids), [[1, 2], [5, 6, 1], [2], [2], [2]],
    "an update of a row joins the update run after its insert; row 2 deleted then inserted again then updated keeps that order");
  // The careful retry's order: the source's within the table (only consecutive same-kind changes merge).
  const strict = b.strict();
  assert.deepEqual(strict.ops.map(ids), [[1], [5], [2], [6, 1], [2], [2], [2]]);
  assert.equal(strict.changes, b.changes);
  // A table without a primary key keeps the source's order.
  const nopk = new OpBuilder(1000);
  for (const r of changes) nopk.addRow(parseRecord(JSON.stringify({ ...r.rec, pk: [] }), "test"), "t0");
  assert.equal(nopk.ops.length, 7);
});

Deno.test("pitr: repeated updates of a hot row in a window keep its latest image only", () => {
  const upd = (id: number, v: string, cols = ["id", "v"]) =>
    parseRecord(JSON.stringify({
      action: "U", xid: 7, schema: "s", table: "t", pk: [{ name: "id", type: "integer" }],
      columns: cols.map((name) => ({ name, type: name === "id" ? "integer" : "text", value: name === "id" ? id : v })),
      identity: [{ name: "id", type: "integer", value: id }],
    }), "test");
  const b = new OpBuilder(1000);
  for (const r of [upd(5, "a"), upd(6, "a"), upd(5, "b"), upd(5, "c"), upd(6, "b", ["id"])]) b.addRow(r, "t0");
  const lines = b.ops.map((o) => (o as { lines: string[] }).lines.map((l) => JSON.parse(l).columns.map((c: { value: unknown }) => c.value)));
  assert.deepEqual(lines, [[[5, "c"], [6, "a"]], [[6]]], "row 5's three updates are its last; an update with other columns starts a run");
  assert.equal(b.changes, 5);
  assert.equal(b.strict().ops.map((o) => (o as { lines: string[] }).lines.length).reduce((x, y) => x + y), 5, "the careful retry applies every update");
});

async function cli(args: string[]) {
  const out = await new Deno.Command(denoBin, { args: ["run", "--quiet", "-A", `${repoRoot}/scripts/lifeboat.ts`, ...args], stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("pitr: lifeboat restore --until refuses bad targets and combinations with exit 2", async () => {
  const target = "postgres://postgres:postgres@127.0.0.1:1/none";
  for (const [args, msg] of [
    [["--until", "2026-12-03T00:00:00Z", "--until-xid", "5"], /exactly one/],
    [["--until-lsn", "nope"], /LSN/],
    [["--until", "2026-12-03T00:00:00Z", "--table", "public.t"], /do not combine/],
  ] as const) {
    const r = await cli(["restore", "--target", target, "--store", "/nonexistent", ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});

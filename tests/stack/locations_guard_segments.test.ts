// Locations (issue 21), two rules on the real Postgres with directory stores: retention on one
// location never deletes the last verified copy anywhere of a backup another location's
// retention still keeps (and says why it kept it), while a backup every policy has let go of
// is pruned as before; and change segments are recorded per location, so that status and
// Prometheus count the ones waiting to be copied until the copier has written them.
import assert from "node:assert/strict";
import type { Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { envSecrets, loadLocations, openLocation } from "../../supabase/functions/_shared/locations/mod.ts";
import { applyLocationRetention, runCopy } from "../../supabase/functions/_shared/copy/mod.ts";
import { loadStatusReport, renderPrometheus, renderStatusPage } from "../../supabase/functions/_shared/status/mod.ts";
import { client } from "../support/restore.ts";

const OLD = "20261101T000000Z-0000a001";
const NEW = "20261203T000000Z-0000a002";

async function keysOf(dir: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of openStore(dir).list("")) keys.push(o.key);
  return keys.sort();
}

Deno.test({
  name: "locations: retention keeps the last verified copy anywhere, and change segments are recorded per location",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = client();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-guard-" });
    const [primary, second, cold] = [`${dir}/primary`, `${dir}/second`, `${dir}/cold`];
    for (const d of [primary, second, cold]) await Deno.mkdir(d);
    try {
      await sql`delete from lifeboat.locations`;

      await t.step("retention on a location keeps the last verified copy anywhere, with the reason", async () => {
        await sql`insert into lifeboat.locations (name, url, role, retention) values
          ('p', ${primary}, 'primary', '{"daily": 60}'), ('x', ${second}, 'secondary', '{"daily": 1}')`;
        // Both backups verified at x; at the primary the old one is gone (lost, not by its retention).
        await sql`insert into lifeboat.location_copies (location, backup_id, backup_finished_at, state, objects, bytes, verified_at) values
          ('x', ${OLD}, now() - interval '20 days', 'copied', 1, 5, now()), ('x', ${NEW}, now() - interval '1 hour', 'copied', 1, 5, now()),
          ('p', ${OLD}, now() - interval '20 days', 'pruned', 1, 5, now()), ('p', ${NEW}, now() - interval '1 hour', 'copied', 1, 5, now())`;
        const store = openStore(second);
        for (const id of [OLD, NEW]) await store.put(`${id}/manifest.json`, new TextEncoder().encode("{}"));

        // x's own policy (one day) lets the old backup go, but x holds its only verified copy and
        // the primary's policy (60 days) still keeps it: kept, and the run says why.
        const decided = await sql`select backup_id, keep, reasons from lifeboat.location_retention('x', now())`;
        assert.deepEqual(decided.map((r) => [r.backup_id, r.keep, r.reasons]), [
          [NEW, true, ["daily", "newest"]],
          [OLD, true, ["last_verified_copy"]],
        ]);
        const kept = await applyLocationRetention(sql as unknown as Sql, "x", store, new Date());
        assert.equal(kept.length, 1);
        assert.equal(kept[0].backupId, OLD);
        assert.match(kept[0].kept ?? "", /the last verified copy anywhere/);
        assert.equal(kept[0].held, undefined);
        assert.deepEqual(await keysOf(second), [`${NEW}/manifest.json`, `${OLD}/manifest.json`].sort(), "nothing deleted");
        const [{ state }] = await sql`select state from lifeboat.location_copies where location = 'x' and backup_id = ${OLD}`;
        assert.equal(state, "copied");

        // The normal case: once no other policy keeps it (the primary's keeps one daily backup:
        // the newest), x's retention prunes it there.
        await sql`update lifeboat.locations set retention = '{"daily": 1}' where name = 'p'`;
        const pruned = await applyLocationRetention(sql as unknown as Sql, "x", store, new Date());
        assert.deepEqual(pruned.map((p) => [p.backupId, p.kept, p.held, p.objects]), [[OLD, undefined, undefined, 1]]);
        assert.deepEqual(await keysOf(second), [`${NEW}/manifest.json`]);
        const [{ after }] = await sql`select state as after from lifeboat.location_copies where location = 'x' and backup_id = ${OLD}`;
        assert.equal(after, "pruned");

        // A verified copy elsewhere lets a location's retention prune its own.
        await sql`update lifeboat.locations set retention = '{"daily": 60}' where name = 'p'`;
        await sql`update lifeboat.location_copies set state = 'copied', pruned_at = null where backup_id = ${OLD}`;
        const elsewhere = await sql`select keep, reasons from lifeboat.location_retention('x', now()) where backup_id = ${OLD}`;
        assert.deepEqual(elsewhere.map((r) => [r.keep, r.reasons]), [[false, []]]);
        await sql`delete from lifeboat.location_copies`;
        await sql`delete from lifeboat.locations`;
      });

      await t.step("change segments: pending per location until copied, counted by status and Prometheus", async () => {
        await sql`delete from lifeboat.locations`;
        const src = openStore(primary);
        const seg = (n: number) => `stream/00000001/${String(n).padStart(8, "0")}.seg`;
        for (const n of [1, 2, 3]) await src.put(seg(n), new TextEncoder().encode(`segment ${n} `.repeat(100 * n)));
        await sql`insert into lifeboat.locations (name, url, role) values
          ('p', ${primary}, 'primary'), ('x', ${second}, 'secondary'), ('cold', ${cold}, 'archive')`;
        const locations = await loadLocations(sql as unknown as Sql);
        const open = (l: (typeof locations)[number]) => openLocation(l, envSecrets({}));

        // A run out of budget has listed the segments but copied none: three pending at each.
        const stopped = await runCopy({ sql: sql as unknown as Sql, locations, open, deadline: Date.now() - 1, retention: false });
        assert.equal(stopped.done, false);
        const pending = async () =>
          Object.fromEntries((await loadStatusReport(sql as unknown as Sql)).locations!.locations.map((l) => [l.name, [l.pending_segments, l.pending_objects, l.pending_bytes > 0]]));
        assert.deepEqual(await pending(), { p: [0, 0, false], x: [3, 3, true], cold: [3, 3, true] });
        const report = await loadStatusReport(sql as unknown as Sql);
        assert.match(renderPrometheus(report), /lifeboat_location_pending_segments\{location="x",role="secondary"\} 3/);
        assert.match(renderPrometheus(report), /lifeboat_location_pending_objects\{location="cold",role="archive"\} 3/);
        assert.match(renderStatusPage(report), /3 change segments, 3 objects/);

        // One segment already at x (an earlier run): found there, not rewritten, recorded too.
        await openStore(second).put(seg(1), await src.getBytes(seg(1)));
        const done = await runCopy({ sql: sql as unknown as Sql, locations, open, retention: false });
        assert.equal(done.done, true);
        const x = done.locations.find((l) => l.name === "x")!;
        assert.deepEqual(x.segments, { copied: 2, present: 1, bytes: (await src.head(seg(2)))!.size + (await src.head(seg(3)))!.size });
        assert.deepEqual(await pending(), { p: [0, 0, false], x: [0, 0, false], cold: [0, 0, false] });
        const rows = await sql`select location, key, state from lifeboat.location_segments order by location, key`;
        assert.deepEqual(rows.map((r) => [r.location, r.key, r.state]), [
          ...[1, 2, 3].map((n) => ["cold", seg(n), "copied"]),
          ...[1, 2, 3].map((n) => ["x", seg(n), "copied"]),
        ]);
        for (const d of [second, cold]) assert.deepEqual((await keysOf(d)).filter((k) => k.startsWith("stream/")), [1, 2, 3].map(seg));

        // A new segment is pending again; one pruned at the primary before it was copied is dropped.
        await src.put(seg(4), new TextEncoder().encode("segment 4"));
        await src.put(seg(5), new TextEncoder().encode("segment 5"));
        await runCopy({ sql: sql as unknown as Sql, locations, open, deadline: Date.now() - 1, retention: false });
        assert.deepEqual((await pending()).x, [2, 2, true]);
        await src.delete(seg(5));
        await runCopy({ sql: sql as unknown as Sql, locations, open, deadline: Date.now() - 1, retention: false });
        assert.deepEqual((await pending()).x, [1, 1, true]);
      });
    } finally {
      await sql`delete from lifeboat.locations`.catch(() => {});
      await sql.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

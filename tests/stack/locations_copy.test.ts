// Locations end to end (issue 21), on the real stack: Postgres, Ceph RGW, the real CLI and the
// backup-copy function. Bad location rows are refused by the table; `lifeboat copy` copies
// signed, encrypted backups from a local primary to RGW and to a second directory, verified and
// recorded per location; a copy interrupted part-way resumes without rewriting what is there; a
// location that is down never stops the others, is retried with backoff and raises the
// `locations` alert after the threshold; retention per location prunes only there; status,
// page and Prometheus show every location and the 3-2-1 verdict; and after the primary is
// deleted (or damaged) a restore and a drill read from the secondary, saying so.
import assert from "node:assert/strict";
import type { Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { envSecrets, loadLocations, openLocation } from "../../supabase/functions/_shared/locations/mod.ts";
import { runCopy } from "../../supabase/functions/_shared/copy/mod.ts";
import { loadStatusReport, renderPrometheus, renderStatusPage } from "../../supabase/functions/_shared/status/mod.ts";
import { hasS3 } from "../../harness/export_env.ts";
import { functionUrl, serviceHeaders, stackEnv } from "../../harness/stack.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { backup, client, createDb, dropDb, lifeboat, makeKey, urlOf } from "../support/restore.ts";

const SCHEMA = "lifeboat_locations_t";

function rgwEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ["LIFEBOAT_S3_ENDPOINT", "LIFEBOAT_S3_REGION", "LIFEBOAT_S3_ACCESS_KEY_ID", "LIFEBOAT_S3_SECRET_ACCESS_KEY"]) env[k] = stackEnv(k);
  return env;
}

/** The RGW credentials as a location secret (JSON), as the CLI reads it from LIFEBOAT_SECRET_<NAME>. */
function rgwSecret(extra: Record<string, unknown> = {}): string {
  const e = rgwEnv();
  return JSON.stringify({ endpoint: e.LIFEBOAT_S3_ENDPOINT, region: e.LIFEBOAT_S3_REGION, accessKeyId: e.LIFEBOAT_S3_ACCESS_KEY_ID,
    secretAccessKey: e.LIFEBOAT_S3_SECRET_ACCESS_KEY, ...extra });
}

async function listKeys(spec: string, env: Record<string, string> = {}): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of openStore(spec, { env }).list("")) keys.push(o.key);
  return keys;
}

Deno.test({
  name: "locations: copy, resume, a location down, retention, status, restore and drill from the secondary",
  ignore: !hasS3(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = client();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-locations-" });
    const primary = `${dir}/primary`, archive = `${dir}/archive`;
    await Deno.mkdir(primary);
    await Deno.mkdir(archive);
    const secondary = `s3://${stackEnv("LIFEBOAT_S3_BUCKET")}/locations-${crypto.randomUUID().slice(0, 8)}`;
    const secondary2 = `${secondary}-again`;
    const cliEnv = { LIFEBOAT_SECRET_RGW: rgwSecret(), LIFEBOAT_STORE: "" };
    const scratch: string[] = [];
    try {
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA};
        create table ${SCHEMA}.items (id int primary key, note text);
        insert into ${SCHEMA}.items select g, repeat('x', 200) || g from generate_series(1, 3000) g;`);
      await sql`delete from lifeboat.locations`;
      const key = await makeKey(dir);
      const first = await backup(primary, key.recipient, ["--include-schema", SCHEMA]);
      await sql.unsafe(`insert into ${SCHEMA}.items values (100000, 'second')`);
      const second = await backup(primary, key.recipient, ["--include-schema", SCHEMA]);

      await t.step("bad location rows are refused with what to change", async () => {
        const refused = async (row: string, pattern: RegExp) => {
          await assert.rejects(sql.unsafe(`insert into lifeboat.locations (name, url, role, retention, lock) values ${row}`),
            (err: Error) => (assert.match(err.message, pattern), true));
        };
        await refused(`('x', 'ftp://host/x', 'secondary', null, null)`, /location "x": unknown store scheme in "ftp"/);
        await refused(`('x', 's3://AKIA:secret@bucket/x', 'secondary', null, null)`, /the URL carries credentials/);
        await refused(`('x', 's3://b/x', 'secondary', '{"daily": 3}', '{"mode": "compliance", "days": 30}')`,
          /retention keeps some backups 3 days, shorter than the 30 day lock/);
        await refused(`('x', 's3://b/x', 'secondary', '{"hourly": 3}', null)`, /unknown retention tier "hourly"/);
        await sql`insert into lifeboat.locations (name, url, role) values ('dup', '/tmp/a', 'secondary')`;
        await refused(`('dup', '/tmp/b', 'archive', null, null)`, /duplicate key value/);
        await sql`delete from lifeboat.locations`;
        // No primary: the CLI says what to do.
        await sql`insert into lifeboat.locations (name, url, role) values ('only', ${archive}, 'archive'), ('rgw', ${secondary}, 'secondary')`;
        const r = await lifeboat(["copy"], cliEnv);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /no primary location: mark the location backups are written to with role 'primary'/);
        await sql`delete from lifeboat.locations`;
      });

      await sql`insert into lifeboat.locations (name, url, role, retention, credentials, offsite) values
        ('local', ${primary}, 'primary', '{"daily": 7}', null, false),
        ('rgw', ${secondary}, 'secondary', '{"daily": 7, "weekly": 4, "monthly": 12}', 'rgw', true),
        ('cold', ${archive}, 'archive', '{"monthly": 12, "yearly": 7}', null, false)`;

      await t.step("a copy interrupted part-way resumes: objects already there are not rewritten", async () => {
        // Simulate an earlier run that stopped after two objects of the first backup.
        const src = openStore(primary);
        const dst = openStore(secondary, { env: rgwEnv() });
        const partKeys = (await listKeys(primary)).filter((k) => k.startsWith(`${first}/`) && k.includes("/data/")).slice(0, 2);
        for (const k of partKeys) await dst.put(k, await src.get(k));
        const locations = await loadLocations(sql as unknown as Sql);
        const open = (l: (typeof locations)[number]) => openLocation(l, envSecrets({ LIFEBOAT_SECRET_RGW: rgwSecret() }));
        // A run whose budget is already spent stops before any object and says so.
        // Retention waits for its own step: every backup here finished today, one GFS slot.
        const stopped = await runCopy({ sql: sql as unknown as Sql, locations, open, deadline: Date.now() - 1, retention: false });
        assert.equal(stopped.done, false);
        assert.deepEqual(stopped.planned.sort(), [first, second].sort());
        const [{ n }] = await sql`select count(*)::int as n from lifeboat.location_copies where state = 'pending'`;
        assert.equal(n, 6, "one pending row per backup and location");
        const report = await runCopy({ sql: sql as unknown as Sql, locations, open, retention: false });
        assert.equal(report.done, true);
        const rgw = report.locations.find((l) => l.name === "rgw")!;
        assert.deepEqual(rgw.copied.sort(), [first, second].sort());
        assert.equal(rgw.objectsPresent, partKeys.length, "the objects copied before were found, not rewritten");
        assert.ok(rgw.objectsCopied > 4);
        assert.deepEqual(report.locations.find((l) => l.name === "local")!.copied.sort(), [first, second].sort(), "the primary verified");
        // Every object of the primary is at both other locations with the same bytes' sha256.
        const want = (await listKeys(primary)).sort();
        assert.deepEqual((await listKeys(secondary, rgwEnv())).sort(), want);
        assert.deepEqual((await listKeys(archive)).sort(), want);
        for (const k of want) {
          const a = await src.head(k), b = await dst.head(k);
          assert.equal(b?.sha256, a?.sha256, k);
        }
        const rows = await sql`select location, state, objects, verified_at is not null as verified from lifeboat.location_copies order by location, backup_id`;
        assert.ok(rows.every((r) => r.state === "copied" && r.verified && r.objects > 3), JSON.stringify(rows));
      });

      await t.step("lifeboat copy with nothing new is a no-op that exits 0", async () => {
        const r = await lifeboat(["copy", "--no-retention"], cliEnv);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.match(r.stdout, /primary "local": 2 backup\(s\)/);
        assert.match(r.stdout, /rgw \(secondary\): 0 backup\(s\) verified; 0 object\(s\) copied/);
      });

      await t.step("status, page and Prometheus show the three locations and 3-2-1", async () => {
        const report = await loadStatusReport(sql as unknown as Sql);
        const locs = report.locations!;
        assert.deepEqual(locs.locations.map((l) => [l.name, l.role, l.kind, l.newest_backup_id, l.pending_objects]), [
          ["local", "primary", "file", second, 0],
          ["rgw", "secondary", "s3", second, 0],
          ["cold", "archive", "file", second, 0],
        ]);
        assert.ok(locs.locations.every((l) => l.within_objective && l.newest_age_seconds !== null && l.newest_age_seconds < 3600));
        assert.deepEqual(locs.rule_321, { holds: true, copies: 3, kinds: 2, offsite: 1, why_not: [] });
        const page = renderStatusPage(report);
        assert.match(page, /<section id="locations">/);
        assert.match(page, /3-2-1 holds/);
        for (const n of ["local", "rgw", "cold"]) assert.match(page, new RegExp(`<td>${n}</td>`));
        assert.doesNotMatch(page, new RegExp(secondary.replace(/[/.]/g, "\\$&")), "no store URL on the page");
        const prom = renderPrometheus(report);
        assert.match(prom, /lifeboat_location_pending_objects\{location="rgw",role="secondary"\} 0/);
        assert.match(prom, /lifeboat_rule_321 1/);
        // Without the off-site copy the rule fails and says why.
        await sql`update lifeboat.locations set offsite = false where name = 'rgw'`;
        const without = (await loadStatusReport(sql as unknown as Sql)).locations!.rule_321;
        assert.equal(without.holds, false);
        assert.match(without.why_not.join(" "), /no off-site location holds a verified copy/);
        await sql`update lifeboat.locations set offsite = true where name = 'rgw'`;
      });

      await t.step("a location that is down never stops the others; it backs off and raises the alert", async () => {
        await sql.unsafe(`insert into ${SCHEMA}.items values (100001, 'third')`);
        const third = await backup(primary, key.recipient, ["--include-schema", SCHEMA]);
        await sql`insert into lifeboat.locations (name, url, role, credentials, lag_objective) values ('down', 's3://nowhere/x', 'archive', 'down', '1 hour')`;
        const env = { ...cliEnv, LIFEBOAT_SECRET_DOWN: rgwSecret({ endpoint: "http://127.0.0.1:9", retry: { attempts: 1, baseDelayMs: 0 } }) };
        const r = await lifeboat(["copy", "--no-retention", "--json"], env);
        assert.equal(r.code, 1, r.stderr);
        const report = JSON.parse(r.stdout);
        const byName = Object.fromEntries(report.locations.map((l: { name: string }) => [l.name, l]));
        assert.deepEqual(byName.rgw.copied, [third], "the healthy location got the new backup");
        assert.deepEqual(byName.cold.copied, [third]);
        assert.ok(byName.down.unreachable, "the down location is reported");
        const [row] = await sql`select state, attempts, next_attempt_at > now() as later from lifeboat.location_copies where location = 'down' order by backup_id limit 1`;
        assert.deepEqual({ ...row }, { state: "failed", attempts: 1, later: true });
        // Within its backoff the next run does not try it again.
        const again = JSON.parse((await lifeboat(["copy", "--no-retention", "--json"], env)).stdout);
        assert.deepEqual(again.locations.find((l: { name: string }) => l.name === "down").failed, []);
        const alertNow = async () => await sql`select a.dedup_key, a.summary from lifeboat.alert_rules r, lifeboat.alert_locations(now(), r) a where r.rule = 'locations'`;
        // It lags (no verified copy at all): the rule fires for it alone.
        let fired = await alertNow();
        assert.deepEqual(fired.map((a) => a.dedup_key), ["locations:down"]);
        // After copy.alert_after_failures failures the alert says so.
        for (let i = 0; i < 2; i++) {
          await sql`update lifeboat.location_copies set next_attempt_at = now() where location = 'down'`;
          assert.equal((await lifeboat(["copy", "--no-retention"], env)).code, 1);
        }
        fired = await alertNow();
        assert.match(String(fired[0].summary), /location down: copies failed 3 times in a row; 3 backup\(s\) wait to be copied/);
        const status = (await loadStatusReport(sql as unknown as Sql)).locations!.locations.find((l) => l.name === "down")!;
        assert.equal(status.pending_backups, 3);
        assert.ok(status.pending_objects > 10);
        assert.equal(status.within_objective, false);
        // Retention never deletes a backup another location still waits for.
        await sql`update lifeboat.locations set retention = '{"monthly": 1}' where name = 'cold'`;
        const held = await sql`select backup_id, keep, reasons from lifeboat.location_retention('cold', now())`;
        assert.equal(held.length, 3);
        assert.ok(held.every((r) => r.keep && (r.reasons as string[]).includes("awaiting_copy")), JSON.stringify(held));
        await sql`update lifeboat.locations set retention = '{"monthly": 12, "yearly": 7}' where name = 'cold'`;
        await sql`delete from lifeboat.locations where name = 'down'`;

      });

      await t.step("retention per location prunes only there, and logs it", async () => {
        // The three backups as if taken 400 days, 40 days and 0 days ago: the archive keeps one
        // monthly copy, so the two older ones go there; the others keep all three (distinct days).
        await sql`update lifeboat.location_copies set backup_finished_at = now() - interval '400 days' where backup_id = ${first}`;
        await sql`update lifeboat.location_copies set backup_finished_at = now() - interval '40 days' where backup_id = ${second}`;
        await sql`update lifeboat.locations set retention = '{"monthly": 1}' where name = 'cold'`;
        const r = await lifeboat(["copy"], cliEnv);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.match(r.stdout, /cold \(archive\):.*2 pruned by retention/);
        const coldIds = new Set((await listKeys(archive)).map((k) => k.split("/")[0]));
        assert.ok(!coldIds.has(first) && !coldIds.has(second), [...coldIds].join(","));
        assert.equal((await listKeys(primary)).filter((k) => k.startsWith(`${first}/`)).length > 0, true, "the primary keeps it");
        assert.equal((await listKeys(secondary, rgwEnv())).filter((k) => k.startsWith(`${first}/`)).length > 0, true, "the secondary keeps it");
        const [{ n }] = await sql`select count(*)::int as n from lifeboat.maintenance_log where type = 'location_prune' and details ->> 'location' = 'cold'`;
        assert.ok(n >= 2);
        const states = await sql`select backup_id, state from lifeboat.location_copies where location = 'cold' order by backup_id`;
        assert.deepEqual(states.map((s) => s.state), ["pruned", "pruned", "copied"]);
      });

      await t.step("the backup-copy function: service key only, clear 400s, and a run over the same locations", async () => {
        const noKey = await fetch(functionUrl("backup-copy"), { method: "POST", body: "{}" });
        assert.equal(noKey.status, 401);
        await noKey.body?.cancel();
        const bad = await fetch(functionUrl("backup-copy"), { method: "POST", headers: serviceHeaders(), body: '{"retention": "no"}' });
        assert.equal(bad.status, 400);
        assert.match((await bad.json()).message, /retention must be true or false/);
        // An edge function has no filesystem: a directory primary is refused as unreadable.
        const noFs = await fetch(functionUrl("backup-copy"), { method: "POST", headers: serviceHeaders(), body: "{}" });
        assert.equal(noFs.status, 503);
        assert.match((await noFs.json()).message, /the primary location could not be read/);
        // With RGW as the primary it copies to a second bucket prefix, credentials from Vault.
        await sql`select vault.create_secret(${rgwSecret()}, 'rgw') where not exists (select from vault.secrets where name = 'rgw')`;
        await sql`update lifeboat.locations set enabled = false where name in ('local', 'cold')`;
        await sql`update lifeboat.locations set role = 'primary' where name = 'rgw'`;
        await sql`insert into lifeboat.locations (name, url, role, credentials) values ('rgw2', ${secondary2}, 'secondary', 'rgw')`;
        const ok = await fetch(functionUrl("backup-copy"), { method: "POST", headers: serviceHeaders(), body: '{"retention": false}' });
        const body = await ok.json();
        assert.equal(ok.status, 200, JSON.stringify(body));
        assert.equal(body.primary, "rgw");
        assert.equal(body.backupsOnPrimary, 3);
        assert.equal(body.locations.find((l: { name: string }) => l.name === "rgw2").copied.length, 3);
        assert.deepEqual((await listKeys(secondary2, rgwEnv())).sort(), (await listKeys(secondary, rgwEnv())).sort());
        await sql`delete from lifeboat.locations where name = 'rgw2'`;
        await sql`update lifeboat.locations set role = 'secondary' where name = 'rgw'`;
        await sql`update lifeboat.locations set enabled = true where name in ('local', 'cold')`;
      });

      await t.step("after the primary is deleted, restore and drill read from the secondary and say so", async () => {
        await Deno.remove(primary, { recursive: true });
        await Deno.mkdir(primary);
        const target = await createDb("lifeboat_loc_restore");
        scratch.push(target);
        const r = await lifeboat(["restore", "--latest", "--target", urlOf(target), "--identity", key.path], cliEnv);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.match(r.stderr, /reading from location "rgw" \(secondary, s3:\/\/.*\): chosen automatically; "local" could not be read \(no complete backup/);
        const t2 = client(urlOf(target));
        try {
          const [{ n }] = await t2.unsafe(`select count(*)::int as n from ${SCHEMA}.items`);
          assert.equal(n, 3002);
        } finally {
          await t2.end();
        }
        const d = await lifeboat(["drill", "--identity", key.path, "--json"], cliEnv);
        assert.equal(d.code, 0, d.stderr + d.stdout);
        assert.match(d.stderr, /reading from location "rgw".*chosen automatically/);
        const named = await lifeboat(["verify", "--latest", "--from", "cold", "--no-db"], cliEnv);
        assert.equal(named.code, 0, named.stderr + named.stdout);
        assert.match(named.stderr, /reading from location "cold" \(archive, .*\): named with --from/);
        const unknown = await lifeboat(["verify", "--latest", "--from", "nowhere"], cliEnv);
        assert.equal(unknown.code, 2);
        assert.match(unknown.stderr, /no location named "nowhere": the locations are cold, local, rgw/);
        const both = await lifeboat(["verify", "--latest", "--from", "rgw", "--store", archive], cliEnv);
        assert.equal(both.code, 2);
        assert.match(both.stderr, /give --store or --from\/--locations, not both/);
      });

      await t.step("a damaged primary fails verification and the secondary is chosen", async () => {
        // Put the newest backup back on the primary with one part altered.
        const rgw = openStore(secondary, { env: rgwEnv() });
        const fs = openStore(primary);
        const keys = (await listKeys(secondary, rgwEnv()));
        const newest = keys.map((k) => k.split("/")[0]).filter((k) => /^\d{8}T/.test(k)).sort().at(-1)!;
        for (const k of keys.filter((k) => k.startsWith(`${newest}/`))) await fs.put(k, await rgw.getBytes(k));
        const part = keys.find((k) => k.startsWith(`${newest}/`) && k.includes("/data/"))!;
        const bytes = await rgw.getBytes(part);
        bytes[bytes.length - 1] ^= 0xff;
        await fs.put(part, bytes);
        const r = await lifeboat(["verify", "--latest", "--no-db"], cliEnv);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.match(r.stderr, /reading from location "rgw".*"local" failed verification of backup .*object_sha256/);
      });
    } finally {
      await sql`delete from lifeboat.locations`.catch(() => {});
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`).catch(() => {});
      await sql`delete from vault.secrets where name = 'rgw'`.catch(() => {});
      await sql.end();
      for (const db of scratch) await dropDb(db).catch(() => {});
      for (const s of [secondary, secondary2]) await emptyStore(openStore(s, { env: rgwEnv() })).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

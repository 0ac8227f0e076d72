// Locations on the stores an attacker cannot erase (issue 21 with the azure-lock drivers): a
// local primary copied by `lifeboat copy` to RGW's object-lock bucket (every object locked by the
// location's lock) and to Azurite; with the copier's own credentials the locked copy cannot be
// deleted, and it still verifies from there; retention on the locked location holds what the
// lock protects instead of failing; the status shows three locations on three kinds of storage.
import assert from "node:assert/strict";
import type { Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { openStore, StoreError } from "../../supabase/functions/_shared/store/mod.ts";
import { loadStatusReport } from "../../supabase/functions/_shared/status/mod.ts";
import { hasS3 } from "../../harness/export_env.ts";
import { azureEnv, azureStore, azureUrl, hasAzure } from "../../harness/azure.ts";
import { stackEnv } from "../../harness/stack.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { backup, client, lifeboat, makeKey } from "../support/restore.ts";

const SCHEMA = "lifeboat_locations_lock";

Deno.test({
  name: "locations: copies to a locked RGW bucket and to Azurite, undeletable, verifiable, held by retention",
  ignore: !hasS3() || !hasAzure(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sql = client();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-locations-lock-" });
    const run = crypto.randomUUID().slice(0, 8);
    const locked = `s3://${stackEnv("LIFEBOAT_S3_LOCKED_BUCKET")}/locations-${run}`;
    const azPrefix = `locations-${run}`;
    const env = { ...azureEnv(), LIFEBOAT_STORE: "" };
    try {
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA};
        create table ${SCHEMA}.t (id int primary key); insert into ${SCHEMA}.t select generate_series(1, 500);`);
      await sql`delete from lifeboat.locations`;
      const key = await makeKey(dir);
      await Deno.mkdir(dir + "/primary");
      const first = await backup(dir + "/primary", key.recipient, ["--include-schema", SCHEMA]);
      const second = await backup(dir + "/primary", key.recipient, ["--include-schema", SCHEMA]);
      await sql`insert into lifeboat.locations (name, url, role, retention, lock, offsite) values
        ('local', ${dir + "/primary"}, 'primary', '{"daily": 7}', null, false),
        ('locked', ${locked}, 'secondary', '{"daily": 1}', '{"mode": "governance", "days": 1}', true),
        ('azure', ${azureUrl(azPrefix)}, 'archive', '{"monthly": 12, "yearly": 7}', null, true)`;

      await t.step("lifeboat copy writes both backups to the locked bucket and to Azurite", async () => {
        const r = await lifeboat(["copy", "--no-retention"], env);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.match(r.stdout, /locked \(secondary\): 2 backup\(s\) verified/);
        assert.match(r.stdout, /azure \(archive\): 2 backup\(s\) verified/);
        const want: string[] = [];
        for await (const o of openStore(dir + "/primary").list("")) want.push(o.key);
        for (const store of [openStore(locked), azureStore(azPrefix)]) {
          const got: string[] = [];
          for await (const o of store.list("")) got.push(o.key);
          assert.deepEqual(got.sort(), want.sort(), store.describe());
        }
      });

      await t.step("the copier's own credentials cannot delete a locked copy; it verifies from there", async () => {
        const store = openStore(locked, { s3: { objectLock: { mode: "GOVERNANCE", days: 1 } } });
        await assert.rejects(store.delete(`${second}/manifest.json`), (err: unknown) => err instanceof StoreError && err.code === "locked");
        const v = await lifeboat(["verify", second, "--from", "locked", "--no-db"], env);
        assert.equal(v.code, 0, v.stderr + v.stdout);
        assert.match(v.stderr, /reading from location "locked" \(secondary, s3:\/\/lifeboat-locked\/.*\): named with --from/);
        const a = await lifeboat(["verify", first, "--from", "azure", "--no-db"], env);
        assert.equal(a.code, 0, a.stderr + a.stdout);
      });

      await t.step("retention on the locked location holds what the lock protects", async () => {
        const r = await lifeboat(["copy"], env);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.match(r.stdout, new RegExp(`locked \\(secondary\\):.*1 held by the lock until it expires \\(${first}\\)`));
        const [row] = await sql`select state from lifeboat.location_copies where location = 'locked' and backup_id = ${first}`;
        assert.equal(row.state, "copied", "a held copy is still a copy");
      });

      await t.step("the status shows three locations on three kinds of storage", async () => {
        const s = (await loadStatusReport(sql as unknown as Sql)).locations!;
        assert.deepEqual(s.locations.map((l) => [l.name, l.kind, l.locked, l.newest_backup_id]), [
          ["local", "file", false, second],
          ["locked", "s3", true, second],
          ["azure", "azure", false, second],
        ]);
        assert.deepEqual(s.rule_321, { holds: true, copies: 3, kinds: 3, offsite: 2, why_not: [] });
      });
    } finally {
      await sql`delete from lifeboat.locations`.catch(() => {});
      await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`).catch(() => {});
      await sql.end();
      await emptyStore(azureStore(azPrefix)).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

// Location sets the CLI reads (a JSON file, $LIFEBOAT_LOCATIONS) are checked before anything
// is opened: an unknown scheme, a name used twice, no primary (or two), a URL with credentials
// and a retention shorter than the lock are refused with a message naming the location and
// what to change; a good set gives restore order primary, secondaries, archives.
import assert from "node:assert/strict";
import {
  LocationError,
  minRetentionDays,
  parseLocations,
  readLocationsSpec,
  restoreOrder,
  storageKind,
} from "../../supabase/functions/_shared/locations/mod.ts";

const good = [
  { name: "archive", url: "az://acct/cold/lifeboat", role: "archive", retention: { monthly: 12, yearly: 7 }, offsite: true },
  { name: "local", url: "/var/backups/lifeboat", role: "primary", retention: { daily: 7 } },
  { name: "offsite", url: "s3://backups/prod", role: "secondary", retention: { daily: 7, weekly: 4, monthly: 12 }, lock: { mode: "compliance", days: 7 } },
];

function refused(input: unknown, pattern: RegExp) {
  assert.throws(() => parseLocations(input), (err: unknown) => {
    assert.ok(err instanceof LocationError, `expected a LocationError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("a good location set parses, with defaults, in restore order", () => {
  const locs = parseLocations(good);
  assert.deepEqual(restoreOrder(locs).map((l) => l.name), ["local", "offsite", "archive"]);
  assert.equal(locs.find((l) => l.name === "local")!.offsite, false);
  assert.equal(locs.find((l) => l.name === "local")!.lock, null);
  assert.deepEqual(["/x", "file:///x", "s3://b/p", "az://a/c", "https://acct.blob.core.windows.net/c/p", "ftp://h/x"].map(storageKind),
    ["file", "file", "s3", "azure", "azure", null]);
});

Deno.test("bad location sets are refused with what to change", () => {
  refused([...good, { name: "odd", url: "ftp://host/x", role: "secondary" }], /location "odd": unknown store scheme 'ftp'.*s3:\/\/bucket/);
  refused([...good, { name: "local", url: "/other", role: "archive" }], /location "local" is named twice/);
  refused(good.filter((l) => l.role !== "primary"), /no primary location: mark the location/);
  refused([...good, { name: "second", url: "/b", role: "primary" }], /2 primary locations \(local, second\)/);
  refused([...good, { name: "leaky", url: "s3://key:secret@bucket/p", role: "secondary" }], /"leaky": the URL carries credentials/);
  refused([{ ...good[1] }, { name: "locked", url: "s3://b/p", role: "secondary", retention: { daily: 3, monthly: 12 }, lock: { mode: "governance", days: 30 } }],
    /"locked": retention keeps some backups 3 days, shorter than the 30 day lock/);
  refused([...good, { name: "x", url: "/x", role: "tertiary" }], /location "x": role/);
  refused([...good, { name: "Bad Name", url: "/x", role: "archive" }], /name must be lowercase/);
  refused({ name: "local" }, /must be a JSON array/);
  // A location without its own policy is measured against the default (the retention.gfs.* settings).
  assert.throws(() => parseLocations([{ ...good[1], lock: { mode: "compliance", days: 10 } }], { daily: 7 }), /7 days, shorter than the 10 day lock/);
});

Deno.test("minRetentionDays is the shortest non-empty tier", () => {
  assert.equal(minRetentionDays({ daily: 7, weekly: 4 }), 7);
  assert.equal(minRetentionDays({ daily: 0, weekly: 4, monthly: 12 }), 28);
  assert.equal(minRetentionDays({ monthly: 12, yearly: 7 }), 336);
  assert.equal(minRetentionDays({ yearly: "all" }), null);
});

Deno.test("readLocationsSpec reads JSON text or a file, and says what is wrong", async () => {
  assert.equal((await readLocationsSpec(JSON.stringify(good))).length, 3);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/l.json`, JSON.stringify(good));
  assert.equal((await readLocationsSpec(`${dir}/l.json`)).length, 3);
  await assert.rejects(readLocationsSpec(`${dir}/none.json`), /cannot read the locations file/);
  await assert.rejects(readLocationsSpec("[not json"), /not valid JSON/);
  await Deno.remove(dir, { recursive: true });
});

// Issue 17 item 1, as an attacker who can write to the store: every forgery of a signed
// backup (SQL appended to pre-data and roles.sql re-encrypted to the public recipient with
// the sha256 fixed, a changed row count, a part pointing at another table, swapped parts, a
// table dropped from the manifest, a changed fingerprint, a garbage part, an old backup under
// a newer id, a manifest re-signed with the attacker's own key) is refused by verify, restore
// and drill before any part is read and before anything is written. With --allow-unsigned,
// verify --identity still decrypts and parses every part, so the content forgeries fail it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { openStream, parseIdentityFile, sealStream } from "../../../supabase/functions/_shared/crypto/mod.ts";
import { type Manifest } from "../../../supabase/functions/_shared/format/mod.ts";
import { generateSigningKey, importSigningKey, signManifest } from "../../../supabase/functions/_shared/format/mod.ts";
import {
  backup,
  client,
  copyTree,
  createDb,
  databasesLike,
  dropDb,
  lifeboat,
  makeKey,
  sourceUrl,
  urlOf,
  userTableCount,
} from "../../support/restore.ts";
import { testSigning } from "../../support/signing.ts";

const SCHEMA = "adv_sign";
const ROGUE = "adv_rogue_login";

async function setupSource(): Promise<void> {
  const sql = client();
  try {
    await sql.unsafe(`
      drop schema if exists ${SCHEMA} cascade;
      create schema ${SCHEMA};
      create table ${SCHEMA}.a (id int primary key, v text);
      insert into ${SCHEMA}.a select g, 'a' || g from generate_series(1, 500) g;
      create table ${SCHEMA}.b (id int primary key, w text);
      insert into ${SCHEMA}.b select g, 'b' || g from generate_series(1, 100) g;`);
  } finally {
    await sql.end();
  }
}

interface Forge {
  dir: string;
  id: string;
  m: Manifest;
  identities: string[];
  recipient: string;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function decrypt(f: Forge, key: string): Promise<string> {
  const stored = await Deno.readFile(`${f.dir}/${f.id}/${key}`);
  return await new Response(await openStream(new Blob([stored]).stream(), f.identities, f.m.compression)).text();
}

/** Re-encrypts `plain` to the backup's (public) recipient and fixes size and sha256 in the manifest. */
async function replaceObject(f: Forge, key: string, plain: string | Uint8Array): Promise<void> {
  const bytes = typeof plain === "string" ? new TextEncoder().encode(plain) : plain;
  const sealed = new Uint8Array(await new Response(
    await sealStream(new Blob([new Uint8Array(bytes)]).stream(), { recipients: [f.recipient], compression: f.m.compression }),
  ).arrayBuffer());
  await Deno.writeFile(`${f.dir}/${f.id}/${key}`, sealed);
  const o = f.m.objects.find((x) => x.key === key)!;
  o.size = sealed.length;
  o.sha256 = sha(sealed);
}

async function writeManifest(f: Forge, id = f.id): Promise<Uint8Array> {
  const body = new TextEncoder().encode(JSON.stringify(f.m, null, 2) + "\n");
  await Deno.writeFile(`${f.dir}/${id}/manifest.json`, body);
  return body;
}

const partOf = (f: Forge, table: string) => f.m.objects.find((o) => o.kind === "data" && o.table?.name === table)!;

Deno.test({
  name: "adversarial: forged backups are refused by verify, restore and drill before anything is read or written",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await setupSource();
    const dir = await Deno.makeTempDir({ prefix: "lifeboat-adv-sign-" });
    const key = await makeKey(dir);
    const identities = parseIdentityFile(await Deno.readTextFile(key.path));
    const store = `${dir}/store`;
    const target = await createDb("lifeboat_adv_sign");
    try {
      const id = await backup(store, key.recipient, ["--include-schema", SCHEMA]);
      const pristine = JSON.parse(await Deno.readTextFile(`${store}/${id}/manifest.json`)) as Manifest;

      await t.step("the genuine backup is signed, verifies (every part decrypted) and records its manifest sha256", async () => {
        const sig = await Deno.readFile(`${store}/${id}/manifest.json.sig`);
        assert.equal(sig.length, 64);
        const r = await lifeboat(["verify", "--store", store, id, "--identity", key.path, "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const rep = JSON.parse(r.stdout);
        const by = (n: string) => rep.checks.find((c: { check: string }) => c.check === n);
        assert.equal(by("signature").level, "ok");
        assert.equal(by("decrypt").level, "ok");
        assert.match(by("decrypt").detail, /all \d+ objects decrypted/);
        assert.equal(by("backup_recorded").level, "ok");
        const sql = client();
        try {
          const [row] = await sql`select manifest_sha256 from lifeboat.backup_runs where metadata->>'backup_id' = ${id}`;
          assert.equal(row.manifest_sha256, sha(await Deno.readFile(`${store}/${id}/manifest.json`)));
        } finally {
          await sql.end();
        }
      });

      await t.step("--sample decrypts one part only", async () => {
        const r = await lifeboat(["verify", "--store", store, id, "--identity", key.path, "--sample", "--json"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const rep = JSON.parse(r.stdout);
        assert.equal(rep.checks.find((c: { check: string }) => c.check === "sample_decrypt").level, "ok");
        assert.ok(!rep.checks.some((c: { check: string }) => c.check === "decrypt"));
      });

      await t.step("a stock tool checks the signature: openssl pkeyutl -verify", async () => {
        const out = await new Deno.Command("openssl", {
          args: ["pkeyutl", "-verify", "-pubin", "-inkey", testSigning.publicFile, "-rawin", "-in", `${store}/${id}/manifest.json`,
            "-sigfile", `${store}/${id}/manifest.json.sig`],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        assert.match(new TextDecoder().decode(out.stdout), /Signature Verified Successfully/);
      });

      // Each forgery works on its own copy of the store; the manifest is rewritten (and so no
      // longer matches its signature) exactly as the attacker did.
      const forgeries: [string, (f: Forge) => Promise<string | void> | void, { contentCaught: boolean }][] = [
        ["SQL appended to pre-data and roles.sql, re-encrypted, sha256 fixed", async (f) => {
          const roles = f.m.objects.find((o) => o.kind === "roles")!.key;
          await replaceObject(f, roles, (await decrypt(f, roles)) +
            `\ncreate role ${ROGUE} login password 'known' in role postgres;\n`);
          const pre = f.m.objects.find((o) => o.kind === "pre-data")!.key;
          await replaceObject(f, pre, (await decrypt(f, pre)) + `\ncreate table ${SCHEMA}.planted (x int);\n`);
        }, { contentCaught: false }],
        ["a changed row count", (f) => {
          f.m.tables.find((x) => x.name === "a")!.rows = 499;
          partOf(f, "a").rows = 499;
        }, { contentCaught: true }],
        ["a part pointing at another table", async (f) => {
          const a = partOf(f, "a"), b = partOf(f, "b");
          await replaceObject(f, a.key, await decrypt(f, b.key));
          a.rows = b.rows;
          f.m.tables.find((x) => x.name === "a")!.rows = b.rows!;
        }, { contentCaught: true }],
        ["swapped parts", async (f) => {
          const a = partOf(f, "a"), b = partOf(f, "b");
          const [pa, pb] = [await decrypt(f, a.key), await decrypt(f, b.key)];
          await replaceObject(f, a.key, pb);
          await replaceObject(f, b.key, pa);
        }, { contentCaught: true }],
        ["a table dropped from the manifest", (f) => {
          const a = f.m.tables.find((x) => x.name === "a")!;
          f.m.tables = f.m.tables.filter((x) => x !== a);
          f.m.objects = f.m.objects.filter((o) => !a.parts.includes(o.key));
        }, { contentCaught: true }], // by completeness against the source
        ["a changed fingerprint", (f) => {
          f.m.tables[0].fingerprint = { ...(f.m.tables[0].fingerprint as object), fingerprint: "0".repeat(32) };
        }, { contentCaught: false }],
        ["a garbage part encrypted to the recipient", async (f) => {
          await replaceObject(f, partOf(f, "b").key, crypto.getRandomValues(new Uint8Array(4096)));
        }, { contentCaught: true }],
        ["a manifest re-signed with the attacker's own key", async (f) => {
          const roles = f.m.objects.find((o) => o.kind === "roles")!.key;
          await replaceObject(f, roles, (await decrypt(f, roles)) + `\ncreate role ${ROGUE} login password 'known';\n`);
          const rogue = await generateSigningKey();
          const body = await writeManifest(f);
          await Deno.writeFile(`${f.dir}/${f.id}/manifest.json.sig`, await signManifest(await importSigningKey(rogue.privatePem), body));
          return "signed"; // already written
        }, { contentCaught: false }],
      ];

      let n = 0;
      for (const [name, forge, { contentCaught }] of forgeries) {
        await t.step(`refused: ${name}`, async () => {
          const copy = `${dir}/forged-${n++}`;
          await copyTree(store, copy);
          const f: Forge = { dir: copy, id, m: structuredClone(pristine), identities, recipient: key.recipient };
          if ((await forge(f)) !== "signed") await writeManifest(f);

          const v = await lifeboat(["verify", "--store", copy, id, "--identity", key.path, "--json"]);
          assert.equal(v.code, 1, v.stdout + v.stderr);
          const rep = JSON.parse(v.stdout);
          const sigCheck = rep.checks.find((c: { check: string }) => c.check === "signature");
          assert.equal(sigCheck.level, "error");
          assert.match(sigCheck.detail, /not a valid signature/);
          // Refused before any part was read: no integrity or decryption checks ran.
          assert.ok(!rep.checks.some((c: { check: string }) => ["integrity", "decrypt", "sample_decrypt"].includes(c.check)));

          const r = await lifeboat(["restore", "--store", copy, id, "--identity", key.path, "--target", urlOf(target), "--json"]);
          assert.equal(r.code, 1, r.stdout + r.stderr);
          const rr = JSON.parse(r.stdout);
          assert.equal(rr.wrote, false);
          assert.deepEqual(Object.keys(rr.timings), []);
          assert.ok(rr.checks.some((c: { check: string; level: string }) => c.check === "signature" && c.level === "error"));
          assert.equal(await userTableCount(target), 0);
          const sql = client();
          try {
            assert.equal((await sql`select 1 from pg_roles where rolname = ${ROGUE}`).length, 0);
          } finally {
            await sql.end();
          }

          if (contentCaught) {
            // Even when unsigned backups are allowed, verify --identity reads every part and the source.
            const u = await lifeboat(["verify", "--store", copy, id, "--identity", key.path, "--allow-unsigned", "--json"]);
            assert.equal(u.code, 1, `${name}: ${u.stdout}`);
          }
        });
      }

      await t.step("refused by drill too, and no scratch database is left", async () => {
        const copy = `${dir}/forged-drill`;
        await copyTree(store, copy);
        const f: Forge = { dir: copy, id, m: structuredClone(pristine), identities, recipient: key.recipient };
        f.m.tables[0].rows += 1;
        await writeManifest(f);
        const d = await lifeboat(["drill", "--store", copy, id, "--identity", key.path, "--json"]);
        assert.equal(d.code, 1, d.stdout + d.stderr);
        const rep = JSON.parse(d.stdout);
        assert.ok(rep.checks.some((c: { check: string; level: string }) => c.check === "signature" && c.level === "error"));
        assert.deepEqual(await databasesLike("lifeboat_drill_"), []);
      });

      await t.step("an old backup copied under a newer id is not taken by --latest, signed or not", async () => {
        const copy = `${dir}/renamed`;
        await copyTree(store, copy);
        const later = new Date(Date.parse(pristine.startedAt) + 86400_000);
        const newId = `${later.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z")}-${id.slice(-8)}`;
        await Deno.rename(`${copy}/${id}`, `${copy}/${newId}`);
        const f: Forge = { dir: copy, id: newId, m: structuredClone(pristine), identities, recipient: key.recipient };
        f.m.id = newId;
        await writeManifest(f);
        for (const extra of [[], ["--allow-unsigned"]]) {
          const v = await lifeboat(["verify", "--store", copy, "--latest", "--no-db", "--json", ...extra]);
          assert.equal(v.code, 1, v.stdout);
          const rep = JSON.parse(v.stdout);
          assert.equal(rep.backupId, newId);
          assert.ok(rep.checks.some((c: { level: string; detail: string }) =>
            c.level === "error" && /newer than its startedAt|not a valid signature/.test(c.detail)));
        }
        const r = await lifeboat(["restore", "--store", copy, "--latest", "--allow-unsigned", "--identity", key.path, "--target", urlOf(target), "--json"]);
        assert.equal(r.code, 1);
        assert.equal(JSON.parse(r.stdout).wrote, false);
        assert.equal(await userTableCount(target), 0);
      });

      await t.step("an unsigned backup is refused unless --allow-unsigned; trust is never taken from the store", async () => {
        const u = await lifeboat(["backup", "--store", store, "--recipient", key.recipient, "--include-schema", SCHEMA, "--unsigned", "--json"]);
        assert.equal(u.code, 0, u.stderr);
        const uid = /"id":"([^"]+)"/.exec(u.stdout)![1];
        const v = await lifeboat(["verify", "--store", store, uid, "--no-db", "--json"]);
        assert.equal(v.code, 1);
        assert.match(v.stdout, /is not signed/);
        const ok = await lifeboat(["verify", "--store", store, uid, "--no-db", "--allow-unsigned", "--identity", key.path, "--json"]);
        assert.equal(ok.code, 0, ok.stdout);
        assert.equal(JSON.parse(ok.stdout).checks.find((c: { check: string }) => c.check === "signature").level, "warn");
        // A signed backup with no trusted key given is refused as well.
        const none = await lifeboat(["verify", "--store", store, id, "--no-db", "--json"], { LIFEBOAT_TRUSTED_KEYS: "" });
        assert.equal(none.code, 1);
        assert.match(none.stdout, /no trusted signing key was given/);
        // A backup without a key on the command line is a usage error.
        const nokey = await lifeboat(["backup", "--store", store, "--recipient", key.recipient], { LIFEBOAT_SIGNING_KEY_FILE: "" });
        assert.equal(nokey.code, 2);
        assert.match(nokey.stderr, /no signing key/);
      });

      await t.step("a backup the project never recorded is flagged", async () => {
        const sql = client();
        try {
          await sql`update lifeboat.backup_runs set metadata = metadata - 'backup_id', manifest_key = 'elsewhere/manifest.json'
            where metadata->>'backup_id' = ${id}`;
        } finally {
          await sql.end();
        }
        const v = await lifeboat(["verify", "--store", store, id, "--json", "--db-url", sourceUrl()]);
        const rep = JSON.parse(v.stdout);
        const rec = rep.checks.find((c: { check: string }) => c.check === "backup_recorded");
        assert.equal(rec.level, "warn");
        assert.match(rec.detail, /never recorded/);
      });
    } finally {
      await dropDb(target);
      const sql = client();
      try {
        await sql.unsafe(`drop schema if exists ${SCHEMA} cascade; drop role if exists ${ROGUE}`);
      } finally {
        await sql.end();
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

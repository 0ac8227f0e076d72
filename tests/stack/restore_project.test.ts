// Restore into a NEW Supabase project, through the real CLI: the demo app backed up from the
// stack's project is restored into a second, empty faithful project (scripts/test.sh starts it
// with `--no-seed` and exports LIFEBOAT_TARGET_DB_URL). Users keep their ids (every foreign key
// to auth.users holds) and their passwords still check with crypt(); the user's trigger on
// auth.users and policies on storage.objects are there again; what cannot be carried over is
// reported. Then the bad inputs: a target that already has the same users is refused unless
// --clean (which replaces those rows), --dry-run writes nothing and lists what it would, and a
// target whose GoTrue schema is older than the backup's is refused.
import assert from "node:assert/strict";
import { backup, client, lifeboat, makeKey } from "../support/restore.ts";

function targetUrl(): string {
  const url = Deno.env.get("LIFEBOAT_TARGET_DB_URL");
  if (!url) throw new Error("LIFEBOAT_TARGET_DB_URL is not set: run this test through scripts/test.sh, which starts the target project");
  return url;
}

/** Empties the target project again: the platform's rows, and every schema object of the user's. */
async function resetTarget(): Promise<void> {
  const sql = client(targetUrl());
  try {
    await sql.begin(async (tx) => {
      // Storage forbids direct deletes with a trigger; replica mode keeps it (and the FKs) quiet.
      await tx`set local session_replication_role = replica`;
      await tx`delete from storage.objects`;
      await tx`delete from storage.buckets`;
      await tx`delete from auth.identities`;
      await tx`delete from auth.users`;
      await tx.unsafe(`
        do $$
        declare r record;
        begin
          for r in select p.polname, c.oid::regclass::text as t from pg_policy p join pg_class c on c.oid = p.polrelid
                   where c.relnamespace in ('auth'::regnamespace, 'storage'::regnamespace) loop
            execute format('drop policy %I on %s', r.polname, r.t);
          end loop;
          for r in select n.nspname from pg_namespace n
                   where n.nspname <> all (lifeboat.managed_schemas()) and n.nspname !~ '^pg_' and n.nspname <> 'public'
                     and not exists (select from pg_depend d where d.classid = 'pg_namespace'::regclass and d.objid = n.oid and d.deptype = 'e') loop
            execute format('drop schema %I cascade', r.nspname);
          end loop;
          for r in select c.oid::regclass::text as t, c.relkind from pg_class c
                   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S')
                     and not exists (select from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('e', 'a', 'i')) loop
            execute format('drop %s if exists %s cascade',
              case r.relkind when 'v' then 'view' when 'm' then 'materialized view' when 'S' then 'sequence' else 'table' end, r.t);
          end loop;
          for r in select p.oid::regprocedure::text as f from pg_proc p where p.pronamespace = 'public'::regnamespace
                     and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e') loop
            execute format('drop function if exists %s cascade', r.f);
          end loop;
          for r in select t.oid::regtype::text as ty from pg_type t where t.typnamespace = 'public'::regnamespace
                     and t.typtype in ('e', 'd', 'c') and (t.typtype <> 'c' or (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c') loop
            execute format('drop type if exists %s cascade', r.ty);
          end loop;
        end $$`);
    });
  } finally {
    await sql.end();
  }
}

/** The demo users' ids, in order, and how many of the 40 demo passwords check with crypt(). */
async function usersOf(url?: string): Promise<{ ids: string; count: number; passwordsOk: number }> {
  const sql = client(url);
  try {
    const [r] = await sql`
      select (select string_agg(id::text, ',' order by id) from auth.users) as ids,
        (select count(*)::int from auth.users) as count,
        (select count(*)::int from generate_series(1, 40) n
          join auth.users u on u.id = md5('lifeboat-demo-user-' || n)::uuid
          where u.encrypted_password = extensions.crypt('lifeboat-demo-' || n, u.encrypted_password)) as "passwordsOk"`;
    return r as unknown as { ids: string; count: number; passwordsOk: number };
  } finally {
    await sql.end();
  }
}

Deno.test("restore into a new project: users, their references, triggers and policies; refusals", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-project-" });
  const store = `${dir}/store`;
  const key = await makeKey(dir);
  const id = await backup(store, key.recipient);
  const source = await usersOf();
  assert.equal(source.passwordsOk, 40, "the demo app's 40 users");
  const restore = (extra: string[]) =>
    lifeboat(["restore", "--store", store, id, "--identity", key.path, "--target", targetUrl(), ...extra]);
  await resetTarget();
  try {
    await t.step("the whole backup restores into the new project and is verified", async () => {
      const r = await restore(["--json"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.passed, true);
      const users = report.tables.find((x: { source: string }) => x.source === "auth.users");
      assert.deepEqual([users.rows, users.fingerprint], [40, "match"]);
      assert.ok(report.tables.some((x: { source: string; fingerprint: string }) => x.source === "storage.objects" && x.fingerprint === "match"));
      const manual = report.checks.find((c: { check: string }) => c.check === "not_carried_over");
      assert.equal(manual.level, "warn");
      assert.match(manual.detail, /JWT secret and API keys.*role passwords.*auth provider settings.*edge function secrets/);
    });

    await t.step("users keep their ids and passwords; references, trigger and policies hold", async () => {
      const got = await usersOf(targetUrl());
      assert.equal(got.ids, source.ids, "same user ids");
      assert.equal(got.passwordsOk, 40, "every restored password checks with crypt()");
      const src = client(), dst = client(targetUrl());
      try {
        const q = `select (select count(*)::int from public.profiles p join auth.users u on u.id = p.id) as profiles,
            (select count(*)::int from public.notes) as notes,
            (select array_agg(polname::text order by polname) from pg_policy where polrelid = 'storage.objects'::regclass) as policies,
            (select count(*)::int from storage.objects o join storage.buckets b on b.id = o.bucket_id) as objects`;
        const [a] = await src.unsafe(q);
        const [b] = await dst.unsafe(q);
        assert.deepEqual(b, a);
        assert.ok(a.profiles === 40 && a.objects > 0);
        const [fk] = await dst`select count(*)::int as n from pg_constraint
          where contype = 'f' and confrelid = 'auth.users'::regclass and connamespace = 'public'::regnamespace`;
        assert.ok(fk.n >= 1, "the app's foreign keys to auth.users are back");
        // The user's trigger on auth.users is back, and fires for a new sign-up.
        const uid = crypto.randomUUID();
        await dst.begin(async (tx) => {
          await tx`insert into auth.users (instance_id, id, aud, role, email) values
            ('00000000-0000-0000-0000-000000000000', ${uid}, 'authenticated', 'authenticated', ${`new-${uid}@example.com`})`;
          const [p] = await tx`select count(*)::int as n from public.profiles where id = ${uid}`;
          assert.equal(p.n, 1, "on_auth_user_created made the profile");
          await tx`rollback`.catch(() => {});
          throw new Error("rollback");
        }).catch((err) => {
          if ((err as Error).message !== "rollback") throw err;
        });
      } finally {
        await src.end();
        await dst.end();
      }
    });

    await t.step("a target that has the same users is refused; --dry-run lists; --clean replaces those rows", async () => {
      const dst = client(targetUrl());
      try {
        await dst`update auth.users set email = 'changed@example.com' where id = md5('lifeboat-demo-user-1')::uuid`;
        const refused = await restore(["--schema", "auth"]);
        assert.equal(refused.code, 1, refused.stdout);
        assert.match(refused.stdout, /platform_rows .*already has 80 of the backup's platform rows/);
        assert.match(refused.stdout, /FAILED \(nothing was written\)/);
        const dry = await restore(["--schema", "auth", "--clean", "--dry-run"]);
        assert.equal(dry.code, 0, dry.stdout + dry.stderr);
        assert.match(dry.stdout, /auth\.users +40 rows/);
        assert.match(dry.stdout, /DRY RUN PASSED \(nothing written\)/);
        const [still] = await dst`select email from auth.users where id = md5('lifeboat-demo-user-1')::uuid`;
        assert.equal(still.email, "changed@example.com", "the dry run wrote nothing");
        // The target also has a user of its own, whom the backup does not know: --clean keeps
        // that row, and the fingerprint check compares the restored rows only (40 users).
        const own = crypto.randomUUID();
        // Replica mode: the app's trigger on auth.users (a profiles row) stays out of it.
        await dst.begin(async (tx) => {
          await tx`set local session_replication_role = replica`;
          await tx`insert into auth.users (instance_id, id, aud, role, email, created_at, updated_at)
            values ('00000000-0000-0000-0000-000000000000', ${own}, 'authenticated', 'authenticated', ${`${own}@example.test`}, now(), now())`;
        });
        const clean = await restore(["--schema", "auth", "--clean", "--json"]);
        assert.equal(clean.code, 0, clean.stdout + clean.stderr);
        const report = JSON.parse(clean.stdout);
        const users = report.tables.find((x: { source: string }) => x.source === "auth.users");
        assert.deepEqual([users.rows, users.fingerprint], [40, "match"], "the restored rows match, the target's own user aside");
        assert.equal(report.checks.some((c: { check: string; level: string }) => c.check === "fingerprint" && c.level === "error"), false);
        const [back] = await dst`select email from auth.users where id = md5('lifeboat-demo-user-1')::uuid`;
        assert.notEqual(back.email, "changed@example.com");
        assert.equal((await usersOf(targetUrl())).passwordsOk, 40);
        const [kept] = await dst`select count(*)::int as n from auth.users where id = ${own}`;
        assert.equal(kept.n, 1, "--clean replaced only the backup's keys");
        await dst.begin(async (tx) => {
          await tx`set local session_replication_role = replica`;
          await tx`delete from auth.users where id = ${own}`;
        });
      } finally {
        await dst.end();
      }
    });

    await t.step("a target whose GoTrue schema is older than the backup's is refused", async () => {
      const dst = client(targetUrl());
      const [latest] = await dst`select max(version) as v from auth.schema_migrations`;
      try {
        await dst`delete from auth.schema_migrations where version = ${latest.v}`;
        const r = await restore(["--schema", "auth", "--clean"]);
        assert.equal(r.code, 1, r.stdout);
        assert.match(r.stdout, /platform_version .*GoTrue schema is \d+, older than the backup's \d+/);
        assert.match(r.stdout, /FAILED \(nothing was written\)/);
      } finally {
        await dst`insert into auth.schema_migrations (version) values (${latest.v}) on conflict do nothing`;
        await dst.end();
      }
    });

    await t.step("--include-vault: secrets re-created in the target's Vault; left out by default", async () => {
      const src = client(), dst = client(targetUrl());
      const name = `lifeboat_test_${crypto.randomUUID().slice(0, 8)}`.replace("lifeboat_", "app_");
      try {
        await src`select vault.create_secret('s3cr3t-' || ${name}, ${name}, 'restore_project test')`;
        const plain = await backup(store, key.recipient);
        const withVault = await backup(store, key.recipient, ["--include-vault"]);
        const refused = await lifeboat(["backup", "--store", store, "--unencrypted", "--include-vault"]);
        assert.equal(refused.code, 2, "never decrypted secrets into an unencrypted backup");
        const m = JSON.parse(await Deno.readTextFile(`${store}/${withVault}/manifest.json`));
        assert.ok(m.platform.vaultSecrets >= 1);
        await resetTarget();
        const r1 = await lifeboat(["restore", "--store", store, plain, "--identity", key.path, "--target", targetUrl()]);
        assert.equal(r1.code, 0, r1.stdout + r1.stderr);
        const [none] = await dst`select count(*)::int as n from vault.secrets where name = ${name}`;
        assert.equal(none.n, 0, "the Vault is left out by default");
        await resetTarget();
        const [ownBefore] = await dst`select count(*)::int as n from vault.secrets where name like 'lifeboat%'`;
        const r2 = await lifeboat(["restore", "--store", store, withVault, "--identity", key.path, "--target", targetUrl()]);
        assert.equal(r2.code, 0, r2.stdout + r2.stderr);
        const [s] = await dst`select decrypted_secret from vault.decrypted_secrets where name = ${name}`;
        assert.equal(s?.decrypted_secret, `s3cr3t-${name}`);
        // The source's own Lifeboat secrets (its project URL, keys, a drill identity) are not the
        // target's to take: the target keeps exactly the ones it had.
        const [own] = await dst`select count(*)::int as n from vault.secrets where name like 'lifeboat%'`;
        assert.ok(ownBefore.n > 0, "the target project has Lifeboat secrets of its own");
        assert.equal(own.n, ownBefore.n, "the target keeps its own Lifeboat secrets, and gets none of the source's");
      } finally {
        await src`delete from vault.secrets where name = ${name}`;
        await dst`delete from vault.secrets where name = ${name}`.catch(() => {});
        await src.end();
        await dst.end();
      }
    });
  } finally {
    await resetTarget().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

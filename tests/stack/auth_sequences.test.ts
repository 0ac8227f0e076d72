// The sequences of copied platform tables: with --include-auth-sessions a backup records
// auth.refresh_tokens_id_seq (owned by auth.refresh_tokens.id) and a restore sets it, so the
// restored project's next refresh token does not collide with a restored one. Without the
// option neither the table nor its sequence is in the backup.
import assert from "node:assert/strict";
import { applyPlatformStandIn } from "../../supabase/functions/_shared/restore/mod.ts";
import { db, dbUrl } from "../../harness/stack.ts";
import { lifeboat, readManifest, scratchDb } from "../../harness/export_env.ts";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";

Deno.test("--include-auth-sessions records auth.refresh_tokens_id_seq and a restore sets it", async () => {
  const sql = db();
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-authseq-" });
  const scratch = await scratchDb("authseq", { supabaseLike: true });
  let tokenId: number | null = null;
  try {
    const [u] = await sql`select id from auth.users order by id limit 1`;
    assert.ok(u, "the demo app has users");
    const [t] = await sql`insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at)
      values ('00000000-0000-0000-0000-000000000000', ${`lifeboat-test-${crypto.randomUUID()}`}, ${String(u.id)}, false, now(), now())
      returning id`;
    tokenId = Number(t.id);
    const [seq] = await sql`select last_value::text as v from auth.refresh_tokens_id_seq`;

    const backup = (store: string, extra: string[]) =>
      lifeboat(["backup", "--db-url", dbUrl(), "--store", store, "--unencrypted", "--no-files", "--json", ...extra]);
    const withSessions = await backup(`${dir}/with`, ["--include-auth-sessions"]);
    assert.equal(withSessions.code, 0, withSessions.stdout + withSessions.stderr);
    const id = JSON.parse(withSessions.stdout.trim().split("\n").at(-1)!).id as string;
    const m = await readManifest(openStore(`${dir}/with`), id);
    const recorded = m.sequences.find((s) => s.schema === "auth" && s.name === "refresh_tokens_id_seq");
    assert.ok(recorded, `the manifest records auth.refresh_tokens_id_seq: ${JSON.stringify(m.sequences.map((s) => `${s.schema}.${s.name}`))}`);
    assert.equal(recorded.lastValue, seq.v);
    assert.match(m.filesNotBackedUp ?? "", /--no-files/, "the manifest says why it has no files");

    const without = await backup(`${dir}/without`, []);
    assert.equal(without.code, 0, without.stdout + without.stderr);
    const id2 = JSON.parse(without.stdout.trim().split("\n").at(-1)!).id as string;
    const m2 = await readManifest(openStore(`${dir}/without`), id2);
    assert.equal(m2.sequences.some((s) => s.schema === "auth"), false, "no auth sequence without the option");

    // Restore into a database with the platform's schemas (as a new project has them).
    const target = db(scratch.url);
    try {
      assert.ok(await applyPlatformStandIn(sql, target));
    } finally {
      await target.end();
    }
    const r = await lifeboat(["restore", "--store", `${dir}/with`, id, "--target", scratch.url, "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const check = db(scratch.url);
    try {
      const [after] = await check`select last_value::text as v from auth.refresh_tokens_id_seq`;
      assert.equal(after.v, seq.v, "the restored sequence continues after the restored tokens");
      const [row] = await check`select count(*)::int as n from auth.refresh_tokens where id = ${tokenId}`;
      assert.equal(row.n, 1);
    } finally {
      await check.end();
    }
  } finally {
    if (tokenId !== null) await sql`delete from auth.refresh_tokens where id = ${tokenId}`;
    await sql.end();
    await scratch.drop();
    await Deno.remove(dir, { recursive: true });
  }
});

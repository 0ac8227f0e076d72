// Schema DDL round trip against real Postgres: load tests/fixtures/hard_schema.sql into the
// stack's database (A), generate roles.sql, pre-data and post-data with lifeboat.ddl_script(),
// restore them with psql into a new empty database (B) with the data copied in between, and
// require `pg_dump --schema-only` of both to match, with and without privileges, and every
// table's contents and every sequence value to match too.
import assert from "node:assert/strict";
import postgres from "postgres";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const ROOT = new URL("../..", import.meta.url).pathname;
const FIXTURE = `${ROOT}tests/fixtures/hard_schema.sql`;
const SCHEMAS = ["hard", "Other Schema"];
const SCHEMAS_LITERAL = '{hard,"Other Schema"}';

function sourceUrl(): string {
  const url = Deno.env.get("SUPABASE_DB_URL");
  if (!url) {
    throw new Error(
      "SUPABASE_DB_URL is not set: run this test through scripts/test.sh, or source $LIFEBOAT_STACK_DIR/stack.env first",
    );
  }
  return url;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.toString();
}

/** Runs a PostgreSQL client tool; throws with its stderr when it fails. */
async function tool(name: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(`${PG_BIN}/${name}`, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${name} ${args.join(" ")} failed:\n${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

/** Applies a script the way a restorer would: psql, stopping at the first error. */
function psqlFile(url: string, file: string): Promise<string> {
  return tool("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", file, url]);
}

/** Streams one table from A to B with COPY text format, through two psql processes. */
async function copyTable(from: string, to: string, table: string): Promise<void> {
  const src = new Deno.Command(`${PG_BIN}/psql`, {
    args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", `copy ${table} to stdout`, from],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dst = new Deno.Command(`${PG_BIN}/psql`, {
    args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", `copy ${table} from stdin`, to],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  await src.stdout.pipeTo(dst.stdin);
  const [a, b] = await Promise.all([src.output(), dst.output()]);
  const err = new TextDecoder().decode(a.stderr) + new TextDecoder().decode(b.stderr);
  if (!a.success || !b.success) throw new Error(`copying ${table} failed:\n${err}`);
}

/**
 * pg_dump output without what legitimately differs between two databases: comments, SET
 * lines, blank lines, \restrict keys. Runs of GRANT/REVOKE lines are sorted, because an
 * ACL's entries keep the order in which they were granted, which a restore need not repeat.
 */
export function normalizeDump(dump: string): string[] {
  const lines = dump.split("\n").filter((l) =>
    l.trim() !== "" && !l.startsWith("--") && !l.startsWith("SET ") &&
    !l.startsWith("SELECT pg_catalog.set_config") && !l.startsWith("\\restrict") && !l.startsWith("\\unrestrict")
  );
  const out: string[] = [];
  let run: string[] = [];
  const flush = () => {
    out.push(...run.sort());
    run = [];
  };
  for (const l of lines) {
    if (/^(GRANT|REVOKE) /.test(l)) run.push(l);
    else {
      flush();
      out.push(l);
    }
  }
  flush();
  return out;
}

function dumpSchema(url: string, privileges: boolean): Promise<string> {
  const args = ["--schema-only", "--no-owner", ...SCHEMAS.flatMap((s) => ["-n", `"${s}"`])];
  if (!privileges) args.push("--no-privileges");
  return tool("pg_dump", [...args, url]);
}

const CHECKSUMS = `
  select format('%I.%I', n.nspname, c.relname) as name, c.relkind::text as kind
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname = any ($1::text[]) and c.relkind in ('r', 'm')
  order by 1`;

/** md5 of every table's rows (as text, sorted) and every sequence's state. */
async function contents(sql: postgres.Sql): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const tables = await sql.unsafe<{ name: string }[]>(CHECKSUMS, [SCHEMAS_LITERAL]);
  for (const { name } of tables) {
    const [row] = await sql.unsafe<{ sum: string; n: string }[]>(
      `select count(*)::text as n, coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '') as sum from only ${name} t`,
    );
    result[name] = `${row.n} rows ${row.sum}`;
  }
  const seqs = await sql.unsafe<{ name: string; state: string }[]>(
    `select format('%I.%I', schemaname, sequencename) as name, coalesce(last_value::text, 'unused') as state
     from pg_catalog.pg_sequences where schemaname = any ($1::text[])`,
    [SCHEMAS_LITERAL],
  );
  for (const s of seqs) result[`sequence ${s.name}`] = s.state;
  return result;
}

Deno.test("ddl round trip: the hard schema restored from roles + pre-data + data + post-data matches pg_dump and data", async () => {
  const a = sourceUrl();
  const dbName = `lifeboat_ddl_rt_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const b = withDatabase(a, dbName);
  const dir = await Deno.makeTempDir({ prefix: "lifeboat-ddl-" });
  const sqlA = postgres(a, { max: 1, onnotice: () => {} });
  let sqlB: postgres.Sql | undefined;
  let created = false;
  try {
    await psqlFile(a, FIXTURE);

    for (const section of ["roles", "pre-data", "post-data"]) {
      const [row] = await sqlA.unsafe<{ script: string }[]>(
        "select lifeboat.ddl_script($1, $2::text[]) as script",
        [section, SCHEMAS_LITERAL],
      );
      await Deno.writeTextFile(`${dir}/${section}.sql`, row.script);
    }
    const pre = await Deno.readTextFile(`${dir}/pre-data.sql`);
    const post = await Deno.readTextFile(`${dir}/post-data.sql`);
    // Sanity: the sections split the way the format says.
    assert.match(pre, /create table hard\.everything/);
    assert.doesNotMatch(pre, /FOREIGN KEY|CREATE INDEX|create policy|create or replace view/);
    assert.match(post, /FOREIGN KEY/);
    assert.match(post, /create materialized view hard\.mood_counts[\s\S]*with no data/);
    assert.doesNotMatch(pre + post, /\blifeboat\./);

    await sqlA.unsafe(`create database "${dbName}"`);
    created = true;
    // roles.sql twice: it must be idempotent (the roles already exist in this cluster).
    await psqlFile(b, `${dir}/roles.sql`);
    await psqlFile(b, `${dir}/roles.sql`);
    await psqlFile(b, `${dir}/pre-data.sql`);

    // Data between the sections, as the export engine's parts would be: every plain table
    // and leaf partition (COPY TO of a table never includes its children), then sequences.
    const tables = await sqlA.unsafe<{ name: string }[]>(
      `select format('%I.%I', n.nspname, c.relname) as name from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where n.nspname = any ($1::text[]) and c.relkind = 'r' order by 1`,
      [SCHEMAS_LITERAL],
    );
    assert.ok(tables.length >= 15, `expected the fixture's tables, found ${tables.length}`);
    for (const { name } of tables) await copyTable(a, b, name);
    sqlB = postgres(b, { max: 1, onnotice: () => {} });
    const seqs = await sqlA.unsafe<{ name: string; value: string; called: boolean }[]>(
      `select format('%I.%I', schemaname, sequencename) as name, last_value::text as value, true as called
       from pg_catalog.pg_sequences where schemaname = any ($1::text[]) and last_value is not null`,
      [SCHEMAS_LITERAL],
    );
    for (const s of seqs) await sqlB.unsafe("select pg_catalog.setval($1::regclass, $2::bigint, true)", [s.name, s.value]);

    await psqlFile(b, `${dir}/post-data.sql`);
    await sqlB.unsafe("refresh materialized view hard.mood_counts");

    const [dumpA, dumpB] = await Promise.all([dumpSchema(a, false), dumpSchema(b, false)]);
    assert.ok(normalizeDump(dumpA).length > 200, "pg_dump of the source looks empty");
    assert.deepEqual(normalizeDump(dumpB), normalizeDump(dumpA));

    const [privA, privB] = await Promise.all([dumpSchema(a, true), dumpSchema(b, true)]);
    assert.match(privA, /GRANT SELECT\(id\) ON TABLE hard\.everything TO anon/);
    assert.deepEqual(normalizeDump(privB), normalizeDump(privA));

    const [dataA, dataB] = await Promise.all([contents(sqlA), contents(sqlB)]);
    assert.equal(dataA["hard.blobs"].startsWith("2 rows"), true);
    // 1035 set by the fixture, then five rows took a ticket each (increment 7).
    assert.equal(dataA["sequence hard.ticket_seq"], "1070");
    assert.deepEqual(dataB, dataA);
  } finally {
    await sqlB?.end();
    if (created) await sqlA.unsafe(`drop database if exists "${dbName}" with (force)`);
    await sqlA.unsafe(`drop publication if exists hard_pub`);
    await sqlA.unsafe(`drop schema if exists "Other Schema" cascade`);
    await sqlA.unsafe(`drop schema if exists hard cascade`);
    await sqlA.end();
    await Deno.remove(dir, { recursive: true });
  }
});

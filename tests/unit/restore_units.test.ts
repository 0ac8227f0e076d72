// Unit tests of the restore and verify building blocks that need no database: the SQL
// splitter, statement classification, schema rewriting, the COPY part framing and the age
// header inspection. (The end-to-end behaviour is in the other restore_/verify_/drill_ tests.)
import assert from "node:assert/strict";
import { classify } from "../../supabase/functions/_shared/restore/mod.ts";
import { parseCopyHeader, splitPart } from "../../supabase/functions/_shared/restore/mod.ts";
import { parseUserTable, rewriteSchema } from "../../supabase/functions/_shared/restore/mod.ts";
import { splitSql } from "../../supabase/functions/_shared/restore/mod.ts";
import { inspectAgeHeader } from "../../supabase/functions/_shared/verify/mod.ts";
import { resolveBackupRef } from "../../scripts/cli/backup_ref.ts";
import { encryptStream, generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";

Deno.test("splitSql keeps quotes, dollar quotes, comments and BEGIN ATOMIC bodies whole", () => {
  const script = `set x = 1; -- a; comment
create function f() returns int language sql as $fn$ select 1; select 2 $fn$;
/* block; /* nested; */ */ insert into t values ('a;b', E'c\\';d', "x;y");
create function g() returns int language sql begin atomic select 1; select 2; end;
select 3`;
  const st = splitSql(script).map((s) => s.text);
  assert.equal(st.length, 5);
  assert.match(st[1], /\$fn\$ select 1; select 2 \$fn\$$/);
  assert.match(st[2], /^insert into t values \('a;b', E'c\\';d', "x;y"\)$/);
  assert.match(st[3], /begin atomic select 1; select 2; end$/);
  assert.equal(st[4], "select 3");
});

Deno.test("classify finds the table a statement acts on, FK parents and partitions", () => {
  const c = (text: string) => classify({ text, index: 0 });
  assert.deepEqual(c(`create table public."Promo Codes" (a int)`).target, { schema: "public", name: "Promo Codes" });
  const fk = c(`alter table only hard.books add constraint b_fk foreign key (author_id) references hard.authors(id)`);
  assert.equal(fk.kind, "fk");
  assert.deepEqual(fk.related, { schema: "hard", name: "authors" });
  const part = c(`create table hard.events_2024 partition of hard.events for values from ('2024-01-01') to ('2025-01-01')`);
  assert.deepEqual(part.related, { schema: "hard", name: "events" });
  assert.equal(c(`CREATE UNIQUE INDEX x ON ONLY hard.events USING btree (id)`).target?.name, "events");
  assert.equal(c(`CREATE TRIGGER t BEFORE UPDATE OF a ON hard.books FOR EACH ROW EXECUTE FUNCTION hard.touch()`).target?.name, "books");
  assert.equal(c(`SELECT pg_catalog.setval('"public"."orders_id_seq"', 500, true)`).target?.name, "orders_id_seq");
  assert.equal(c(`grant select on table hard.books to hard_reader`).target?.name, "books");
  assert.equal(c(`grant usage on schema hard to anon`).target, undefined);
  assert.equal(c(`alter index hard.a attach partition hard.b`).kind, "index_attach");
});

Deno.test("rewriteSchema moves exactly the chosen names, quoted or not", () => {
  const sql = `create table hard.books (id int default nextval('hard.books_id_seq'::regclass)); select * from hard.books_archive, "hard"."books";`;
  const out = rewriteSchema(sql, [{ schema: "hard", name: "books" }, { schema: "hard", name: "books_id_seq" }], "recovered");
  assert.equal(out, `create table recovered.books (id int default nextval('recovered.books_id_seq'::regclass)); select * from hard.books_archive, recovered.books;`);
  assert.deepEqual(parseUserTable('"my.schema".T'), { schema: "my.schema", name: "T" });
  assert.equal(parseUserTable("nodot"), null);
});

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

Deno.test("splitPart strips the COPY header and the terminator across chunk borders", async () => {
  const p = await splitPart(streamOf('COPY "public"."t" ("a", "b c") FROM st', "din;\n1\tx\n2\t\\\\.\n", "\\", ".", "\n"));
  assert.deepEqual(p.header.table, { schema: "public", name: "t" });
  assert.equal(p.header.columns, '"a", "b c"');
  assert.equal(await new Response(p.rows).text(), "1\tx\n2\t\\\\.\n");
  assert.equal(p.counted(), 2);
  const empty = await splitPart(streamOf('COPY "s"."t" ("a") FROM stdin;\n\\.\n'));
  assert.equal(await new Response(empty.rows).text(), "");
  const cut = await splitPart(streamOf('COPY "s"."t" ("a") FROM stdin;\n1\n2\n'));
  await assert.rejects(new Response(cut.rows).text(), /truncated/);
  assert.throws(() => parseCopyHeader("COPY s.t (a) FROM stdin; drop table x;"), /does not start with/);
});

Deno.test("inspectAgeHeader counts recipient stanzas without the key", async () => {
  const a = await generateIdentity(), b = await generateIdentity();
  const enc = await encryptStream([a.recipient, b.recipient]);
  const bytes = new Uint8Array(await new Response(streamOf("hello").pipeThrough(enc)).arrayBuffer());
  const h = inspectAgeHeader(bytes);
  assert.ok(typeof h !== "string");
  assert.equal(h.x25519, 2);
  assert.match(String(inspectAgeHeader(new Uint8Array([0x1f, 0x8b, 8]))), /plain gzip/);
  assert.match(String(inspectAgeHeader(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x24]))), /plain zstd/);
  assert.match(String(inspectAgeHeader(bytes.subarray(0, 40))), /truncated/);
});

Deno.test("backup references: store + id, location/id, --latest", () => {
  const id = "20261122T031100Z-a1b2c3d4";
  assert.deepEqual(resolveBackupRef(`s3://b/p/${id}`, undefined, false), { store: "s3://b/p", id });
  assert.deepEqual(resolveBackupRef(id, "/backups", false), { store: "/backups", id });
  assert.deepEqual(resolveBackupRef(undefined, undefined, true, "/env"), { store: "/env", id: null });
  assert.throws(() => resolveBackupRef(undefined, "/b", false), /pass its id, or --latest/);
  assert.throws(() => resolveBackupRef("x", "/b", false), /not a backup id/);
});

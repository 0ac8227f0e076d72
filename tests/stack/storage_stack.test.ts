// The stack runs Supabase's real Storage server behind the gateway, as a Supabase project does:
// storage-js uploads and downloads through /storage/v1 with the project's keys, Storage writes
// storage.objects, policies on storage.objects apply to a user's JWT, the S3 protocol at
// /storage/v1/s3 round-trips bytes, and bad keys get a JSON 4xx that leaks nothing.
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { AwsClient } from "aws4fetch";
import { StorageClient } from "@supabase/storage-js";
import { db, secretKey, stackEnv } from "../../harness/stack.ts";

const storageUrl = () => stackEnv("LIFEBOAT_STORAGE_URL");
const publishableKey = () => JSON.parse(stackEnv("SUPABASE_PUBLISHABLE_KEYS")).default as string;

/** A client as supabase-js builds it for a server: the secret key in apikey and as Bearer. */
function serviceStorage(): StorageClient {
  return new StorageClient(storageUrl(), { apikey: secretKey(), Authorization: `Bearer ${secretKey()}` });
}

/** A client as a signed-in browser has it: the publishable key plus the user's access token. */
function userStorage(jwt: string): StorageClient {
  return new StorageClient(storageUrl(), { apikey: publishableKey(), Authorization: `Bearer ${jwt}` });
}

async function userJwt(sub: string, secret = stackEnv("LIFEBOAT_JWT_SECRET")): Promise<string> {
  return await new SignJWT({ role: "authenticated", aud: "authenticated", email: `${sub.slice(0, 8)}@example.test` })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(secret));
}

async function sha256(bytes: Uint8Array<ArrayBuffer> | ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
}

/** Creates a bucket for one test and empties and deletes it afterwards. */
async function withBucket(options: { public: boolean }, fn: (bucket: string) => Promise<void>): Promise<void> {
  const storage = serviceStorage();
  const bucket = `lifeboat-test-${crypto.randomUUID().slice(0, 8)}`;
  const created = await storage.createBucket(bucket, options);
  assert.equal(created.error, null, `createBucket: ${created.error?.message}`);
  try {
    await fn(bucket);
  } finally {
    await storage.emptyBucket(bucket);
    const deleted = await storage.deleteBucket(bucket);
    assert.equal(deleted.error, null, `deleteBucket: ${deleted.error?.message}`);
  }
}

Deno.test("storage: a file uploaded with storage-js downloads with the same sha256 and has its storage.objects row", async () => {
  const sql = db();
  try {
    await withBucket({ public: false }, async (bucket) => {
      const storage = serviceStorage();
      const bytes = randomBytes(1_500_000);
      const path = "reports/2026/q4 report.bin";
      const up = await storage.from(bucket).upload(path, bytes, { contentType: "application/octet-stream" });
      assert.equal(up.error, null, `upload: ${up.error?.message}`);

      const down = await storage.from(bucket).download(path);
      assert.equal(down.error, null, `download: ${down.error?.message}`);
      assert.equal(await sha256(await down.data!.arrayBuffer()), await sha256(bytes));

      const rows = await sql<{ size: string; mimetype: string; owner_id: string | null }[]>`
        select metadata->>'size' as size, metadata->>'mimetype' as mimetype, owner_id
        from storage.objects where bucket_id = ${bucket} and name = ${path}`;
      assert.equal(rows.length, 1, "Storage wrote the object's row");
      assert.equal(Number(rows[0].size), bytes.length);
      assert.equal(rows[0].mimetype, "application/octet-stream");
      assert.equal(rows[0].owner_id, null, "the service role owns no objects");

      // The apikey header alone is enough too (the gateway turns it into the service JWT).
      const viaApikey = new StorageClient(storageUrl(), { apikey: secretKey() });
      const listed = await viaApikey.from(bucket).list("reports/2026");
      assert.equal(listed.error, null, `list: ${listed.error?.message}`);
      assert.deepEqual(listed.data!.map((o) => o.name), ["q4 report.bin"]);
    });
  } finally {
    await sql.end();
  }
});

Deno.test("storage: a public bucket's files are served without a key, a private bucket's are not", async () => {
  const body = new TextEncoder().encode("hello from a bucket");
  for (const isPublic of [true, false]) {
    await withBucket({ public: isPublic }, async (bucket) => {
      const up = await serviceStorage().from(bucket).upload("a/b.txt", body, { contentType: "text/plain" });
      assert.equal(up.error, null, `upload: ${up.error?.message}`);
      const url = serviceStorage().from(bucket).getPublicUrl("a/b.txt").data.publicUrl;
      assert.ok(url.startsWith(`${storageUrl()}/object/public/${bucket}/`), url);
      const r = await fetch(url);
      if (isPublic) {
        assert.equal(r.status, 200);
        assert.equal(await r.text(), "hello from a bucket");
      } else {
        assert.ok(r.status >= 400 && r.status < 500, `private bucket: ${r.status}`);
        await r.body?.cancel();
      }
    });
  }
});

Deno.test("storage: a user's JWT is subject to the policies on storage.objects (own folder only)", async () => {
  const sql = db();
  const tag = crypto.randomUUID().slice(0, 8);
  const me = crypto.randomUUID();
  const other = crypto.randomUUID();
  try {
    await withBucket({ public: false }, async (bucket) => {
      // As the project owner (postgres, no superuser) would in the dashboard.
      const own = `(storage.foldername(name))[1] = (select auth.uid()::text)`;
      await sql.unsafe(`create policy "lifeboat test ${tag} insert" on storage.objects for insert to authenticated
        with check (bucket_id = '${bucket}' and ${own})`);
      await sql.unsafe(`create policy "lifeboat test ${tag} select" on storage.objects for select to authenticated
        using (bucket_id = '${bucket}' and ${own})`);
      await serviceStorage().from(bucket).upload(`${other}/theirs.txt`, new TextEncoder().encode("not yours"), {
        contentType: "text/plain",
      });

      const user = userStorage(await userJwt(me));
      const mine = await user.from(bucket).upload(`${me}/note.txt`, new TextEncoder().encode("mine"), { contentType: "text/plain" });
      assert.equal(mine.error, null, `own folder: ${mine.error?.message}`);
      const [row] = await sql<{ owner_id: string }[]>`
        select owner_id from storage.objects where bucket_id = ${bucket} and name = ${`${me}/note.txt`}`;
      assert.equal(row.owner_id, me, "Storage records the JWT's sub as the owner");
      const back = await user.from(bucket).download(`${me}/note.txt`);
      assert.equal(await back.data?.text(), "mine");

      const theirs = await user.from(bucket).upload(`${other}/mine-now.txt`, new TextEncoder().encode("x"), { contentType: "text/plain" });
      assert.ok(theirs.error, "another user's folder is refused");
      assert.match(theirs.error.message, /row-level security/);
      const peek = await user.from(bucket).download(`${other}/theirs.txt`);
      assert.ok(peek.error, "another user's file cannot be read");
      const listed = await user.from(bucket).list(other);
      assert.deepEqual(listed.data, [], "another user's folder lists empty");
      const [{ n }] = await sql<{ n: number }[]>`
        select count(*)::int as n from storage.objects where bucket_id = ${bucket} and name like ${`${other}/%`}`;
      assert.equal(n, 1, "nothing was written to the other folder");
    });
  } finally {
    await sql.unsafe(`drop policy if exists "lifeboat test ${tag} insert" on storage.objects`);
    await sql.unsafe(`drop policy if exists "lifeboat test ${tag} select" on storage.objects`);
    await sql.end();
  }
});

Deno.test("storage: the S3 protocol endpoint round-trips bytes and lists them (SigV4)", async () => {
  const endpoint = stackEnv("LIFEBOAT_STORAGE_S3_URL");
  const s3 = new AwsClient({
    accessKeyId: stackEnv("LIFEBOAT_STORAGE_S3_ACCESS_KEY_ID"),
    secretAccessKey: stackEnv("LIFEBOAT_STORAGE_S3_SECRET_ACCESS_KEY"),
    region: stackEnv("LIFEBOAT_STORAGE_S3_REGION"),
    service: "s3",
  });
  await withBucket({ public: false }, async (bucket) => {
    const bytes = randomBytes(700_000);
    const key = "exports/dump part 1.bin";
    const objectUrl = `${endpoint}/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
    let r = await s3.fetch(objectUrl, { method: "PUT", body: bytes, headers: { "content-type": "application/octet-stream" } });
    assert.equal(r.status, 200, await r.text());

    r = await s3.fetch(objectUrl);
    assert.equal(r.status, 200);
    assert.equal(await sha256(await r.arrayBuffer()), await sha256(bytes));

    r = await s3.fetch(`${endpoint}/${bucket}?list-type=2&prefix=${encodeURIComponent("exports/")}`);
    assert.equal(r.status, 200);
    const xml = await r.text();
    assert.match(xml, /<KeyCount>1<\/KeyCount>/);
    assert.match(xml, new RegExp(`<Key>${key}</Key>`));
    assert.match(xml, new RegExp(`<Size>${bytes.length}</Size>`));

    // A wrong secret does not pass the signature check.
    const forger = new AwsClient({
      accessKeyId: stackEnv("LIFEBOAT_STORAGE_S3_ACCESS_KEY_ID"),
      secretAccessKey: "0".repeat(64),
      region: stackEnv("LIFEBOAT_STORAGE_S3_REGION"),
      service: "s3",
    });
    r = await forger.fetch(objectUrl);
    assert.equal(r.status, 403);
    assert.match(await r.text(), /SignatureDoesNotMatch|AccessDenied/);

    r = await s3.fetch(objectUrl, { method: "DELETE" });
    assert.equal(r.status, 204);
    await r.body?.cancel();
  });
});

Deno.test("storage: bad keys get a JSON 4xx through the gateway, without a stack trace or host name", async () => {
  const forged = await userJwt(crypto.randomUUID(), "not-the-project-secret-at-all-0000000000");
  const cases = new Map<string, Record<string, string>>([
    ["unknown secret key", { apikey: `sb_secret_${"x".repeat(32)}` }],
    ["unknown secret key as Bearer", { authorization: `Bearer sb_secret_${"x".repeat(32)}` }],
    ["garbage Bearer JWT", { apikey: publishableKey(), authorization: "Bearer not.a.jwt" }],
    ["JWT signed with another secret", { apikey: publishableKey(), authorization: `Bearer ${forged}` }],
    ["no key at all", {}],
  ]);
  const hostname = Deno.hostname();
  for (const [what, headers] of cases) {
    const r = await fetch(`${storageUrl()}/bucket`, { headers });
    const text = await r.text();
    assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}`);
    assert.match(r.headers.get("content-type") ?? "", /application\/json/, what);
    const body = JSON.parse(text);
    assert.ok(body.message || body.error, `${what}: the body says what is wrong: ${text}`);
    assert.doesNotMatch(text, /\bat .+:\d+:\d+|node_modules|\/dist\/|stack/i, `${what}: no stack trace`);
    assert.ok(!text.includes(hostname), `${what}: no host name`);
  }
});

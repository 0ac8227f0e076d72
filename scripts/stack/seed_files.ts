/**
 * Puts the demo app's files in place through the real Storage API, as an app's server would:
 * `@supabase/storage-js` behind the stack's gateway with the secret key. Ensures the public
 * `avatars` and the private `uploads` buckets with their settings, then uploads each file with
 * upsert, so Storage writes the `storage.objects` rows itself. Idempotent.
 *
 * The users are those of `auth.users` (ordered by email); with none yet, the files go under
 * `demo/`. Reads LIFEBOAT_STORAGE_URL, SUPABASE_SECRET_KEYS and SUPABASE_DB_URL (stack.env).
 * @module
 */
import { StorageClient } from "@supabase/storage-js";
import postgres from "postgres";
import { DEMO_BUCKETS, demoFiles } from "./demo_files.ts";

function env(name: string): string {
  const v = Deno.env.get(name);
  if (!v) throw new Error(`${name} is not set: run this through scripts/stack.sh start, or source .lifeboat/stack.env`);
  return v;
}

async function userFolders(dbUrl: string): Promise<string[]> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ id: string }[]>`select id::text as id from auth.users order by email, id`;
    return rows.length > 0 ? rows.map((r) => r.id) : ["demo"];
  } finally {
    await sql.end();
  }
}

async function ensureBuckets(storage: StorageClient): Promise<void> {
  for (const [id, options] of DEMO_BUCKETS) {
    const { data } = await storage.getBucket(id);
    const { error } = data ? await storage.updateBucket(id, options) : await storage.createBucket(id, options);
    if (error) throw new Error(`bucket ${id}: ${error.message}`);
  }
}

async function main(): Promise<void> {
  const secretKey = JSON.parse(env("SUPABASE_SECRET_KEYS")).default as string;
  const storage = new StorageClient(env("LIFEBOAT_STORAGE_URL"), { apikey: secretKey });
  await ensureBuckets(storage);
  const files = demoFiles(await userFolders(env("SUPABASE_DB_URL")));
  let bytes = 0;
  for (const f of files) {
    const { error } = await storage.from(f.bucket).upload(f.path, f.bytes, { contentType: f.contentType, upsert: true });
    if (error) throw new Error(`upload ${f.bucket}/${f.path}: ${error.message}`);
    bytes += f.bytes.length;
  }
  console.log(`seed_files: ${files.length} files (${bytes} bytes) in ${[...DEMO_BUCKETS.keys()].join(", ")}`);
}

await main();

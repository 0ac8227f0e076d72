/**
 * The copy benchmark's steps (bench/copy/run.sh runs each under /usr/bin/time -v):
 *
 * - `setup MIB SRC`: writes a synthetic backup of MIB MiB to the store SRC (16 MiB parts of
 *   incompressible bytes, as encrypted parts are, and a manifest naming their sha256), and
 *   prints its id;
 * - `plain SRC DST ID`: the anchor, a plain streamed GET and PUT of the same objects with the
 *   same S3 driver, nothing checked, 1 object at a time as the copy does;
 * - `locations SRC DST`: makes SRC the primary and DST the secondary in lifeboat.locations
 *   (the copy itself is `lifeboat copy`, run by run.sh);
 * - `clean SPEC…`: deletes the bench's objects and locations.
 * @module
 */
import postgres from "postgres";
import { AwsClient } from "aws4fetch";
import { openStore, type Store } from "../../supabase/functions/_shared/store/mod.ts";
import { FORMAT_VERSION, LIFEBOAT_VERSION, MANIFEST_KEY, newBackupId } from "../../supabase/functions/_shared/format/mod.ts";
import { emptyStore } from "../../harness/empty_store.ts";
import { createHash } from "node:crypto";

const PART = 16 * 1024 * 1024;

function store(spec: string): Store {
  return openStore(spec);
}

/** Fills `buf` with xorshift bytes (incompressible, fast to make). */
function fill(buf: Uint8Array, seed: number): void {
  const w = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x;
  }
}

async function ensureBucket(spec: string): Promise<void> {
  const bucket = /^s3:\/\/([^/]+)/.exec(spec)?.[1];
  if (!bucket) return;
  const aws = new AwsClient({
    accessKeyId: Deno.env.get("LIFEBOAT_S3_ACCESS_KEY_ID")!,
    secretAccessKey: Deno.env.get("LIFEBOAT_S3_SECRET_ACCESS_KEY")!,
    region: Deno.env.get("LIFEBOAT_S3_REGION") ?? "us-east-1",
    service: "s3",
  });
  const res = await aws.fetch(`${Deno.env.get("LIFEBOAT_S3_ENDPOINT")}/${bucket}`, { method: "PUT" });
  await res.body?.cancel();
  if (!res.ok && res.status !== 409) throw new Error(`cannot create bucket ${bucket}: HTTP ${res.status}`);
}

async function setup(mib: number, spec: string): Promise<void> {
  await ensureBucket(spec);
  const s = store(spec);
  const id = newBackupId(new Date(Date.now() - 60_000));
  const buf = new Uint8Array(PART);
  const objects = [];
  let left = mib * 1024 * 1024;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(PART, left);
    fill(buf, i + 1);
    const body = buf.subarray(0, n);
    const sha256 = createHash("sha256").update(body).digest("hex");
    const key = `data/bench/part-${String(i).padStart(5, "0")}.copy.zst.age`;
    await s.put(`${id}/${key}`, body, { sha256 });
    objects.push({ key, kind: "data", size: n, sha256, part: i, table: { schema: "bench", name: "t" } });
    left -= n;
  }
  const now = new Date().toISOString();
  const manifest = {
    format: "lifeboat-backup", formatVersion: FORMAT_VERSION, id, label: "copy bench", kind: "full",
    lifeboatVersion: LIFEBOAT_VERSION, server: { version: "15", versionNum: 150000 }, database: "bench", extensions: [],
    startedAt: new Date(Date.now() - 60_000).toISOString(), finishedAt: now,
    snapshot: { consistent: true, snapshotIds: [], lsnStart: "0/0", lsnEnd: "0/0" },
    encryption: { scheme: "none", recipients: [], unencryptedByRequest: true }, compression: "zstd",
    excludedSchemas: [], roles: { passwordsNotExported: [] }, tables: [], sequences: [], objects,
  };
  await s.put(`${id}/${MANIFEST_KEY}`, new TextEncoder().encode(JSON.stringify(manifest)));
  console.log(id);
}

async function plain(src: string, dst: string, id: string): Promise<void> {
  await ensureBucket(dst);
  const a = store(src), b = store(dst);
  const keys: string[] = [];
  for await (const o of a.list(`${id}/`)) keys.push(o.key);
  let bytes = 0;
  for (const k of keys) bytes += (await b.put(k, await a.get(k))).size;
  console.log(JSON.stringify({ objects: keys.length, bytes }));
}

async function locations(src: string, dst: string): Promise<void> {
  await ensureBucket(dst);
  const sql = postgres(Deno.env.get("SUPABASE_DB_URL")!, { max: 1, onnotice: () => {} });
  await sql`delete from lifeboat.locations where name in ('bench-src', 'bench-dst')`;
  await sql`insert into lifeboat.locations (name, url, role) values ('bench-src', ${src}, 'primary'), ('bench-dst', ${dst}, 'secondary')`;
  await sql.end();
}

async function clean(specs: string[]): Promise<void> {
  const sql = postgres(Deno.env.get("SUPABASE_DB_URL")!, { max: 1, onnotice: () => {} });
  await sql`delete from lifeboat.locations where name in ('bench-src', 'bench-dst')`;
  await sql.end();
  for (const s of specs) await emptyStore(store(s));
}

const [cmd, ...args] = Deno.args;
if (cmd === "setup") await setup(Number(args[0]), args[1]);
else if (cmd === "plain") await plain(args[0], args[1], args[2]);
else if (cmd === "locations") await locations(args[0], args[1]);
else if (cmd === "clean") await clean(args);
else {
  console.error("usage: tool.ts setup MIB SRC | plain SRC DST ID | locations SRC DST | clean SPEC…");
  Deno.exit(2);
}

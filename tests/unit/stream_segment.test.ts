// The stream segment format: a segment written with SegmentWriter reads back record for record
// through the reader, its manifest is authenticated, and altered bytes or gaps are refused.
import assert from "node:assert/strict";
import { openStore } from "../../supabase/functions/_shared/store/mod.ts";
import { generateIdentity } from "../../supabase/functions/_shared/crypto/mod.ts";
import {
  listSegments,
  listStreamSlots,
  readSegmentLines,
  SegmentError,
  segmentKey,
  segmentManifestKey,
  SegmentWriter,
} from "../../supabase/functions/_shared/stream/mod.ts";
import { testSigning } from "../support/signing.ts";

const trust = { trustedKeys: [testSigning.publicKey], allowUnsigned: false };

function txn(xid: number, base: number, rows: number, at: string): string[] {
  const lsn = (n: number) => `0/${(base + n).toString(16).toUpperCase()}`;
  const lines = [JSON.stringify({ action: "B", xid, lsn: lsn(0), timestamp: at })];
  for (let i = 1; i <= rows; i++) {
    lines.push(JSON.stringify({ action: "I", xid, lsn: lsn(i), schema: "public", table: "t", columns: [{ name: "id", type: "integer", value: i }] }));
  }
  lines.push(JSON.stringify({ action: "C", xid, lsn: lsn(rows + 1), timestamp: at }));
  return lines;
}

async function withStore(fn: (store: ReturnType<typeof openStore>, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "lifeboat-stream-seg-" });
  try {
    await fn(openStore(root), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("stream segment: records round-trip encrypted and signed, with the manifest's counts and partial transaction", async () => {
  await withStore(async (store) => {
    const { identity, recipient } = await generateIdentity();
    const seal = { recipients: [recipient], compression: "zstd" as const };
    const first = [...txn(700, 0x100, 3, "2026-12-03 10:00:00.1+00"), ...txn(701, 0x200, 2, "2026-12-03 10:00:01.5+00")];
    const open = txn(702, 0x300, 4, "2026-12-03 10:00:02+00");
    const w = await SegmentWriter.open(store, "lifeboat_test", 0, seal);
    for (const l of [...first, ...open.slice(0, 3)]) await w.add(l, JSON.parse(l));
    const m0 = await w.finish([{ schema: "public", name: "t_id_seq", lastValue: "9", isCalled: true }], testSigning.key);
    assert.equal(m0.transactions, 2);
    assert.equal(m0.changes, 7);
    assert.equal(m0.startLsn, "0/100");
    assert.equal(m0.endLsn, "0/302");
    assert.equal(m0.firstCommitAt, "2026-12-03 10:00:00.1+00");
    assert.equal(m0.lastCommitAt, "2026-12-03 10:00:01.5+00");
    assert.deepEqual(m0.partial, { xid: 702, fromLsn: "0/300", toLsn: "0/302" });
    assert.equal(w.lastCommitLsn, "0/203");

    const w1 = await SegmentWriter.open(store, "lifeboat_test", 1, seal);
    for (const l of open.slice(3)) await w1.add(l, JSON.parse(l));
    const m1 = await w1.finish([], testSigning.key);
    assert.equal(m1.partial, null);
    assert.equal(m1.transactions, 1);
    assert.equal(m1.changes, 2);

    assert.deepEqual(await listStreamSlots(store), ["lifeboat_test"]);
    const listed = await listSegments(store, "lifeboat_test", { trust });
    assert.deepEqual(listed.map((m) => m.seq), [0, 1]);
    const lines: string[] = [];
    for (const m of listed) for await (const r of readSegmentLines(store, m, [identity])) lines.push(r.line);
    assert.deepEqual(lines, [...first, ...open]);
    // Not readable without the identity.
    await assert.rejects(async () => {
      for await (const _ of readSegmentLines(store, listed[0], null)) break;
    }, SegmentError);
  });
});

Deno.test("stream segment: unsigned, re-signed by another key, altered and missing segments are refused", async () => {
  await withStore(async (store) => {
    const seal = { recipients: [], compression: "zstd" as const };
    for (const seq of [0, 1, 3]) {
      const w = await SegmentWriter.open(store, "s", seq, seal);
      for (const l of txn(800 + seq, 0x1000 * (seq + 1), 1, "2026-12-03 10:00:00+00")) await w.add(l, JSON.parse(l));
      await w.finish([], seq === 1 ? null : testSigning.key);
    }
    await assert.rejects(listSegments(store, "s", { trust, fromSeq: 1 }), (e: SegmentError) => e.code === "unsigned");
    const all = await listSegments(store, "s", { trust: { trustedKeys: [testSigning.publicKey], allowUnsigned: true } }).catch((e) => e);
    assert.equal((all as SegmentError).code, "gap");
    // A manifest edited after signing.
    const body = new TextDecoder().decode(await store.getBytes(segmentManifestKey("s", 0))).replace('"transactions": 1', '"transactions": 2');
    await store.put(segmentManifestKey("s", 0), new TextEncoder().encode(body));
    await assert.rejects(listSegments(store, "s", { trust, requireContiguous: false }), (e: SegmentError) => e.code === "bad_signature");
    // An object swapped under a valid manifest.
    const [m3] = await listSegments(store, "s", { trust, fromSeq: 3 });
    await store.put(segmentKey("s", 3), await store.getBytes(segmentKey("s", 1)));
    await assert.rejects(async () => {
      for await (const _ of readSegmentLines(store, m3, null)) { /* drain */ }
    }, (e: SegmentError) => e.code === "integrity");
  });
});

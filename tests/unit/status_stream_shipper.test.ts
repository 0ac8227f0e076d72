// The stream section says when the shipper stopped and what its last scheduled call answered.
import assert from "node:assert/strict";
import { streamGauges, streamSection } from "../../supabase/functions/_shared/status/mod.ts";

const base = {
  slot: "lifeboat_stream", enabled: true, running: true, enabled_at: "2026-12-03T10:00:00Z", dropped_at: null, drop_reason: null,
  achieved_rpo_seconds: 300, recovery_point: "2026-12-03T10:00:00Z", last_commit_at: null, last_run_at: null, lag_bytes: 10,
  retained_bytes: 10, wal_status: "reserved", safe_wal_size: null, segments: 3, segment_bytes: 100,
  window: { earliest: null, latest: null }, last_error: false,
};

Deno.test("status stream section: a stale shipper is named with its last call's HTTP status, a passing one is not", () => {
  const stale = streamSection({ ...base, shipper: { stale: true, last_call_status: 401 } });
  assert.match(stale, /shipper stopped \(last call answered 401\)/);
  assert.doesNotMatch(streamSection({ ...base, shipper: { stale: false, last_call_status: 200 } }), /shipper stopped/);
  assert.doesNotMatch(streamSection({ ...base, shipper: null }), /shipper stopped/);
  const gauge = (s: typeof base & { shipper?: { stale: boolean; last_call_status: number | null } | null }) =>
    streamGauges(s).find(([n]) => n === "lifeboat_stream_shipper_stale")?.[2];
  assert.equal(gauge({ ...base, shipper: { stale: true, last_call_status: null } }), 1);
  assert.equal(gauge({ ...base, shipper: { stale: false, last_call_status: 200 } }), 0);
  assert.equal(gauge({ ...base }), undefined, "no gauge without a running stream");
});

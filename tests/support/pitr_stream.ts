// A minimal change stream for the point-in-time restore tests: a wal2json slot read with
// pg_logical_slot_peek_changes and stored as segments through `_shared/stream/` (the segment
// writer the shipper uses), advanced only after each segment is stored. It cuts segments
// every `linesPerSegment` records, so transactions span segments (partial ones) as they do
// under the real shipper.
import postgres from "postgres";
import { SegmentWriter } from "../../supabase/functions/_shared/stream/mod.ts";
import type { SealConfig } from "../../supabase/functions/_shared/export/mod.ts";
import type { Store } from "../../supabase/functions/_shared/store/mod.ts";

/** The slot options the contract fixes (format 2 with B/C records, xids, times, LSNs, types, pk). */
const OPTIONS = [
  "format-version", "2", "include-xids", "1", "include-timestamp", "1", "include-lsn", "1",
  "include-transaction", "1", "include-types", "1", "include-pk", "1",
];

/** A test stream over one slot. */
export class TestStream {
  seq = 0;
  lines: string[] = [];
  constructor(
    readonly sql: postgres.Sql,
    readonly store: Store,
    readonly slot: string,
    readonly seal: SealConfig,
    readonly signingKey: CryptoKey,
    readonly sequencesOf: string,
    readonly linesPerSegment = 400,
  ) {}

  /** Creates the slot. */
  async create(): Promise<void> {
    await this.sql`select pg_catalog.pg_create_logical_replication_slot(${this.slot}, 'wal2json')`;
  }

  /** Drops the slot. */
  async drop(): Promise<void> {
    await this.sql`select pg_catalog.pg_drop_replication_slot(slot_name) from pg_catalog.pg_replication_slots where slot_name = ${this.slot}`;
  }

  /** Ships everything the slot holds now; returns the segments written. */
  async ship(): Promise<number> {
    const rows = await this.sql.unsafe(
      `select lsn::text as lsn, data from pg_catalog.pg_logical_slot_peek_changes($1, null, null, ${OPTIONS.map((o) => `'${o}'`).join(", ")})`,
      [this.slot],
    );
    if (rows.length === 0) return 0;
    let written = 0;
    let lastCommitEnd: string | null = null;
    for (let i = 0; i < rows.length; i += this.linesPerSegment) {
      const chunk = rows.slice(i, i + this.linesPerSegment);
      const w = await SegmentWriter.open(this.store, this.slot, this.seq, this.seal);
      for (const r of chunk) {
        const line = String(r.data);
        const rec = JSON.parse(line);
        await w.add(line, rec);
        this.lines.push(line);
        if (rec.action === "C") lastCommitEnd = rec.nextlsn;
      }
      const seqs = await this.sql.unsafe(
        `select schemaname::text as schema, sequencename::text as name, coalesce(last_value, 1)::text as "lastValue", last_value is not null as "isCalled"
         from pg_catalog.pg_sequences where schemaname = $1`,
        [this.sequencesOf],
      );
      await w.finish(seqs.map((s) => ({ schema: s.schema, name: s.name, lastValue: s.lastValue, isCalled: s.isCalled })), this.signingKey);
      this.seq++;
      written++;
    }
    // Peek returns whole transactions: the last record read is a commit.
    if (lastCommitEnd) await this.sql`select pg_catalog.pg_replication_slot_advance(${this.slot}, ${lastCommitEnd}::pg_lsn)`;
    return written;
  }
}

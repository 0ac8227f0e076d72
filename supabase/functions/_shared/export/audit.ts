/**
 * Records an export in `lifeboat.backup_runs` and `lifeboat.backup_parts` (migration
 * 20261122000200_lifeboat_audit.sql): running when it starts, one done part per stored data
 * part, completed only once the manifest is stored, failed with the error otherwise.
 * Uses its own connection: the export's transactions are read-only.
 * @module
 */
import type { Sql } from "../db/mod.ts";
import type { Tx } from "../db/mod.ts";
import type { ExportedObject } from "./engine.ts";

/** A run about to start. */
export interface NewRun {
  kind: "full" | "tables" | "files";
  label: string | null;
  /** The store it writes into (see active_run.ts: one active run per target). */
  target: string;
  /** The tables of a `tables` run. */
  tables?: { schema: string; name: string }[];
  metadata?: object;
}

/**
 * Inserts a run as `running`, the one way both drivers record a run. Returns null, inserting
 * nothing, when another planned or running run holds the target (the partial unique index
 * `backup_runs_active_target_uniq`); a concurrent insert for the same target waits for the
 * other transaction first.
 */
export async function insertRun(sql: Sql | Tx, run: NewRun): Promise<{ id: number; uuid: string } | null> {
  const [r] = await sql`
    insert into lifeboat.backup_runs (kind, label, target, state, started_at, last_progress_at, tables, metadata)
    values (${run.kind}, ${run.label}, ${run.target}, 'running', now(), now(),
            ${run.tables?.length ? JSON.stringify(run.tables) : null}::text::jsonb, ${JSON.stringify(run.metadata ?? {})}::text::jsonb)
    on conflict (pg_catalog.rtrim(target, '/')) where state in ('planned', 'running') and target <> ''
    do nothing
    returning id, run_uuid`;
  return r ? { id: Number(r.id), uuid: String(r.run_uuid) } : null;
}

/** Fails the runs that stopped making progress (lifeboat.export_sweep_stale); returns how many. */
export async function sweepStaleRuns(sql: Sql): Promise<number> {
  const rows = await sql`select run_id from lifeboat.export_sweep_stale()`;
  return rows.length;
}

/** One run's audit rows. */
export class RunRecorder {
  #sql: Sql;
  #runId: number;

  private constructor(sql: Sql, runId: number) {
    this.#sql = sql;
    this.#runId = runId;
  }

  /** Inserts the run as `running`; null when another run holds the target (see {@link insertRun}). */
  static async start(sql: Sql, run: NewRun): Promise<RunRecorder | null> {
    const r = await insertRun(sql, run);
    return r ? new RunRecorder(sql, r.id) : null;
  }

  /** The run's id in lifeboat.backup_runs. */
  get runId(): number {
    return this.#runId;
  }

  /** Records the snapshot the run reads. */
  async snapshot(snapshotId: string, lsn: string): Promise<void> {
    await this.#sql`
      update lifeboat.backup_runs set snapshot_id = ${snapshotId}, snapshot_lsn = ${lsn}::pg_lsn,
        snapshot_at = now(), consistent = true, last_progress_at = now()
      where id = ${this.#runId}`;
  }

  /** Records a stored data part as done (schema objects are in the manifest only). */
  async part(o: ExportedObject): Promise<void> {
    if (o.kind !== "data" || !o.table) return;
    await this.#sql`
      with p as (
        insert into lifeboat.backup_parts (run_id, table_schema, table_name, chunk, state, object_key,
                                           size_bytes, sha256, row_count, finished_at)
        values (${this.#runId}, ${o.table.schema}, ${o.table.name}, ${o.part ?? 0}, 'done', ${o.key},
                ${o.size}, ${o.sha256}, ${o.rows ?? 0}, now())
        returning run_id
      )
      update lifeboat.backup_runs r set last_progress_at = now() from p where r.id = p.run_id`;
  }

  /** Marks the run completed: call only after the manifest is stored. */
  async completed(r: {
    manifestKey: string; manifestSha256: string; bytes: number; rows: number; parts: number; snapshotId: string; lsn: string; id: string;
    tables: number;
  }): Promise<void> {
    await this.#sql`
      update lifeboat.backup_runs set state = 'completed', finished_at = now(), last_progress_at = now(),
        manifest_key = ${r.manifestKey}, manifest_sha256 = ${r.manifestSha256}, bytes = ${r.bytes}, rows = ${r.rows}, parts_total = ${r.parts},
        snapshot_id = coalesce(snapshot_id, ${r.snapshotId}), snapshot_lsn = coalesce(snapshot_lsn, ${r.lsn}::pg_lsn),
        consistent = true, error = null,
        metadata = metadata || jsonb_build_object('backup_id', ${r.id}::text, 'table_count', ${r.tables}::int)
      where id = ${this.#runId}`;
  }

  /** Marks the run failed with a message safe to show. */
  async failed(message: string): Promise<void> {
    await this.#sql`
      update lifeboat.backup_runs set state = 'failed', finished_at = now(), error = ${message.slice(0, 2000)}
      where id = ${this.#runId} and state = 'running'`;
  }
}

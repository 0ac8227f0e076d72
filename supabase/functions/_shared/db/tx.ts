/**
 * The kind of client the export's catalog and COPY helpers run on: a postgres.js
 * transaction (the coordinator's or a worker's), which is what holds the snapshot.
 * @module
 */
import type postgres from "postgres";

/** A postgres.js transaction client. */
export type Tx = postgres.TransactionSql<Record<string, unknown>>;

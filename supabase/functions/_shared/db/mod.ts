/**
 * Postgres for the engine, the functions and the CLI: connections and error descriptions
 * (connect.ts), the transaction client the catalog and COPY readers run on (tx.ts), and the
 * bulk `COPY … TO STDOUT` reader (copy_out/), and `COPY … FROM STDIN` that settles when the
 * connection dies (copy_in.ts).
 * @module
 */
export {
  connect,
  type ConnectOptions,
  copyOutRegistry,
  DatabaseUrlError,
  databaseUrlFromEnv,
  databaseUrlProblem,
  describeDbError,
  isConnectionError,
  type Sql,
} from "./connect.ts";
export { beginSettled, settleWithin, type Tx } from "./tx.ts";
export { copyIn } from "./copy_in.ts";
export { reserveWatched, type WatchedConnection } from "./reserve.ts";
export { guardDriverCrashes, isClosedSocketWrite } from "./driver_guard.ts";
export {
  type BatchHandler,
  BatchQueue,
  canPauseReading,
  copyOut,
  type CopyOutOptions,
  DEFAULT_BATCH_BYTES,
} from "./copy_out/reader.ts";
export { CopyOutSocket, copyOutSocketFactory, type CopySink, type RawStream, type SslMode } from "./copy_out/socket.ts";

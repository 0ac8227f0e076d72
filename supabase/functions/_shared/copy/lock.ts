/**
 * One copy run at a time per project: two runs would write the same objects and race on the
 * copy records. A session advisory lock on a reserved connection, released when the run ends
 * (or its connection dies).
 * @module
 */
import type { Sql } from "../db/mod.ts";

/** Another copy run holds the lock. */
export class CopyBusyError extends Error {
  constructor() {
    super("another copy run is in progress: it copies what is due; try again when it has finished");
    this.name = "CopyBusyError";
  }
}

/** Runs `fn` holding the project's copy lock; throws {@link CopyBusyError} when another run has it. */
export async function withCopyLock<T>(sql: Sql, fn: () => Promise<T>): Promise<T> {
  const conn = await sql.reserve();
  try {
    const [{ ok }] = await conn`select pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('lifeboat.copy')) as ok`;
    if (!ok) throw new CopyBusyError();
    try {
      return await fn();
    } finally {
      await conn`select pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('lifeboat.copy'))`.catch(() => {});
    }
  } finally {
    conn.release();
  }
}

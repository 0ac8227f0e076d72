/**
 * A restore target: the moment (commit time, WAL position or transaction) a point-in-time
 * restore stops at. Every transaction that committed at or before it is replayed; with an
 * xid target, up to and including that transaction (inclusive) or up to just before it.
 * @module
 */
import { lsnToBigInt } from "../stream/mod.ts";
import { formatMicros, parseMicros } from "./time.ts";

/** Where a point-in-time restore stops. */
export type RestoreTarget =
  | { kind: "latest" }
  | { kind: "time"; micros: bigint }
  | { kind: "lsn"; lsn: string }
  | { kind: "xid"; xid: bigint; inclusive: boolean };

/** A bad restore target (the CLI exits 2 with the message). */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetError";
  }
}

/** The target of `--until` (a time, or `latest`: the newest durable commit), `--until-lsn` or `--until-xid` (exactly one of them). */
export function parseTarget(o: { until?: string; untilLsn?: string; untilXid?: string; exclusive?: boolean }): RestoreTarget {
  const given = [o.until, o.untilLsn, o.untilXid].filter((v) => v !== undefined);
  if (given.length !== 1) throw new TargetError("give exactly one of --until, --until-lsn and --until-xid");
  try {
    if (o.until === "latest") return { kind: "latest" };
    if (o.until !== undefined) return { kind: "time", micros: parseMicros(o.until) };
    if (o.untilLsn !== undefined) {
      lsnToBigInt(o.untilLsn);
      return { kind: "lsn", lsn: o.untilLsn.toUpperCase() };
    }
  } catch (err) {
    throw new TargetError((err as Error).message);
  }
  if (!/^[0-9]{1,19}$/.test(o.untilXid!)) {
    throw new TargetError(`--until-xid ${JSON.stringify(o.untilXid)}: expected a transaction id (digits)`);
  }
  return { kind: "xid", xid: BigInt(o.untilXid!), inclusive: !o.exclusive };
}

/** How a target reads in messages. */
export function describeTarget(t: RestoreTarget): string {
  if (t.kind === "latest") return "the latest restorable moment";
  if (t.kind === "time") return formatMicros(t.micros);
  if (t.kind === "lsn") return `LSN ${t.lsn}`;
  return `xid ${t.xid} (${t.inclusive ? "inclusive" : "exclusive"})`;
}

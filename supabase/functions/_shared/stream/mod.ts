/**
 * Continuous change capture: the segment format (segment.ts, records.ts), writing segments
 * (writer.ts) and reading them back (reader.ts). Replay (`_shared/pitr/`) reads segments only
 * through this module.
 * @module
 */
export {
  bigIntToLsn,
  compareLsn,
  isSlotName,
  Lsn,
  lsnToBigInt,
  PartialTransaction,
  parseSegmentKey,
  parseSegmentManifest,
  SEGMENT_FORMAT,
  segmentKey,
  SegmentManifest,
  segmentManifestKey,
  SegmentSequence,
  segmentSignatureKey,
  SEQ_DIGITS,
  STREAM_ROOT,
  streamPrefix,
} from "./segment.ts";
export { isChange } from "./records.ts";
export type { Wal2JsonColumn, Wal2JsonRecord } from "./records.ts";
export { SegmentWriter, storeSegmentManifest } from "./writer.ts";
export {
  listSegments,
  listSegmentSeqs,
  listStreamSlots,
  readSegment,
  readSegmentLineBatches,
  readSegmentLines,
  readSegmentManifest,
  readSegmentText,
  SegmentError,
} from "./reader.ts";
export type { ListSegmentsOptions, SegmentTrust } from "./reader.ts";
export { shipOnce, WAL2JSON_OPTIONS } from "./shipper.ts";
export type { ShipOptions, ShipperHooks, ShipperLimits, ShipResult } from "./shipper.ts";
export { loadStreamConfig } from "./config.ts";
export type { StreamConfig, StreamOverrides } from "./config.ts";
export { runShipper } from "./run.ts";
export type { RunShipperOptions } from "./run.ts";

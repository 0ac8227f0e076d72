/**
 * Frees the memory of byte buffers that are known to be dead, now instead of at V8's next
 * garbage collection.
 *
 * An export moves every byte through several short-lived buffers (socket reads, row batches,
 * compressed frames, sealed chunks, stored parts). V8 collects array buffers only once their
 * total has grown by a good part of the live set since the last collection, so the dead
 * ones, not the live ones, set the process's peak memory (bench/export/RESULTS.md §7).
 * Detaching a buffer (`ArrayBuffer.prototype.transfer(0)`) hands its memory back at once.
 *
 * A detached buffer reads as zero bytes, so freeing one too early would silently drop data:
 * buffers are freed only by the stage that provably consumed them, and every stage that
 * consumes handed-over buffers checks with {@link assertLive} that it got a live one.
 * @module
 */

/** Node's Buffer pool slab size: buffers from the pool share one ArrayBuffer of this size. */
const POOL_BYTES = 8 * 1024;

type Detachable = ArrayBuffer & { transfer?: (length?: number) => ArrayBuffer; detached?: boolean };

function detach(buffer: ArrayBufferLike): void {
  const b = buffer as Detachable;
  if (typeof b.transfer !== "function" || b.detached || !(b instanceof ArrayBuffer)) return;
  b.transfer(0);
}

/** Buffers whose writer gave them up: the stage that consumes one frees it. */
const handedOver = new WeakSet<Uint8Array>();

/** Whether `chunk` alone spans its ArrayBuffer, which is bigger than a Buffer pool slab. */
function ownsWholeBuffer(chunk: Uint8Array): boolean {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.byteLength > POOL_BYTES;
}

/**
 * Frees the whole ArrayBuffer under `view` now. Only for buffers the caller allocated and that
 * nothing reads any more, through this view or any other.
 */
export function releaseOwned(view: Uint8Array): void {
  detach(view.buffer);
}

/**
 * Frees the ArrayBuffer under `chunk`, a chunk the caller received from a runtime API and has
 * finished with, but only when the chunk spans that whole buffer and is larger than a Buffer
 * pool slab: a chunk that shares its buffer (a slice of a pool or of a bigger read) is left to
 * the garbage collector.
 */
export function releaseChunk(chunk: Uint8Array): void {
  if (ownsWholeBuffer(chunk)) detach(chunk.buffer);
}

/**
 * Marks `view` (and its whole buffer) as given up by its writer: whichever stream stage
 * consumes it calls {@link releaseHandedOver} once it has copied or transformed it. Returns
 * `view`, to be written or enqueued as it is (the mark is on this very object).
 */
export function handOver(view: Uint8Array): Uint8Array {
  handedOver.add(view);
  return view;
}

/**
 * {@link handOver} for a chunk that came from a runtime API: marks it only when it spans its
 * whole buffer and is larger than a Buffer pool slab (as {@link releaseChunk} frees).
 */
export function handOverChunk(chunk: Uint8Array): Uint8Array {
  if (ownsWholeBuffer(chunk)) handedOver.add(chunk);
  return chunk;
}

/** Frees `view` if its writer handed it over (see {@link handOver}); call when done with it. */
export function releaseHandedOver(view: Uint8Array): void {
  if (handedOver.delete(view)) detach(view.buffer);
}

/**
 * Throws if `view`'s buffer was already freed: a released buffer reaching a stage would
 * otherwise be read as empty, and its bytes silently lost.
 */
export function assertLive(view: Uint8Array): void {
  if ((view.buffer as Detachable).detached) {
    throw new Error("a buffer was freed before it was used: the export stopped rather than lose data (a Lifeboat bug; please report it)");
  }
}

// Work over a large buffer without holding the event loop: a slice per turn, timers and I/O between.

import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Bytes handled per event-loop turn. Copying into memory not touched before costs mostly page faults;
 * a slice this size takes a small part of a Raft tick, so timers and I/O run between slices.
 */
export const SLICE_BYTES = 4 << 20;

/** Resolves in the next event-loop turn (after I/O and timers due). */
export { nextTurn };

/**
 * Copies all of `src` into `dst` at `at`, a slice at a time, letting the event loop run between
 * slices; `each` sees every slice copied, in order (e.g. to checksum it).
 */
export async function copyInSlices(src: Uint8Array, dst: Uint8Array, at = 0, each?: (slice: Uint8Array) => void): Promise<void> {
  if (at + src.byteLength > dst.byteLength) throw new RangeError(`${src.byteLength} bytes do not fit at ${at} of ${dst.byteLength}`);
  for (let off = 0; off < src.byteLength; off += SLICE_BYTES) {
    if (off > 0) await nextTurn();
    const slice = src.subarray(off, Math.min(off + SLICE_BYTES, src.byteLength));
    dst.set(slice, at + off);
    each?.(slice);
  }
}

// Where a group's in-memory log keeps its entries' bytes. Kept as a view of its own WAL record's buffer,
// a small entry would cost an ArrayBuffer object, V8's backing store and the allocator's overhead besides
// the view and the Entry: about three times its data in resident memory when, with many groups, each
// record holds one small entry. So small data is copied, one entry after another, into slabs that the
// log fills in order; a slab is freed by the collector once no entry views it any more, which, as a log
// is compacted from its front, is soon after its last entry goes. Larger data stays in its record (an
// allocation that holds little else, so copying would gain nothing), except when it was read back from
// a segment at start.

import type { Entry } from '../raft/types.ts';
import type { EncodedEntry } from './raft-log-state.ts';
import { walEntry } from './raft-wal-format.ts';

/** Bytes of one slab: small against a log's budget share, large against the entries it holds. */
export const SLAB_BYTES = 32 * 1024;
/** Data up to this size is copied into a slab. */
export const SLAB_ENTRY_MAX_BYTES = 2 * 1024;

/**
 * What an entry in memory takes beyond its data: the Entry object, the view of its bytes and its slot
 * in the log's array, and for data outside a slab also the ArrayBuffer and backing store under it and
 * the record's header bytes (V8's heap and external memory, measured with Node 20 over 200,000 entries).
 */
export function entryOverheadBytes(dataBytes: number): number {
  return dataBytes <= SLAB_ENTRY_MAX_BYTES ? 170 : 290;
}

export class EntrySlabs {
  private slab = new Uint8Array(0);
  private used = 0;

  /**
   * The Entry for `e`, its data copied into a slab when small. `replayed`: `e` views a whole segment read
   * at start, which a kept view would pin; larger data then gets a buffer of its own.
   */
  entry(e: EncodedEntry, replayed = false): Entry {
    const entry = walEntry(e); // a fresh object: its data is replaced in place
    const n = entry.data.byteLength;
    if (n > SLAB_ENTRY_MAX_BYTES) {
      if (replayed && !e.data) entry.data = entry.data.slice();
      return entry;
    }
    if (this.used + n > this.slab.byteLength) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.used = 0;
    }
    const data = this.slab.subarray(this.used, this.used + n);
    data.set(entry.data);
    this.used += n;
    entry.data = data;
    return entry;
  }
}

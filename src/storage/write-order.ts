// The keys of a store from the least recently written to the most (cache mode, --max-keys): what the
// shard's leader evicts first. In memory only, kept when a store is opened for cache mode, rebuilt by a scan
// (sorted by modRevision) when it opens or imports a snapshot. Whichever keys the leader picks, an eviction
// names each key with the revision it saw, and the state machine deletes only a key still at that revision,
// so every replica applies the same deletes. The node's own reserved keys are never in it.

import { decodeRecord, RESERVED_KEY_PREFIX } from './kv-record.ts';
import type { DataDb, WrittenRecords } from './kv-tx.ts';

export interface WrittenKey {
  key: Uint8Array;
  revision: number;
}

export class WriteOrder {
  /** latin1 key -> the key and its modRevision, in order of last write (a Map keeps insertion order). */
  private readonly order = new Map<string, WrittenKey>();

  rebuild(db: DataDb): void {
    this.order.clear();
    const all: Array<[string, WrittenKey]> = [];
    for (const { key, value } of db.getRange({})) {
      const r = decodeRecord(key, value, true);
      const k = Buffer.from(r.key).toString('latin1');
      if (!k.startsWith(RESERVED_KEY_PREFIX)) all.push([k, { key: Uint8Array.from(r.key), revision: r.modRevision }]);
    }
    all.sort((a, b) => a[1].revision - b[1].revision);
    for (const [k, w] of all) this.order.set(k, w);
  }

  /** A committed batch's writes (a record, or null for a deletion), by latin1 key. */
  noteWritten(written: WrittenRecords): void {
    for (const [k, r] of written) {
      this.order.delete(k);
      if (r && !k.startsWith(RESERVED_KEY_PREFIX)) this.order.set(k, { key: Uint8Array.from(r.key), revision: r.modRevision });
    }
  }

  get size(): number {
    return this.order.size;
  }

  /** Up to `n` of the least recently written keys, oldest first. */
  oldest(n: number): WrittenKey[] {
    const out: WrittenKey[] = [];
    for (const w of this.order.values()) {
      if (out.length >= n) break;
      out.push(w);
    }
    return out;
  }

  clear(): void {
    this.order.clear();
  }
}

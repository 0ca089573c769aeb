// The keys of a store from the least recently written to the most (cache mode, --max-keys, --max-bytes): what the
// shard's leader evicts first. In memory only, kept when a store is opened for cache mode, loaded from the
// store's scan of its records (sorted by modRevision) when it opens or imports a snapshot. Whichever keys the leader picks, an eviction
// names each key with the revision it saw, and the state machine deletes only a key still at that revision,
// so every replica applies the same deletes. The node's own reserved keys are never in it.

import { RESERVED_KEY_PREFIX } from './kv-record.ts';
import { mapKey, type WrittenRecords } from './kv-tx.ts';

export interface WrittenKey {
  key: Uint8Array;
  revision: number;
  /** The key's and its value's bytes. */
  bytes: number;
}

export class WriteOrder {
  /** latin1 key -> the key and its modRevision, in order of last write (a Map keeps insertion order). */
  private readonly order = new Map<string, WrittenKey>();
  private totalBytes = 0;

  /** Every key of the store with its modRevision (keys of its own, in any order; the order starts over). */
  load(keys: WrittenKey[]): void {
    this.clear();
    keys.sort((a, b) => a.revision - b.revision);
    for (const w of keys) {
      const k = mapKey(w.key);
      if (!k.startsWith(RESERVED_KEY_PREFIX)) this.set(k, w);
    }
  }

  /** A committed batch's writes (a record, or null for a deletion), by latin1 key. */
  noteWritten(written: WrittenRecords): void {
    for (const [k, r] of written) {
      const was = this.order.get(k);
      if (was) {
        this.order.delete(k);
        this.totalBytes -= was.bytes;
      }
      if (r && !k.startsWith(RESERVED_KEY_PREFIX)) this.set(k, { key: Uint8Array.from(r.key), revision: r.modRevision, bytes: r.key.byteLength + r.value.byteLength });
    }
  }

  get size(): number {
    return this.order.size;
  }

  /** The keys' and values' bytes together. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** The least recently written keys whose removal leaves at most `maxKeys` keys of at most `maxBytes` (up to `n` of them), oldest first. */
  pastBounds(maxKeys: number, maxBytes: number, n: number): WrittenKey[] {
    const out: WrittenKey[] = [];
    let keys = this.order.size;
    let bytes = this.totalBytes;
    for (const w of this.order.values()) {
      if (out.length >= n || (keys <= maxKeys && bytes <= maxBytes)) break;
      out.push(w);
      keys--;
      bytes -= w.bytes;
    }
    return out;
  }

  clear(): void {
    this.order.clear();
    this.totalBytes = 0;
  }

  private set(k: string, w: WrittenKey): void {
    this.order.set(k, w);
    this.totalBytes += w.bytes;
  }
}

// Which records carry an expiry, soonest first: what a timed entry's sweep deletes (state-machine.ts).
// In memory only, rebuilt by scanning the records when the store opens or imports a snapshot. It may hold
// stale candidates (a key written again, deleted, or put with a later expiry): the sweep checks each one
// against the record itself, so only missing candidates would matter, and every write of a record with an
// expiry adds one.

import type { DataDb } from './kv-tx.ts';
import { decodeRecord } from './kv-record.ts';

interface Candidate {
  at: number;
  key: Uint8Array;
}

export class ExpiryIndex {
  private heap: Candidate[] = [];
  /** Called when the soonest expiry becomes earlier (or the index was empty): a timer may need moving. */
  onSooner: (at: number) => void = () => {};

  /** Every record of `db` that carries an expiry (the index starts over). */
  rebuild(db: DataDb): void {
    this.heap = [];
    for (const { key, value } of db.getRange({})) {
      const r = decodeRecord(key, value, true);
      if (r.expiresAt !== undefined) this.add(r.key, r.expiresAt);
    }
  }

  /** A record of `key` written with an expiry at `at` (ms of the log clock). */
  add(key: Uint8Array, at: number): void {
    const sooner = this.heap.length === 0 || at < this.heap[0].at;
    this.heap.push({ at, key: Uint8Array.from(key) });
    this.up(this.heap.length - 1);
    if (sooner) this.onSooner(at);
  }

  /** The soonest expiry held, if any. */
  next(): number | undefined {
    return this.heap[0]?.at;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Removes and returns the keys of every candidate due at or before `t`. */
  takeDue(t: number): Uint8Array[] {
    const due: Uint8Array[] = [];
    while (this.heap.length > 0 && this.heap[0].at <= t) {
      due.push(this.heap[0].key);
      const last = this.heap.pop()!;
      if (this.heap.length > 0) {
        this.heap[0] = last;
        this.down(0);
      }
    }
    return due;
  }

  clear(): void {
    this.heap = [];
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].at <= h[i].at) return;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].at < h[m].at) m = l;
      if (r < h.length && h[r].at < h[m].at) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
}

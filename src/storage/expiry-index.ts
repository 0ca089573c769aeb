// Which records carry an expiry, soonest first: what a clock entry's sweep deletes (state-machine.ts).
// In memory only, filled from the store's scan of its records when it opens or imports a snapshot. Every write
// of a record with an expiry notes it. A key's candidate may be stale (the key written again without an
// expiry, or deleted): the sweep checks each one against the record itself, so only a missing candidate
// would matter. A key written again with an expiry keeps only its newest one; the heap drops the older
// entries when they surface, and is rebuilt when they outnumber the live ones.

import { mapKey } from './kv-tx.ts';

interface Candidate {
  at: number;
  key: Uint8Array;
}

/** Stale heap entries tolerated before a rebuild, beyond as many as there are live ones. */
const SLACK = 1024;

export class ExpiryIndex {
  private heap: Candidate[] = [];
  /** Each key's newest expiry (latin1 key). */
  private readonly current = new Map<string, number>();
  /** Called when the soonest expiry becomes earlier (or the index was empty): a timer may need moving. */
  onSooner: (at: number) => void = () => {};

  /** A record of `key` written with an expiry at `at` (ms of the log clock). */
  add(key: Uint8Array, at: number): void {
    const sooner = this.heap.length === 0 || at < this.heap[0].at;
    this.current.set(mapKey(key), at);
    this.push({ at, key: Uint8Array.from(key) });
    if (this.heap.length > 2 * this.current.size + SLACK) this.compact();
    if (sooner) this.onSooner(at);
  }

  /** The soonest expiry held, if any. */
  next(): number | undefined {
    while (this.heap.length > 0 && this.current.get(mapKey(this.heap[0].key)) !== this.heap[0].at) this.pop();
    return this.heap[0]?.at;
  }

  /** Keys with an expiry noted (some perhaps written again without one since). */
  get size(): number {
    return this.current.size;
  }

  /** Removes and returns the keys whose newest expiry is at or before `t`. */
  takeDue(t: number): Uint8Array[] {
    const due: Uint8Array[] = [];
    while (this.heap.length > 0 && this.heap[0].at <= t) {
      const top = this.pop();
      const k = mapKey(top.key);
      if (this.current.get(k) !== top.at) continue; // an older expiry of a key written again since
      this.current.delete(k);
      due.push(top.key);
    }
    return due;
  }

  /** `key` has no expiry any more (its heap entries go when they surface). */
  forget(key: Uint8Array): void {
    this.current.delete(mapKey(key));
  }

  clear(): void {
    this.heap = [];
    this.current.clear();
  }

  private pop(): Candidate {
    const top = this.heap[0];
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private push(c: Candidate): void {
    this.heap.push(c);
    this.up(this.heap.length - 1);
  }

  /** Keeps one entry per key: its newest expiry. */
  private compact(): void {
    const live = this.heap.filter((c) => this.current.get(mapKey(c.key)) === c.at);
    const seen = new Set<string>();
    this.heap = [];
    for (const c of live) {
      const k = mapKey(c.key);
      if (seen.has(k)) continue;
      seen.add(k);
      this.push(c);
    }
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

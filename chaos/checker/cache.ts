// The search's memory: sets of linearized ops as bitsets with incrementally maintained hashes, and the
// cache of configurations (set, state, guard) already explored, stored flat in typed arrays so that
// millions of entries cost little more than their bits.

/** A bitset over n ops with Zobrist hashes kept up to date and the bounds of its "interesting" part. */
export class Bits {
  readonly words: Uint32Array;
  /** First word that is not all ones, and last word that is not all zeros. */
  lo = 0;
  hi = -1;
  h1 = 0;
  h2 = 0;
  private readonly z1: Int32Array;
  private readonly z2: Int32Array;
  private readonly lastMask: number;

  constructor(readonly n: number, seed: number) {
    this.words = new Uint32Array((n + 31) >>> 5);
    this.lastMask = n % 32 === 0 ? 0xffffffff : ((1 << n % 32) - 1) >>> 0;
    this.z1 = new Int32Array(n);
    this.z2 = new Int32Array(n);
    let s = seed | 0;
    for (let i = 0; i < n; i++) {
      s = (s + 0x9e3779b9) | 0;
      this.z1[i] = mix(s);
      s = (s + 0x9e3779b9) | 0;
      this.z2[i] = mix(s);
    }
  }

  private full(w: number): boolean {
    return this.words[w] === (w === this.words.length - 1 ? this.lastMask : 0xffffffff);
  }

  set(i: number): void {
    const w = i >>> 5;
    this.words[w] = (this.words[w] | (1 << (i & 31))) >>> 0;
    this.h1 ^= this.z1[i];
    this.h2 ^= this.z2[i];
    if (w > this.hi) this.hi = w;
    while (this.lo < this.words.length && this.full(this.lo)) this.lo++;
  }

  clear(i: number): void {
    const w = i >>> 5;
    this.words[w] = (this.words[w] & ~(1 << (i & 31))) >>> 0;
    this.h1 ^= this.z1[i];
    this.h2 ^= this.z2[i];
    if (w < this.lo) this.lo = w;
    while (this.hi >= 0 && this.words[this.hi] === 0) this.hi--;
  }

  /** Words lo..hi: everything outside is all ones below, all zeros above. */
  get span(): number {
    return this.hi >= this.lo ? this.hi - this.lo + 1 : 0;
  }
}

/** Thrown when the cache would outgrow its budget; the search then reports "unknown". */
export class CacheFull extends Error {}

/**
 * Configurations: (completed-op bits, pending-op bits, state, guard). Entries are found by the hash of
 * (completed bits, state, guard); the pending bits are compared for dominance: a configuration that
 * has used a subset of the pending ops of another, and is otherwise the same, can do everything the
 * other can (pending ops never expire), so once it has failed the other needs no search.
 */
export class ConfigCache {
  size = 0;
  private readonly index = new Map<number, number>();
  private cap = 1024;
  private chain = new Int32Array(this.cap);
  private meta = new Int32Array(this.cap * M);
  private off = new Float64Array(this.cap);
  private arena = new Uint32Array(16384);
  private arenaUsed = 0;

  constructor(private readonly maxWords: number) {}

  private key(a: Bits, state: number, guard: number): number {
    const k1 = (a.h1 ^ mix(state + 1) ^ mix(~guard)) >>> 0;
    const k2 = (a.h2 ^ Math.imul(guard + 2, 0x27d4eb2d) ^ state) & 0x1fffff;
    return k1 * 2097152 + k2;
  }

  /**
   * Whether (a, b, state, guard) needs no search: the same configuration is in the cache, or a
   * finished (failed) one with the same completed ops, state and guard that used a subset of b.
   */
  covered(a: Bits, b: Bits, state: number, guard: number): boolean {
    let e = this.index.get(this.key(a, state, guard)) ?? -1;
    const span = a.span;
    const pspan = b.span;
    const meta = this.meta;
    const arena = this.arena;
    for (; e !== -1; e = this.chain[e]) {
      const m = e * M;
      if (meta[m] !== state || meta[m + 1] !== guard || meta[m + 2] !== a.lo || meta[m + 3] !== span) continue;
      let o = this.off[e];
      let same = true;
      for (let k = 0; k < span && same; k++) same = arena[o++] === a.words[a.lo + k];
      if (!same) continue;
      const plo = meta[m + 4];
      const ps = meta[m + 5];
      if (plo === b.lo && ps === pspan) {
        let equal = true;
        for (let k = 0; k < ps && equal; k++) equal = arena[o + k] === b.words[plo + k];
        if (equal) return true;
      }
      if (meta[m + 6] === 0 || plo > b.lo) continue; // unfinished, or it used pending ops b has not
      let subset = true;
      for (let k = 0; k < ps && subset; k++) subset = (arena[o + k] & ~b.words[plo + k]) === 0;
      if (subset) return true;
    }
    return false;
  }

  /** Adds a configuration; returns its entry, to be marked finished when its search is over. */
  add(a: Bits, b: Bits, state: number, guard: number): number {
    const span = a.span;
    const pspan = b.span;
    if (this.size === this.cap) this.growEntries();
    if (this.arenaUsed + span + pspan > this.arena.length) this.growArena(span + pspan);
    const e = this.size++;
    const key = this.key(a, state, guard);
    this.chain[e] = this.index.get(key) ?? -1;
    this.index.set(key, e);
    const m = e * M;
    this.meta[m] = state;
    this.meta[m + 1] = guard;
    this.meta[m + 2] = a.lo;
    this.meta[m + 3] = span;
    this.meta[m + 4] = b.lo;
    this.meta[m + 5] = pspan;
    this.meta[m + 6] = 0;
    this.off[e] = this.arenaUsed;
    this.arena.set(a.words.subarray(a.lo, a.lo + span), this.arenaUsed);
    this.arena.set(b.words.subarray(b.lo, b.lo + pspan), this.arenaUsed + span);
    this.arenaUsed += span + pspan;
    return e;
  }

  finish(e: number): void {
    this.meta[e * M + 6] = 1;
  }

  private growEntries(): void {
    if (this.cap * (M + 3) + this.arenaUsed > this.maxWords || this.index.size >= 16_000_000) throw new CacheFull();
    this.cap *= 2;
    this.chain = grow(this.chain, this.cap);
    this.meta = grow(this.meta, this.cap * M);
    const off = new Float64Array(this.cap);
    off.set(this.off);
    this.off = off;
  }

  private growArena(need: number): void {
    const len = Math.max(this.arena.length * 2, this.arenaUsed + need);
    if (len + this.cap * (M + 3) > this.maxWords) throw new CacheFull();
    const arena = new Uint32Array(len);
    arena.set(this.arena.subarray(0, this.arenaUsed));
    this.arena = arena;
  }
}

/** Per entry: state, guard, lo, span, plo, pspan, finished. */
const M = 7;

function grow(a: Int32Array, len: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(len);
  b.set(a);
  return b;
}

export function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return x ^ (x >>> 16);
}

// The newest entries of a Raft log in memory, exactly as the committed view holds them. Raft reads
// an entry right after it is persisted (to apply it, to send it to a follower, to look up a term),
// and serving those reads from here saves an LMDB range read, a copy and a checksum per entry.
// The owner (LmdbRaftStorage) feeds it what each committed transaction did, in commit order.

import type { Entry } from '../raft/types.ts';

/** Bookkeeping per cached entry on top of its data, for the byte bound. */
const ENTRY_OVERHEAD_BYTES = 64;

export class EntryCache {
  private entries: Entry[] = [];
  /** entries[head] is the oldest cached entry; the array is compacted when head grows. */
  private head = 0;
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The log now ends with `es` (contiguous): cached entries at or after es[0].index are replaced. */
  append(es: readonly Entry[]): void {
    if (es.length === 0) return;
    const start = es[0].index;
    const first = this.firstIndex();
    if (this.size() === 0 || start < first || start > first + this.size()) this.clear();
    else this.dropFrom(start);
    for (const e of es) {
      this.entries.push(e);
      this.bytes += e.data.byteLength + ENTRY_OVERHEAD_BYTES;
    }
    while (this.bytes > this.maxBytes && this.size() > 0) this.dropOldest();
  }

  /** Entries before `index` were compacted away. */
  dropBefore(index: number): void {
    while (this.size() > 0 && this.entries[this.head].index < index) this.dropOldest();
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
  }

  get(index: number): Entry | undefined {
    if (this.size() === 0) return undefined;
    const at = index - this.entries[this.head].index;
    return at >= 0 && at < this.size() ? this.entries[this.head + at] : undefined;
  }

  /** Entries [lo, hi) if every one of them is cached, else undefined. */
  slice(lo: number, hi: number): Entry[] | undefined {
    if (this.size() === 0 || lo < this.firstIndex() || hi > this.firstIndex() + this.size()) return undefined;
    const from = this.head + (lo - this.firstIndex());
    return this.entries.slice(from, from + (hi - lo));
  }

  private size(): number {
    return this.entries.length - this.head;
  }

  private firstIndex(): number {
    return this.size() > 0 ? this.entries[this.head].index : 0;
  }

  private dropFrom(index: number): void {
    const keep = this.head + (index - this.firstIndex());
    for (let i = keep; i < this.entries.length; i++) this.bytes -= this.entries[i].data.byteLength + ENTRY_OVERHEAD_BYTES;
    this.entries.length = keep;
  }

  private dropOldest(): void {
    const e = this.entries[this.head];
    this.bytes -= e.data.byteLength + ENTRY_OVERHEAD_BYTES;
    this.entries[this.head] = undefined as unknown as Entry;
    this.head++;
    if (this.head === this.entries.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}

// A per-peer outbound FIFO with a hard bound on messages and estimated bytes. When full it drops
// the OLDEST messages to make room: for Raft the newest message reflects the current term and
// progress, while anything old is either stale or will be retransmitted by the leader's probe.

export interface QueueLimits {
  maxMessages: number;
  maxBytes: number;
}

export class BoundedQueue<T> {
  // A growable ring buffer: O(1) push and shift, and slots are cleared as they are taken so sent
  // payloads can be collected at once.
  private items: (T | undefined)[] = new Array(16);
  private sizes: number[] = new Array(16).fill(0);
  private head = 0;
  private count = 0;
  private bytes = 0;

  constructor(private readonly limits: QueueLimits) {}

  get length(): number {
    return this.count;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /**
   * Appends `item`, first dropping the oldest entries until it fits, and returns how many were
   * dropped. One item larger than maxBytes is still accepted, alone, so that a single huge
   * message (a 64 MiB value) can get through; memory stays bounded by max(maxBytes, that item).
   */
  push(item: T, size: number): number {
    let dropped = 0;
    while (this.count > 0 && (this.count >= this.limits.maxMessages || this.bytes + size > this.limits.maxBytes)) {
      this.shift();
      dropped++;
    }
    if (this.count === this.items.length) this.grow();
    const tail = (this.head + this.count) % this.items.length;
    this.items[tail] = item;
    this.sizes[tail] = size;
    this.count++;
    this.bytes += size;
    return dropped;
  }

  /** Removes and returns the oldest items, at least one, while they fit within maxBytes. */
  /** The summed sizes of what the last takeBatch took. */
  takenBytes = 0;

  takeBatch(maxBytes: number, maxMessages: number, into: T[] = []): T[] {
    let bytes = 0;
    while (this.count > 0 && into.length < maxMessages) {
      const size = this.sizes[this.head];
      if (into.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      into.push(this.shift());
    }
    this.takenBytes = bytes;
    return into;
  }

  clear(): void {
    this.items = new Array(16);
    this.sizes = new Array(16).fill(0);
    this.head = 0;
    this.count = 0;
    this.bytes = 0;
  }

  private shift(): T {
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined;
    this.bytes -= this.sizes[this.head];
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  private grow(): void {
    const capacity = this.items.length * 2;
    const items: (T | undefined)[] = new Array(capacity);
    const sizes: number[] = new Array(capacity).fill(0);
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) % this.items.length;
      items[i] = this.items[from];
      sizes[i] = this.sizes[from];
    }
    this.items = items;
    this.sizes = sizes;
    this.head = 0;
  }
}

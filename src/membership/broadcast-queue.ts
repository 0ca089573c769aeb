// Messages waiting to be piggybacked on outgoing packets (memberlist's TransmitLimitedQueue idea).
// Each broadcast is sent a limited number of times — retransmitMult × ceil(log10(n + 1)), enough for
// epidemic spread to reach all n members with high probability — and then dropped. Fresh messages go
// first, so news overtakes old news. A new message about a member replaces any queued one about the
// same member: only the latest state of a member is worth spreading.

import type { Message } from './types.ts';

export interface QueuedBroadcast {
  /** The member the message is about; a newer broadcast with the same key replaces this one. */
  readonly key: string;
  readonly message: Message;
  readonly bytes: number;
  transmits: number;
  /** Insertion order, to prefer newer messages within a transmit tier. */
  readonly order: number;
}

export class BroadcastQueue {
  private readonly byKey = new Map<string, QueuedBroadcast>();
  private nextOrder = 0;

  get length(): number {
    return this.byKey.size;
  }

  enqueue(key: string, message: Message, bytes: number): QueuedBroadcast {
    const entry: QueuedBroadcast = { key, message, bytes, transmits: 0, order: this.nextOrder++ };
    this.byKey.set(key, entry);
    return entry;
  }

  /** True while the entry is still waiting to be sent (not yet exhausted or replaced). */
  isPending(entry: QueuedBroadcast): boolean {
    return this.byKey.get(entry.key) === entry;
  }

  /**
   * Take the broadcasts that fit in `budgetBytes`, fewest transmits first, then largest (so big messages
   * are not starved by small ones), then newest. Each taken broadcast counts one transmit.
   */
  take(budgetBytes: number, transmitLimit: number): Message[] {
    if (this.byKey.size === 0 || budgetBytes <= 0) return [];
    const candidates = [...this.byKey.values()].sort(
      (a, b) => a.transmits - b.transmits || b.bytes - a.bytes || b.order - a.order,
    );
    const out: Message[] = [];
    let free = budgetBytes;
    for (const entry of candidates) {
      if (entry.bytes > free) continue;
      free -= entry.bytes;
      out.push(entry.message);
      entry.transmits++;
      if (entry.transmits >= transmitLimit) this.byKey.delete(entry.key);
    }
    return out;
  }

  clear(): void {
    this.byKey.clear();
  }
}

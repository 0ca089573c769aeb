// Messages waiting to be piggybacked on outgoing packets (memberlist's TransmitLimitedQueue idea).
// Each broadcast is sent a limited number of times — retransmitMult × ceil(log10(n + 1)), enough for
// epidemic spread to reach all n members with high probability — and then dropped. Fresh messages go
// first, so news overtakes old news. A new message about a member replaces any queued one about the
// same member: only the latest state of a member is worth spreading.
// Two refinements over memberlist: a broadcast goes to the same address again only once it has reached
// every peer, and an alive message is never sent to the member it describes — a retransmission spent
// where the news is already known is one the rest of the cluster does not get. In small clusters
// (4 peers, 4 transmissions) random targets otherwise left about 1 run in 100 with a member that never
// heard a refutation.

import type { Message } from './types.ts';

export interface QueuedBroadcast {
  /** The member the message is about; a newer broadcast with the same key replaces this one. */
  readonly key: string;
  readonly message: Message;
  readonly bytes: number;
  /** Where the message is not worth sending (the member it describes, for alive news). */
  readonly skipAddress: string | undefined;
  readonly sentTo: Set<string>;
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
    const skipAddress = message.type === 'alive' ? message.address : undefined;
    const entry: QueuedBroadcast = { key, message, bytes, skipAddress, sentTo: new Set(), transmits: 0, order: this.nextOrder++ };
    this.byKey.set(key, entry);
    return entry;
  }

  /** True while the entry is still waiting to be sent (not yet exhausted or replaced). */
  isPending(entry: QueuedBroadcast): boolean {
    return this.byKey.get(entry.key) === entry;
  }

  /**
   * Take the broadcasts for `destination` that fit in `budgetBytes`, fewest transmits first, then largest
   * (so big messages are not starved by small ones), then newest. Each taken broadcast counts one transmit.
   * @param peers how many other members there are to tell
   * @param counted false for a courtesy copy (gossip to a dead member) that must not use up a transmit
   * @param alreadyCarried messages the packet already holds (a copy would be a wasted transmit)
   */
  take(
    destination: string, budgetBytes: number, transmitLimit: number, peers: number,
    counted = true, alreadyCarried: readonly Message[] = [],
  ): Message[] {
    if (this.byKey.size === 0 || budgetBytes <= 0) return [];
    const candidates = [...this.byKey.values()].sort(
      (a, b) => a.transmits - b.transmits || b.bytes - a.bytes || b.order - a.order,
    );
    const out: Message[] = [];
    let free = budgetBytes;
    for (const entry of candidates) {
      if (entry.bytes > free || entry.skipAddress === destination || alreadyCarried.some((m) => sameNews(m, entry.message))) continue;
      const reachable = entry.skipAddress === undefined ? peers : peers - 1;
      if (entry.sentTo.has(destination) && entry.sentTo.size < reachable) continue;
      free -= entry.bytes;
      out.push(entry.message);
      if (!counted) continue;
      entry.sentTo.add(destination);
      entry.transmits++;
      if (entry.transmits >= transmitLimit) this.byKey.delete(entry.key);
    }
    return out;
  }
}

function sameNews(a: Message, b: Message): boolean {
  if (a.type !== b.type || !('id' in a) || !('id' in b)) return false;
  return a.id === b.id && a.incarnation === b.incarnation;
}

// Everything one member sends, and the byte budget of each datagram. Broadcasts (alive, suspect, dead)
// are never sent on their own schedule: they ride in the spare room of every UDP packet — probes, acks,
// relays — and fill the packets of the periodic gossip round (memberlist's piggybacking and compound
// messages). The state machine's host only ever sees finished packets.

import { BroadcastQueue, type QueuedBroadcast } from './broadcast-queue.ts';
import { messageBytes, packetOverheadBytes } from './codec.ts';
import type { Message, OutboundPacket, Packet } from './types.ts';

export class Outbox {
  private readonly queue = new BroadcastQueue();
  private readonly overhead: number;
  private pending: OutboundPacket[] = [];

  /**
   * @param clusterSize the live members, self included: sets the transmit limit and the peers to reach
   */
  constructor(
    private readonly from: Packet['from'],
    private readonly maxPacketBytes: number,
    private readonly transmitLimit: (clusterSize: number) => number,
    private readonly clusterSize: () => number,
  ) {
    this.overhead = packetOverheadBytes(from);
  }

  drain(): OutboundPacket[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Queue a message about member `key` for dissemination, replacing any older one about it. */
  broadcast(key: string, m: Message): QueuedBroadcast {
    return this.queue.enqueue(key, m, messageBytes(m));
  }

  isPending(b: QueuedBroadcast): boolean {
    return this.queue.isPending(b);
  }

  /** A datagram with `messages`, topped up with as many queued broadcasts as still fit. */
  udp(to: string, messages: Message[]): void {
    let used = this.overhead;
    for (const m of messages) used += messageBytes(m);
    const piggyback = this.take(to, this.maxPacketBytes - used, true, messages);
    this.pending.push({ to, channel: 'udp', packet: this.packet([...messages, ...piggyback]) });
  }

  /**
   * One gossip round: a packet of broadcasts to each target, while there is anything to say. Copies sent
   * to members believed dead (so a wrongly condemned one hears it and refutes) do not count as transmits.
   */
  gossip(targets: ReadonlyArray<{ address: string; dead: boolean }>): void {
    for (const { address: to, dead } of targets) {
      const messages = this.take(to, this.maxPacketBytes - this.overhead, !dead);
      if (messages.length === 0) continue;
      this.pending.push({ to, channel: 'udp', packet: this.packet(messages) });
    }
  }

  tcp(to: string, m: Message): void {
    this.pending.push({ to, channel: 'tcp', packet: this.packet([m]) });
  }

  private take(to: string, budgetBytes: number, counted = true, alreadyCarried: readonly Message[] = []): Message[] {
    const n = this.clusterSize();
    return this.queue.take(to, budgetBytes, this.transmitLimit(n), n - 1, counted, alreadyCarried);
  }

  private packet(messages: Message[]): Packet {
    return { from: this.from, messages };
  }
}

// A single Swim under a microscope: the test plays every other member by hand. Members not listed as
// silent answer pings and ping-reqs at once; news is delivered as if gossiped by a named member.

import { defaultConfig, type SwimConfig } from '../../src/membership/config.ts';
import { Swim } from '../../src/membership/swim.ts';
import type { MemberEvent, MemberEventType, Message, Meta, OutboundPacket } from '../../src/membership/types.ts';
import { seededRng } from '../../src/util/prng.ts';

export class Harness {
  readonly swim: Swim;
  now = 0;
  /** Members that never answer (crashed, or cut off from us). */
  readonly silent = new Set<string>();
  /** Relays answer a ping-req for a silent target with a nack (Lifeguard) when this is on. */
  relaysNack = true;
  readonly sent: OutboundPacket[] = [];
  readonly events: MemberEvent[] = [];

  constructor(peers: string[] = [], config: SwimConfig = defaultConfig(), seed = 1) {
    this.swim = new Swim({ self: { id: 'me', address: 'me' }, config, rng: seededRng(seed), now: 0 });
    for (const id of peers) this.news(id, alive(id, 0));
    this.events.length = 0;
  }

  /** Deliver messages as one packet from member `from`. */
  news(from: string, ...messages: Message[]): void {
    this.swim.tick(this.now);
    this.swim.receive(from, { from: { id: from, address: from }, messages });
    this.collect();
  }

  /** Advance virtual time in steps, ticking and letting responsive members answer. */
  advance(ms: number, stepMs = 5): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + stepMs);
      this.swim.tick(this.now);
      this.collect();
    }
  }

  state(id: string): string | undefined {
    return this.swim.member(id)?.state;
  }

  eventsOf(type: MemberEventType, id?: string): MemberEvent[] {
    return this.events.filter((e) => e.type === type && (id === undefined || e.member.id === id));
  }

  /** Every message this member sent over UDP to `to` (or to anyone), in order. */
  udpMessages(to?: string): Message[] {
    return this.sent.filter((p) => p.channel === 'udp' && (to === undefined || p.to === to)).flatMap((p) => p.packet.messages);
  }

  private collect(): void {
    for (;;) {
      const out = this.swim.drainOutbox();
      this.events.push(...this.swim.drainEvents());
      if (out.length === 0) return;
      this.sent.push(...out);
      for (const p of out) this.answer(p);
    }
  }

  private answer(p: OutboundPacket): void {
    if (p.channel !== 'udp' || this.silent.has(p.to)) return;
    for (const m of p.packet.messages) {
      if (m.type === 'ping' && m.target === p.to) this.reply(p.to, { type: 'ack', seq: m.seq });
      if (m.type === 'ping-req') {
        if (!this.silent.has(m.target)) this.reply(p.to, { type: 'ack', seq: m.seq });
        else if (this.relaysNack && m.wantNack) this.reply(p.to, { type: 'nack', seq: m.seq });
      }
    }
  }

  private reply(from: string, m: Message): void {
    this.swim.receive(from, { from: { id: from, address: from }, messages: [m] });
  }
}

export function alive(id: string, incarnation: number, meta: Meta = {}, address = id): Message {
  return { type: 'alive', id, address, incarnation, meta };
}

export function suspect(id: string, incarnation: number, from: string): Message {
  return { type: 'suspect', id, incarnation, from };
}

export function dead(id: string, incarnation: number, from: string): Message {
  return { type: 'dead', id, incarnation, from };
}

// A deterministic simulator for the SWIM state machine: N Swim instances, a virtual clock, and a
// network with loss, delay, cut links, killed, paused and slow members. Every packet goes through the
// real codec (so sizes and validation are exercised), every member is ticked exactly when its
// nextDeadline() says, and everything random draws from one seed, so a failing run replays exactly.

import { decodePacketDetailed, encodePacket } from '../../src/membership/codec.ts';
import type { SwimConfig } from '../../src/membership/config.ts';
import { Swim } from '../../src/membership/swim.ts';
import type { Channel, MemberEventType, MemberState, Meta } from '../../src/membership/types.ts';
import { seededRng, type Rng } from '../../src/util/prng.ts';

export interface NetworkProfile {
  /** Probability that one UDP datagram is lost (TCP is reliable unless the link is cut). */
  loss: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export interface ObservedEvent {
  at: number;
  observer: string;
  type: MemberEventType;
  member: string;
  incarnation: number;
}

interface SimMember {
  id: string;
  swim: Swim;
  status: 'up' | 'killed' | 'paused';
  wakeAt: number | undefined;
  /** Packets that arrived while paused, handled in order on resume (the kernel's socket buffer). */
  backlog: Array<{ fromAddr: string; bytes: Buffer }>;
  /** Extra delay before this member handles each packet it receives (a CPU-starved process). */
  slowMs: number;
  lastHandledAt: number;
}

type SimEvent =
  | { at: number; seq: number; kind: 'wake'; id: string }
  | { at: number; seq: number; kind: 'deliver'; id: string; fromAddr: string; bytes: Buffer }
  | { at: number; seq: number; kind: 'call'; fn: () => void };

export class Simulation {
  now = 0;
  readonly log: ObservedEvent[] = [];
  readonly counters = { udpSent: 0, tcpSent: 0, lost: 0, cut: 0, oversize: 0, rejected: 0, maxUdpBytes: 0 };
  private readonly members = new Map<string, SimMember>();
  private readonly cutLinks = new Set<string>();
  private readonly rng: Rng;
  private readonly heap: SimEvent[] = [];
  private seq = 0;
  private spawned = 0;

  constructor(
    readonly seed: number,
    readonly config: SwimConfig,
    readonly network: NetworkProfile = { loss: 0, minDelayMs: 1, maxDelayMs: 3 },
  ) {
    this.rng = seededRng(seed);
  }

  ids(): string[] {
    return [...this.members.keys()];
  }

  swim(id: string): Swim {
    return this.get(id).swim;
  }

  add(id: string, meta: Meta = {}, config: SwimConfig = this.config): Swim {
    const swim = new Swim({ self: { id, address: id, meta }, config, rng: seededRng(this.seed * 1000 + ++this.spawned), now: this.now });
    const m: SimMember = { id, swim, status: 'up', wakeAt: undefined, backlog: [], slowMs: 0, lastHandledAt: 0 };
    this.members.set(id, m);
    this.schedule(m);
    return swim;
  }

  join(id: string, seeds: string[]): void {
    const m = this.get(id);
    m.swim.join(seeds);
    this.flush(m);
  }

  /** Start a fresh process for `id` at the same address: new state machine, incarnation 0. */
  restart(id: string, meta: Meta = {}): Swim {
    this.members.delete(id);
    return this.add(id, meta);
  }

  /** Call into a member (leave, updateMeta, …) and send what it produced. */
  act(id: string, fn: (swim: Swim) => void): void {
    const m = this.get(id);
    m.swim.tick(this.now);
    fn(m.swim);
    this.flush(m);
  }

  kill(id: string): void {
    const m = this.get(id);
    m.status = 'killed';
    m.backlog = [];
  }

  /** Stop the member for `ms` (SIGSTOP): it neither ticks nor reads; packets wait in its buffer. */
  pause(id: string, ms: number): void {
    const m = this.get(id);
    m.status = 'paused';
    this.at(this.now + ms, () => this.resume(m));
  }

  slow(id: string, ms: number): void {
    this.get(id).slowMs = ms;
  }

  /** Cut the link between a and b in both directions. */
  cut(a: string, b: string): void {
    this.cutLinks.add(`${a}>${b}`).add(`${b}>${a}`);
  }

  heal(a: string, b: string): void {
    this.cutLinks.delete(`${a}>${b}`);
    this.cutLinks.delete(`${b}>${a}`);
  }

  healAll(): void {
    this.cutLinks.clear();
  }

  at(time: number, fn: () => void): void {
    this.push({ at: time, seq: 0, kind: 'call', fn });
  }

  /** Hand raw bytes to a member as if they arrived from the network (for hostile-input tests). */
  inject(id: string, fromAddr: string, bytes: Buffer): void {
    this.push({ at: this.now, seq: 0, kind: 'deliver', id, fromAddr, bytes });
  }

  run(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /** Run until `done()` holds (checked after every event) or `maxMs` pass; returns the time it held, or undefined. */
  runUntil(done: () => boolean, maxMs: number): number | undefined {
    const end = this.now + maxMs;
    if (done()) return this.now;
    while (this.heap.length > 0 && this.heap[0].at <= end) {
      const ev = this.pop();
      this.now = ev.at;
      this.handle(ev);
      if (done()) return this.now;
    }
    this.now = end;
    return undefined;
  }

  stateOf(observer: string, member: string): MemberState | undefined {
    return this.get(observer).swim.member(member)?.state;
  }

  /** True when every running member except `member` itself sees `member` in `state`. */
  allSee(member: string, state: MemberState): boolean {
    return this.running().every((o) => o.id === member || this.stateOf(o.id, member) === state);
  }

  /** True when every running member knows every running member as alive. */
  converged(): boolean {
    const up = this.running();
    return up.every((o) => up.every((m) => this.stateOf(o.id, m.id) === 'alive'));
  }

  eventsAbout(member: string, type: MemberEventType): ObservedEvent[] {
    return this.log.filter((e) => e.member === member && e.type === type);
  }

  private running(): SimMember[] {
    return [...this.members.values()].filter((m) => m.status !== 'killed');
  }

  private get(id: string): SimMember {
    const m = this.members.get(id);
    if (!m) throw new Error(`sim: no member ${id}`);
    return m;
  }

  private resume(m: SimMember): void {
    if (m.status !== 'paused') return;
    m.status = 'up';
    m.swim.tick(this.now); // as in Node: expired timers run before pending I/O is read
    const backlog = m.backlog;
    m.backlog = [];
    for (const p of backlog) this.receive(m, p.fromAddr, p.bytes);
    this.flush(m);
  }

  private handle(ev: SimEvent): void {
    if (ev.kind === 'call') return ev.fn();
    const m = this.get(ev.id);
    if (ev.kind === 'wake') {
      if (m.wakeAt !== ev.at || m.status !== 'up') return;
      m.wakeAt = undefined;
      m.swim.tick(this.now);
      this.flush(m);
      return;
    }
    if (m.status === 'killed') return;
    if (m.status === 'paused') {
      m.backlog.push({ fromAddr: ev.fromAddr, bytes: ev.bytes });
      return;
    }
    m.swim.tick(this.now);
    this.receive(m, ev.fromAddr, ev.bytes);
    this.flush(m);
  }

  private receive(m: SimMember, fromAddr: string, bytes: Buffer): void {
    const r = decodePacketDetailed(bytes, m.swim.config.clusterId);
    if (!r.ok) {
      this.counters.rejected++;
      return;
    }
    m.swim.receive(fromAddr, r.packet);
  }

  private flush(m: SimMember): void {
    for (const out of m.swim.drainOutbox()) this.route(m, out.to, encodePacket(out.packet, m.swim.config.clusterId), out.channel);
    for (const e of m.swim.drainEvents()) {
      this.log.push({ at: this.now, observer: m.id, type: e.type, member: e.member.id, incarnation: e.member.incarnation });
    }
    this.schedule(m);
  }

  private route(from: SimMember, to: string, bytes: Buffer, channel: Channel): void {
    if (channel === 'udp') {
      this.counters.udpSent++;
      this.counters.maxUdpBytes = Math.max(this.counters.maxUdpBytes, bytes.length);
      if (bytes.length > this.config.maxPacketBytes) {
        this.counters.oversize++;
        return;
      }
      if (this.rng.next() < this.network.loss) {
        this.counters.lost++;
        return;
      }
    } else {
      this.counters.tcpSent++;
    }
    const target = this.members.get(to);
    if (!target || this.cutLinks.has(`${from.id}>${to}`)) {
      this.counters.cut++;
      return;
    }
    const { minDelayMs, maxDelayMs } = this.network;
    let at = this.now + minDelayMs + this.rng.next() * (maxDelayMs - minDelayMs) + target.slowMs;
    if (target.slowMs > 0) at = Math.max(at, target.lastHandledAt); // a backlog is handled in order
    target.lastHandledAt = at;
    this.push({ at, seq: 0, kind: 'deliver', id: to, fromAddr: from.id, bytes });
  }

  private schedule(m: SimMember): void {
    if (m.status !== 'up') return;
    const at = Math.max(this.now, m.swim.nextDeadline());
    if (!Number.isFinite(at)) return;
    if (m.wakeAt === undefined || at < m.wakeAt) {
      m.wakeAt = at;
      this.push({ at, seq: 0, kind: 'wake', id: m.id });
    }
  }

  // A binary min-heap on (at, seq): equal times keep insertion order, so runs are reproducible.
  private push(ev: SimEvent): void {
    ev.seq = this.seq++;
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  private pop(): SimEvent {
    const h = this.heap;
    const top = h[0];
    const last = h.pop() as SimEvent;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < h.length && before(h[l], h[min])) min = l;
        if (r < h.length && before(h[r], h[min])) min = r;
        if (min === i) break;
        [h[i], h[min]] = [h[min], h[i]];
        i = min;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** n members n1..nN; each joins through n1 (or `seedFor`), one every 50 ms. Runs until all agree. */
export function startCluster(
  n: number,
  seed: number,
  config: SwimConfig,
  network?: NetworkProfile,
  seedFor: (i: number) => string = () => 'n1',
): { sim: Simulation; convergedAt: number | undefined } {
  const sim = new Simulation(seed, config, network);
  sim.add('n1');
  for (let i = 2; i <= n; i++) {
    sim.at((i - 1) * 50, () => {
      sim.add(`n${i}`);
      sim.join(`n${i}`, [seedFor(i)]);
    });
  }
  sim.run(n * 50);
  const convergedAt = sim.runUntil(() => sim.ids().length === n && sim.converged(), 60_000);
  return { sim, convergedAt };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// Swim: one member of a SWIM gossip cluster with the Lifeguard refinements, as a pure state machine in
// the house style of src/raft — no sockets, timers, clock or randomness of its own. The host feeds it
// time (tick), packets (receive) and commands (join, leave, updateMeta), and collects what it produced:
// packets to send (drainOutbox) and member events (drainEvents). nextDeadline() says when to tick next.
//
// The parts: Prober (failure detection), ClusterView (the incarnation rules and suspicion timers),
// Outbox (piggybacked dissemination), push-pull (anti-entropy). This class wires them to the clock.

import type { Rng } from '../util/prng.ts';
import type { QueuedBroadcast } from './broadcast-queue.ts';
import { ClusterView } from './cluster-view.ts';
import { metaBytes } from './codec.ts';
import { lifeguardEnabled, pushPullIntervalFor, retransmitLimit, validateConfig, type SwimConfig } from './config.ts';
import { HealthAwareness } from './health-awareness.ts';
import { MemberTable, viewOf } from './member-table.ts';
import { Outbox } from './outbox.ts';
import { Prober, type ProbeStats } from './prober.ts';
import { snapshotAsMessages, snapshotOf } from './push-pull.ts';
import type { MemberEvent, MemberView, Message, Meta, OutboundPacket, Packet } from './types.ts';

export interface SwimOptions {
  /** `address` is this member's advertised gossip address (`host:port`), known once the host has bound. */
  self: { id: string; address: string; meta?: Meta; incarnation?: number };
  config: SwimConfig;
  rng: Rng;
  /** The host's clock at construction, in ms (any monotonic origin). */
  now: number;
}

export interface SwimStats extends ProbeStats {
  refutations: number;
  /** Alive messages for a known, live id from a different address (a duplicate node id). */
  addressConflicts: number;
  /** Pings addressed to another id (an address reused by a different member). */
  misdirectedPings: number;
  /** Ticks that came so late that this host, not its peers, must have stalled. */
  stallsForgiven: number;
  /** Push-pull replies received (a join succeeded once one arrives). */
  pushPullReplies: number;
}

export class Swim {
  readonly config: SwimConfig;
  private readonly lifeguard: boolean;
  private readonly rng: Rng;
  private readonly table: MemberTable;
  private readonly view: ClusterView;
  private readonly awareness: HealthAwareness;
  private readonly prober: Prober;
  private readonly outbox: Outbox;
  private now: number;
  private lastTickAt: number;
  private nextGossipAt: number;
  private nextPushPullAt: number;
  private seq = 0;
  private leaveBroadcast: QueuedBroadcast | undefined;
  private readonly counters = { misdirectedPings: 0, stallsForgiven: 0, pushPullReplies: 0 };

  constructor(opts: SwimOptions) {
    this.config = validateConfig({ ...opts.config });
    this.lifeguard = lifeguardEnabled(this.config);
    this.rng = opts.rng;
    this.now = opts.now;
    this.lastTickAt = opts.now;
    const meta = { ...(opts.self.meta ?? {}) };
    this.checkMeta(meta);
    this.table = new MemberTable(opts.self.id, this.rng);
    const { id, address, incarnation = 0 } = opts.self;
    const self = { id, address, meta, incarnation, state: 'alive' as const, stateChangedAt: opts.now };
    this.table.add(self);
    this.outbox = new Outbox({ id, address }, this.config.maxPacketBytes,
      (n) => retransmitLimit(this.config, n), () => this.table.liveCount());
    this.awareness = new HealthAwareness(this.lifeguard ? this.config.awarenessMaxMultiplier : 1);
    const { config, lifeguard, awareness, table, rng, outbox } = this;
    this.view = new ClusterView({ config, lifeguard, awareness, outbox, now: () => this.now }, table, self);
    this.prober = new Prober({
      config, lifeguard, awareness, table, rng,
      nextSeq: () => this.nextSeq(),
      sendUdp: (to, messages) => this.outbox.udp(to, messages),
      suspect: (target, inc) => this.view.suspectFromProbe(target, inc),
    }, opts.now);
    // Random phases, so members started together do not gossip or sync in lockstep.
    this.nextGossipAt = opts.now + Math.floor(this.rng.next() * this.config.gossipIntervalMs);
    this.nextPushPullAt = opts.now + Math.floor(this.rng.next() * (this.config.pushPullIntervalMs || 1));
    // Our own alive message rides along with whatever we send first, so a seed spreads news of us.
    this.view.broadcastSelf();
  }

  get id(): string {
    return this.view.self.id;
  }

  get address(): string {
    return this.view.self.address;
  }

  get incarnation(): number {
    return this.view.self.incarnation;
  }

  private get leaving(): boolean {
    return this.view.leaving;
  }

  /** Lifeguard's local health score: 0 is healthy; timeouts are stretched by (score + 1). */
  get healthScore(): number {
    return this.awareness.score;
  }

  stats(): SwimStats {
    return { ...this.prober.stats, ...this.view.counters, ...this.counters };
  }

  /** Every known member, self included, ordered by id. */
  members(): MemberView[] {
    return [...this.table.records()].map(viewOf).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  member(id: string): MemberView | undefined {
    const r = this.table.get(id);
    return r ? viewOf(r) : undefined;
  }

  drainOutbox(): OutboundPacket[] {
    return this.outbox.drain();
  }

  drainEvents(): MemberEvent[] {
    return this.view.drainEvents();
  }

  /** The earliest time at which tick() has work to do. */
  nextDeadline(): number {
    let t = Math.min(this.prober.nextDeadline(!this.leaving), this.nextGossipAt);
    if (!this.leaving && this.config.pushPullIntervalMs > 0) t = Math.min(t, this.nextPushPullAt);
    return Math.min(t, this.view.nextSuspicionDeadline());
  }

  /** True once our leave has been gossiped as often as any broadcast is (or nobody is left to tell). */
  leaveDisseminated(): boolean {
    if (!this.leaving) return false;
    if (!this.leaveBroadcast || !this.outbox.isPending(this.leaveBroadcast)) return true;
    return ![...this.table.records()].some((r) => r.id !== this.id && r.state === 'alive');
  }

  tick(nowMs: number): void {
    const now = Math.max(nowMs, this.now);
    const gap = now - this.lastTickAt;
    this.now = now;
    this.lastTickAt = now;
    // The host ticks at least every gossip interval. A far longer gap means this process was stopped
    // (GC, SIGSTOP, an overloaded event loop): the silence we saw was ours, not our peers'.
    if (this.lifeguard && gap > Math.max(this.config.probeIntervalMs, 2 * this.config.gossipIntervalMs)) {
      this.forgiveStall(now);
    }
    this.prober.tick(now, !this.leaving);
    this.view.fireSuspicions(now);
    if (now >= this.nextGossipAt) {
      this.nextGossipAt = now + this.config.gossipIntervalMs;
      this.table.forgetDeadBefore(now - this.config.deadMemberRetentionMs);
      this.gossip(now);
    }
    if (!this.leaving && this.config.pushPullIntervalMs > 0 && now >= this.nextPushPullAt) {
      this.nextPushPullAt = now + pushPullIntervalFor(this.config, this.table.liveCount());
      this.pushPullRound();
    }
  }

  receive(fromAddr: string, packet: Packet): void {
    if (packet.from.id === this.id && packet.from.address === this.address) return;
    // Replies go to the sender's advertised address: for TCP the source port is an ephemeral one.
    const replyTo = packet.from.address || fromAddr;
    const acks: Message[] = [];
    for (const m of packet.messages) {
      switch (m.type) {
        case 'ping':
          if (m.target !== this.id) this.counters.misdirectedPings++;
          else acks.push({ type: 'ack', seq: m.seq });
          break;
        case 'ping-req':
          this.prober.onPingReq(replyTo, m, this.now);
          break;
        case 'ack':
          this.prober.onAck(m.seq);
          break;
        case 'nack':
          this.prober.onNack(m.seq);
          break;
        case 'alive':
        case 'suspect':
        case 'dead':
          this.view.apply(m, replyTo);
          break;
        case 'push-pull':
          for (const news of snapshotAsMessages(m.members, packet.from.id)) this.view.apply(news, undefined, true);
          if (m.reply) this.counters.pushPullReplies++;
          else this.sendPushPull(replyTo, true, m.join);
          break;
      }
    }
    // Acks go last, so a refutation provoked by this very packet (a buddy suspicion) rides back on them.
    if (acks.length > 0) this.outbox.udp(replyTo, acks);
  }

  /** Ask each seed for its full state over TCP; the replies make us known and teach us the cluster. */
  join(seedAddrs: readonly string[]): number {
    if (this.leaving) throw new Error('membership: cannot join after leave()');
    let sent = 0;
    for (const addr of new Set(seedAddrs)) {
      if (addr === this.address) continue;
      this.sendPushPull(addr, false, true);
      sent++;
    }
    return sent;
  }

  /** Announce a graceful departure. Probing stops; gossip continues so the news gets out. */
  leave(): void {
    if (this.leaving) return;
    this.prober.cancel(this.now);
    this.leaveBroadcast = this.view.leave();
  }

  updateMeta(meta: Meta): void {
    if (this.leaving) throw new Error('membership: cannot update meta after leave()');
    const copy = { ...meta };
    this.checkMeta(copy);
    this.view.updateSelfMeta(copy);
  }

  private forgiveStall(now: number): void {
    this.counters.stallsForgiven++;
    this.awareness.apply(1);
    this.prober.cancel(now);
    this.view.postponeSuspicions(now + this.config.probeIntervalMs);
  }

  // ---- dissemination ----

  private gossip(now: number): void {
    const targets = this.table.randomMembers(this.config.gossipNodes, (r) =>
      r.state === 'alive' || r.state === 'suspect' || (r.state === 'dead' && now - r.stateChangedAt < this.config.gossipToTheDeadMs));
    this.outbox.gossip(targets.map((t) => ({ address: t.address, dead: t.state === 'dead' })));
  }

  private pushPullRound(): void {
    const [peer] = this.table.randomMembers(1, (r) => r.state === 'alive');
    if (peer) this.sendPushPull(peer.address, false, false);
    // Also knock on one dead member's door: after a partition heals, this is how both sides find out.
    const [dead] = this.table.randomMembers(1, (r) => r.state === 'dead');
    if (dead) this.sendPushPull(dead.address, false, false);
  }

  private sendPushPull(to: string, reply: boolean, join: boolean): void {
    this.outbox.tcp(to, { type: 'push-pull', reply, join, members: snapshotOf(this.table.records()) });
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  private checkMeta(meta: Meta): void {
    const bytes = metaBytes(meta);
    if (bytes > this.config.maxMetaBytes) {
      throw new RangeError(`membership: meta is ${bytes} bytes, more than maxMetaBytes (${this.config.maxMetaBytes})`);
    }
  }
}

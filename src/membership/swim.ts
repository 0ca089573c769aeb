// Swim: one member of a SWIM gossip cluster with the Lifeguard refinements, as a pure state machine in
// the house style of src/raft — no sockets, timers, clock or randomness of its own. The host feeds it
// time (tick), packets (receive) and commands (join, leave, updateMeta), and collects what it produced:
// packets to send (drainOutbox) and member events (drainEvents). nextDeadline() says when to tick next.
//
// The incarnation rules live in this file, because every one of them touches the member table, the
// suspicion timers, the broadcast queue and the event stream at once:
//   alive(i)   about another member overrides anything it knows at a lower incarnation;
//   suspect(i) and dead(i) apply only at the current incarnation or above, and never to self:
//              a member told it is suspect or dead refutes with a higher incarnation;
//   dead(i) from the member itself is a graceful leave: `left`, never `dead`.

import type { Rng } from '../util/prng.ts';
import type { QueuedBroadcast } from './broadcast-queue.ts';
import { metaBytes } from './codec.ts';
import { lifeguardEnabled, pushPullIntervalFor, retransmitLimit, validateConfig, type SwimConfig } from './config.ts';
import { HealthAwareness } from './health-awareness.ts';
import { isDeadOrLeft, MemberTable, viewOf, type MemberRecord } from './member-table.ts';
import { Prober, type ProbeStats } from './prober.ts';
import { snapshotAsMessages, snapshotOf } from './push-pull.ts';
import { Outbox } from './outbox.ts';
import { newSuspicion, type Suspicion } from './suspicion.ts';
import type { MemberEvent, MemberEventType, MemberNews, MemberView, Message, Meta, OutboundPacket, Packet } from './types.ts';

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
}

type Alive = Extract<Message, { type: 'alive' }>;
type Suspect = Extract<Message, { type: 'suspect' }>;
type Dead = Extract<Message, { type: 'dead' }>;

export class Swim {
  readonly config: SwimConfig;
  private readonly lifeguard: boolean;
  private readonly rng: Rng;
  private readonly table: MemberTable;
  private readonly self: MemberRecord;
  private readonly awareness: HealthAwareness;
  private readonly prober: Prober;
  private readonly outbox: Outbox;
  private readonly suspicions = new Map<string, Suspicion>();
  private events: MemberEvent[] = [];
  private now: number;
  private lastTickAt: number;
  private nextGossipAt: number;
  private nextPushPullAt: number;
  private seq = 0;
  private leaving = false;
  private leaveBroadcast: QueuedBroadcast | undefined;
  private readonly counters = { refutations: 0, addressConflicts: 0, misdirectedPings: 0, stallsForgiven: 0 };

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
    this.self = { id, address, meta, incarnation, state: 'alive', stateChangedAt: opts.now };
    this.table.add(this.self);
    this.outbox = new Outbox({ id: this.self.id, address: this.self.address }, this.config.maxPacketBytes,
      (n) => retransmitLimit(this.config, n), () => this.table.liveCount());
    this.awareness = new HealthAwareness(this.lifeguard ? this.config.awarenessMaxMultiplier : 1);
    const { config, lifeguard, awareness, table, rng } = this;
    this.prober = new Prober({
      config, lifeguard, awareness, table, rng,
      nextSeq: () => this.nextSeq(),
      sendUdp: (to, messages) => this.outbox.udp(to, messages),
      suspect: (id, incarnation) => this.applySuspect({ type: 'suspect', id, incarnation, from: this.self.id }),
    }, opts.now);
    // Random phases, so members started together do not gossip or sync in lockstep.
    this.nextGossipAt = opts.now + Math.floor(this.rng.next() * this.config.gossipIntervalMs);
    this.nextPushPullAt = opts.now + Math.floor(this.rng.next() * (this.config.pushPullIntervalMs || 1));
    // Our own alive message rides along with whatever we send first, so a seed spreads news of us.
    this.broadcastAboutSelf();
  }

  get id(): string {
    return this.self.id;
  }

  get address(): string {
    return this.self.address;
  }

  get incarnation(): number {
    return this.self.incarnation;
  }

  /** Lifeguard's local health score: 0 is healthy; timeouts are stretched by (score + 1). */
  get healthScore(): number {
    return this.awareness.score;
  }

  stats(): SwimStats {
    return { ...this.prober.stats, ...this.counters };
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
    const out = this.events;
    this.events = [];
    return out;
  }

  /** The earliest time at which tick() has work to do. */
  nextDeadline(): number {
    let t = Math.min(this.prober.nextDeadline(!this.leaving), this.nextGossipAt);
    if (!this.leaving && this.config.pushPullIntervalMs > 0) t = Math.min(t, this.nextPushPullAt);
    for (const s of this.suspicions.values()) t = Math.min(t, s.firesAt);
    return t;
  }

  /** True once our leave has been gossiped as often as any broadcast is (or nobody is left to tell). */
  leaveDisseminated(): boolean {
    if (!this.leaving) return false;
    if (!this.leaveBroadcast || !this.outbox.isPending(this.leaveBroadcast)) return true;
    return ![...this.table.records()].some((r) => r.id !== this.self.id && r.state === 'alive');
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
    this.fireSuspicions(now);
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
    if (packet.from.id === this.self.id && packet.from.address === this.self.address) return;
    // Replies go to the sender's advertised address: for TCP the source port is an ephemeral one.
    const replyTo = packet.from.address || fromAddr;
    const acks: Message[] = [];
    for (const m of packet.messages) {
      switch (m.type) {
        case 'ping':
          if (m.target !== this.self.id) this.counters.misdirectedPings++;
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
          this.applyNews(m, replyTo);
          break;
        case 'push-pull':
          for (const news of snapshotAsMessages(m.members, packet.from.id)) this.applyNews(news, undefined, true);
          if (!m.reply) this.sendPushPull(replyTo, true, m.join);
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
      if (addr === this.self.address) continue;
      this.sendPushPull(addr, false, true);
      sent++;
    }
    return sent;
  }

  /** Announce a graceful departure. Probing stops; gossip continues so the news gets out. */
  leave(): void {
    if (this.leaving) return;
    this.leaving = true;
    this.prober.cancel(this.now);
    this.suspicions.clear();
    this.self.state = 'left';
    this.self.stateChangedAt = this.now;
    const msg: Dead = { type: 'dead', id: this.self.id, incarnation: this.self.incarnation, from: this.self.id };
    this.leaveBroadcast = this.broadcast(this.self.id, msg);
  }

  updateMeta(meta: Meta): void {
    if (this.leaving) throw new Error('membership: cannot update meta after leave()');
    const copy = { ...meta };
    this.checkMeta(copy);
    this.self.meta = copy;
    this.self.incarnation++;
    this.broadcastAboutSelf();
  }

  // ---- the incarnation rules ----

  /**
   * @param sender where the news came from, to answer a stale accusation of us directly
   * @param secondHand from a push-pull state dump: a suspicion there is hearsay — it neither confirms
   *   a running suspicion nor gets re-gossiped (echoes would reach the accuser as false confirmations)
   */
  private applyNews(m: MemberNews, sender?: string, secondHand = false): void {
    if (m.type === 'alive') this.applyAlive(m);
    else if (m.type === 'suspect') this.applySuspect(m, sender, secondHand);
    else this.applyDead(m, sender);
  }

  private applyAlive(m: Alive): void {
    if (m.id === this.self.id) {
      if (this.leaving || m.incarnation < this.self.incarnation) return;
      // Someone spreads a version of us we did not produce (an old life of this id, say): override it.
      const same = m.incarnation === this.self.incarnation && m.address === this.self.address && sameMeta(m.meta, this.self.meta);
      if (!same) this.refute(m.incarnation);
      return;
    }
    let r = this.table.get(m.id);
    if (!r) {
      r = { id: m.id, address: m.address, meta: m.meta, incarnation: m.incarnation, state: 'alive', stateChangedAt: this.now };
      this.table.add(r);
      this.broadcast(m.id, m);
      this.emit('join', r);
      return;
    }
    let reclaimed = false;
    if (r.address !== m.address) {
      const deadLongEnough = r.state === 'dead' && this.config.deadNodeReclaimMs > 0
        && this.now - r.stateChangedAt >= this.config.deadNodeReclaimMs;
      if (r.state !== 'left' && !deadLongEnough) {
        this.counters.addressConflicts++;
        return;
      }
      reclaimed = true;
    }
    if (!reclaimed && m.incarnation <= r.incarnation) return;
    this.suspicions.delete(m.id);
    this.broadcast(m.id, m);
    const before = r.state;
    const changed = r.address !== m.address || !sameMeta(r.meta, m.meta);
    r.incarnation = m.incarnation;
    r.address = m.address;
    r.meta = m.meta;
    if (r.state !== 'alive') {
      r.state = 'alive';
      r.stateChangedAt = this.now;
    }
    if (before === 'dead' || before === 'left') {
      this.table.add(r);
      this.emit('join', r);
      return;
    }
    if (before === 'suspect') this.emit('alive', r);
    if (changed) this.emit('update', r);
  }

  private applySuspect(m: Suspect, sender?: string, secondHand = false): void {
    const r = this.table.get(m.id);
    if (!r) return;
    if (m.incarnation < r.incarnation) return this.answerStaleAccusation(r, sender);
    const running = this.suspicions.get(m.id);
    if (running) {
      // Another member independently suspects it too: shorten the timeout and pass the news on.
      if (!secondHand && running.confirm(m.from)) this.broadcast(m.id, m);
      return;
    }
    if (r.state !== 'alive') return;
    if (r.id === this.self.id) {
      if (!this.leaving) this.refute(m.incarnation);
      return;
    }
    if (!secondHand) this.broadcast(m.id, m);
    r.incarnation = m.incarnation;
    r.state = 'suspect';
    r.stateChangedAt = this.now;
    this.suspicions.set(m.id, newSuspicion(this.config, this.lifeguard, this.table.liveCount(), m.from, this.now));
    // Check for ourselves soon: an independent failed probe is what confirms (or a good one what
    // refutes) another member's suspicion, and confirmations are what bring the timeout down.
    if (this.lifeguard && m.from !== this.self.id) this.table.probeNext(m.id);
    this.emit('suspect', r);
  }

  private applyDead(m: Dead, sender?: string): void {
    const r = this.table.get(m.id);
    if (!r) return;
    if (m.incarnation < r.incarnation) return this.answerStaleAccusation(r, sender);
    this.suspicions.delete(m.id);
    if (isDeadOrLeft(r)) return;
    if (r.id === this.self.id) {
      this.refute(m.incarnation);
      return;
    }
    this.broadcast(m.id, m);
    r.incarnation = m.incarnation;
    r.state = m.from === m.id ? 'left' : 'dead';
    r.stateChangedAt = this.now;
    this.emit(r.state === 'left' ? 'leave' : 'dead', r);
  }

  /**
   * Someone still accuses us at an incarnation we already refuted: our refutation missed them (its
   * broadcasts were spent elsewhere, or lost). Tell them directly instead of waiting for gossip.
   */
  private answerStaleAccusation(r: MemberRecord, sender: string | undefined): void {
    if (r !== this.self || sender === undefined || this.leaving) return;
    const s = this.self;
    this.outbox.udp(sender, [{ type: 'alive', id: s.id, address: s.address, incarnation: s.incarnation, meta: s.meta }]);
  }

  private refute(accusedIncarnation: number): void {
    this.self.incarnation = Math.max(this.self.incarnation + 1, accusedIncarnation + 1);
    this.counters.refutations++;
    // Being accused is a hint that we are the slow one (Lifeguard).
    if (this.lifeguard) this.awareness.apply(1);
    this.broadcastAboutSelf();
  }

  private fireSuspicions(now: number): void {
    for (const [id, s] of this.suspicions) {
      if (now < s.firesAt) continue;
      const r = this.table.get(id);
      if (!r || r.state !== 'suspect') {
        this.suspicions.delete(id);
        continue;
      }
      // Nobody agreed, and we know we are unhealthy: our evidence is the weakest there is. Say it again
      // (so the suspect hears and refutes) and wait once more before condemning anyone on it.
      if (this.lifeguard && s.expected > 0 && s.confirmationCount === 0 && this.awareness.score > 0 && s.extend(now)) {
        this.broadcast(id, { type: 'suspect', id, incarnation: r.incarnation, from: this.self.id });
        this.table.probeNext(id);
        continue;
      }
      this.suspicions.delete(id);
      this.applyDead({ type: 'dead', id, incarnation: r.incarnation, from: this.self.id });
    }
  }

  private forgiveStall(now: number): void {
    this.counters.stallsForgiven++;
    this.awareness.apply(1);
    this.prober.cancel(now);
    // Refutations may be waiting unread in our socket buffer: read them before condemning anyone.
    for (const s of this.suspicions.values()) s.postpone(now + this.config.probeIntervalMs);
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

  private broadcast(key: string, m: Message): QueuedBroadcast {
    return this.outbox.broadcast(key, m);
  }

  private broadcastAboutSelf(): void {
    const s = this.self;
    this.broadcast(s.id, { type: 'alive', id: s.id, address: s.address, incarnation: s.incarnation, meta: s.meta });
  }

  private emit(type: MemberEventType, r: MemberRecord): void {
    this.events.push({ type, member: viewOf(r) });
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

function sameMeta(a: Meta, b: Meta): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

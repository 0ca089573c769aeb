// One member's view of the cluster, changed only through SWIM's incarnation rules:
//   alive(i)   about another member overrides anything known about it at a lower incarnation;
//   suspect(i) and dead(i) apply only at the current incarnation or above, and never to self:
//              a member told it is suspect or dead refutes with a higher incarnation;
//   dead(i) from the member itself is a graceful leave: `left`, never `dead`.
// Each rule touches the member table, the suspicion timers, the broadcast queue and the event stream at
// once, which is why they live together here.

import type { SwimConfig } from './config.ts';
import type { HealthAwareness } from './health-awareness.ts';
import { isDeadOrLeft, viewOf, type MemberRecord, type MemberTable } from './member-table.ts';
import type { Outbox } from './outbox.ts';
import { newSuspicion, type Suspicion } from './suspicion.ts';
import type { MemberEvent, MemberEventType, MemberNews, Message, Meta } from './types.ts';

type Alive = Extract<Message, { type: 'alive' }>;
type Suspect = Extract<Message, { type: 'suspect' }>;
type Dead = Extract<Message, { type: 'dead' }>;

export interface ViewContext {
  readonly config: SwimConfig;
  readonly lifeguard: boolean;
  readonly awareness: HealthAwareness;
  readonly outbox: Outbox;
  now(): number;
}

export class ClusterView {
  leaving = false;
  readonly counters = { refutations: 0, addressConflicts: 0 };
  private readonly suspicions = new Map<string, Suspicion>();
  private events: MemberEvent[] = [];

  constructor(
    private readonly ctx: ViewContext,
    readonly table: MemberTable,
    readonly self: MemberRecord,
  ) {}

  drainEvents(): MemberEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  nextSuspicionDeadline(): number {
    let t = Infinity;
    for (const s of this.suspicions.values()) t = Math.min(t, s.firesAt);
    return t;
  }

  /**
   * @param sender where the news came from, to answer a stale accusation of us directly
   * @param secondHand from a push-pull state dump: a suspicion there is hearsay — it neither confirms
   *   a running suspicion nor gets re-gossiped (echoes would reach the accuser as false confirmations)
   */
  apply(m: MemberNews, sender?: string, secondHand = false): void {
    if (m.type === 'alive') this.applyAlive(m);
    else if (m.type === 'suspect') this.applySuspect(m, sender, secondHand);
    else this.applyDead(m, sender);
  }

  /** Our own probe of `id` failed. */
  suspectFromProbe(id: string, incarnation: number): void {
    this.applySuspect({ type: 'suspect', id, incarnation, from: this.self.id });
  }

  broadcastSelf(): void {
    const s = this.self;
    this.ctx.outbox.broadcast(s.id, { type: 'alive', id: s.id, address: s.address, incarnation: s.incarnation, meta: s.meta });
  }

  updateSelfMeta(meta: Meta): void {
    this.self.meta = meta;
    this.self.incarnation++;
    this.broadcastSelf();
  }

  /** Mark ourselves left and queue the announcement (a dead message from ourselves). */
  leave(): ReturnType<Outbox['broadcast']> {
    this.leaving = true;
    this.suspicions.clear();
    this.self.state = 'left';
    this.self.stateChangedAt = this.ctx.now();
    const s = this.self;
    return this.ctx.outbox.broadcast(s.id, { type: 'dead', id: s.id, incarnation: s.incarnation, from: s.id });
  }

  fireSuspicions(now: number): void {
    for (const [id, s] of this.suspicions) {
      if (now < s.firesAt) continue;
      const r = this.table.get(id);
      if (!r || r.state !== 'suspect') {
        this.suspicions.delete(id);
        continue;
      }
      // Nobody agreed, and we know we are unhealthy: our evidence is the weakest there is. Say it again
      // (so the suspect hears and refutes) and wait longer before condemning anyone on it.
      if (this.ctx.lifeguard && s.expected > 0 && s.confirmationCount === 0 && this.ctx.awareness.score > 0 && s.extend(now)) {
        this.ctx.outbox.broadcast(id, { type: 'suspect', id, incarnation: r.incarnation, from: this.self.id });
        this.table.probeNext(id);
        continue;
      }
      this.suspicions.delete(id);
      this.applyDead({ type: 'dead', id, incarnation: r.incarnation, from: this.self.id });
    }
  }

  /** We stalled: refutations may be waiting unread in our socket buffer. Read them before condemning anyone. */
  postponeSuspicions(until: number): void {
    for (const s of this.suspicions.values()) s.postpone(until);
  }

  private applyAlive(m: Alive): void {
    const now = this.ctx.now();
    if (m.id === this.self.id) {
      if (this.leaving || m.incarnation < this.self.incarnation) return;
      // Someone spreads a version of us we did not produce (an old life of this id, say): override it.
      const same = m.incarnation === this.self.incarnation && m.address === this.self.address && sameMeta(m.meta, this.self.meta);
      if (!same) this.refute(m.incarnation);
      return;
    }
    let r = this.table.get(m.id);
    if (!r) {
      r = { id: m.id, address: m.address, meta: m.meta, incarnation: m.incarnation, state: 'alive', stateChangedAt: now };
      this.table.add(r);
      this.ctx.outbox.broadcast(m.id, m);
      this.emit('join', r);
      return;
    }
    let reclaimed = false;
    if (r.address !== m.address) {
      const { deadNodeReclaimMs } = this.ctx.config;
      const deadLongEnough = r.state === 'dead' && deadNodeReclaimMs > 0 && now - r.stateChangedAt >= deadNodeReclaimMs;
      if (r.state !== 'left' && !deadLongEnough) {
        this.counters.addressConflicts++;
        return;
      }
      reclaimed = true;
    }
    if (!reclaimed && m.incarnation <= r.incarnation) return;
    this.suspicions.delete(m.id);
    this.ctx.outbox.broadcast(m.id, m);
    const before = r.state;
    const changed = r.address !== m.address || !sameMeta(r.meta, m.meta);
    r.incarnation = m.incarnation;
    r.address = m.address;
    r.meta = m.meta;
    if (r.state !== 'alive') {
      r.state = 'alive';
      r.stateChangedAt = now;
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
      if (!secondHand && running.confirm(m.from)) this.ctx.outbox.broadcast(m.id, m);
      return;
    }
    if (r.state !== 'alive') return;
    if (r.id === this.self.id) {
      if (!this.leaving) this.refute(m.incarnation);
      return;
    }
    if (!secondHand) this.ctx.outbox.broadcast(m.id, m);
    const { config, lifeguard } = this.ctx;
    r.incarnation = m.incarnation;
    r.state = 'suspect';
    r.stateChangedAt = this.ctx.now();
    this.suspicions.set(m.id, newSuspicion(config, lifeguard, this.table.liveCount(), m.from, r.stateChangedAt));
    // Check for ourselves soon: an independent failed probe is what confirms (or a good one what
    // refutes) another member's suspicion, and confirmations are what bring the timeout down.
    if (lifeguard && m.from !== this.self.id) this.table.probeNext(m.id);
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
    this.ctx.outbox.broadcast(m.id, m);
    r.incarnation = m.incarnation;
    r.state = m.from === m.id ? 'left' : 'dead';
    r.stateChangedAt = this.ctx.now();
    this.emit(r.state === 'left' ? 'leave' : 'dead', r);
  }

  /**
   * Someone still accuses us at an incarnation we already refuted: our refutation missed them (its
   * broadcasts were spent elsewhere, or lost). Tell them directly instead of waiting for gossip.
   */
  private answerStaleAccusation(r: MemberRecord, sender: string | undefined): void {
    if (r !== this.self || sender === undefined || this.leaving) return;
    const s = this.self;
    this.ctx.outbox.udp(sender, [{ type: 'alive', id: s.id, address: s.address, incarnation: s.incarnation, meta: s.meta }]);
  }

  private refute(accusedIncarnation: number): void {
    this.self.incarnation = Math.max(this.self.incarnation + 1, accusedIncarnation + 1);
    this.counters.refutations++;
    // Being accused is a hint that we are the slow one (Lifeguard).
    if (this.ctx.lifeguard) this.ctx.awareness.apply(1);
    this.broadcastSelf();
  }

  private emit(type: MemberEventType, r: MemberRecord): void {
    this.events.push({ type, member: viewOf(r) });
  }
}

function sameMeta(a: Meta, b: Meta): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

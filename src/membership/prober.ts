// SWIM's failure detector, one probe at a time: ping the next member of the ring; if no ack within the
// probe timeout, ask k other members to ping it for us (ping-req); if still no ack by the end of the
// probe interval, suspect it. Also the relay side: pinging a target on another member's behalf and
// forwarding the ack, or a Lifeguard nack when the target stays silent.

import type { Rng } from '../util/prng.ts';
import type { SwimConfig } from './config.ts';
import type { HealthAwareness } from './health-awareness.ts';
import type { MemberTable } from './member-table.ts';
import type { Message } from './types.ts';

/**
 * A relay sends its nack this far into its own probe timeout, so the nack reaches the prober before the
 * prober's probe interval ends (prober: timeout + relay wait + a round trip < interval).
 */
const NACK_AT_FRACTION_OF_TIMEOUT = 0.8;

/** What the prober needs from the member it works for. */
export interface ProbeContext {
  readonly config: SwimConfig;
  readonly lifeguard: boolean;
  readonly awareness: HealthAwareness;
  readonly table: MemberTable;
  readonly rng: Rng;
  nextSeq(): number;
  sendUdp(to: string, messages: Message[]): void;
  /** The probe of `id` (known at `incarnation` when the probe began) failed. */
  suspect(id: string, incarnation: number): void;
}

export interface ProbeStats {
  probes: number;
  probesFailed: number;
  indirectProbes: number;
  nacksReceived: number;
  relayed: number;
}

interface PendingProbe {
  seq: number;
  targetId: string;
  targetAddress: string;
  incarnation: number;
  indirectAt: number;
  deadline: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  requesterAddress: string;
  requesterSeq: number;
  nackAt: number | undefined;
  expiresAt: number;
}

export class Prober {
  private pending: PendingProbe | undefined;
  private nextProbeAt: number;
  private readonly relays = new Map<number, Relay>();
  readonly stats: ProbeStats = { probes: 0, probesFailed: 0, indirectProbes: 0, nacksReceived: 0, relayed: 0 };

  constructor(private readonly ctx: ProbeContext, now: number) {
    // A random phase, so members started together do not probe in lockstep.
    this.nextProbeAt = now + Math.floor(ctx.rng.next() * ctx.config.probeIntervalMs);
  }

  nextDeadline(active: boolean): number {
    let t = Infinity;
    const p = this.pending;
    if (p) t = Math.min(t, p.indirectSent ? p.deadline : p.indirectAt);
    else if (active) t = this.nextProbeAt;
    for (const r of this.relays.values()) t = Math.min(t, r.nackAt ?? r.expiresAt);
    return t;
  }

  tick(now: number, active: boolean): void {
    const p = this.pending;
    if (p && !p.indirectSent && now >= p.indirectAt) this.sendIndirect(p);
    if (p && now >= p.deadline) {
      this.pending = undefined;
      this.fail(p);
    }
    for (const [seq, r] of this.relays) {
      if (r.nackAt !== undefined && now >= r.nackAt) {
        r.nackAt = undefined;
        this.ctx.sendUdp(r.requesterAddress, [{ type: 'nack', seq: r.requesterSeq }]);
      }
      if (now >= r.expiresAt) this.relays.delete(seq);
    }
    if (active && !this.pending && now >= this.nextProbeAt) this.start(now);
  }

  /** Abandon the probe in flight without blaming its target (we leave, or we were the one stalled). */
  cancel(now: number): void {
    this.pending = undefined;
    this.nextProbeAt = Math.max(this.nextProbeAt, now);
  }

  onAck(seq: number): void {
    const p = this.pending;
    if (p && p.seq === seq) {
      this.pending = undefined;
      if (this.ctx.lifeguard) this.ctx.awareness.apply(-1);
      return;
    }
    const r = this.relays.get(seq);
    if (r) {
      this.relays.delete(seq);
      this.ctx.sendUdp(r.requesterAddress, [{ type: 'ack', seq: r.requesterSeq }]);
    }
  }

  onNack(seq: number): void {
    const p = this.pending;
    if (p && p.seq === seq) {
      p.nacks++;
      this.stats.nacksReceived++;
    }
  }

  onPingReq(requesterAddress: string, req: Extract<Message, { type: 'ping-req' }>, now: number): void {
    const seq = this.ctx.nextSeq();
    const timeout = this.ctx.config.probeTimeoutMs;
    this.relays.set(seq, {
      requesterAddress,
      requesterSeq: req.seq,
      nackAt: req.wantNack ? now + Math.floor(timeout * NACK_AT_FRACTION_OF_TIMEOUT) : undefined,
      expiresAt: now + timeout,
    });
    this.stats.relayed++;
    this.ctx.sendUdp(req.targetAddress, [{ type: 'ping', seq, target: req.target }]);
  }

  private start(now: number): void {
    const { config, awareness, table } = this.ctx;
    // An unhealthy member probes less often and waits longer: its missed acks are likely its own fault.
    const interval = awareness.scale(config.probeIntervalMs);
    this.nextProbeAt = now + interval;
    const target = table.nextProbeTarget();
    if (!target) return;
    const seq = this.ctx.nextSeq();
    this.pending = {
      seq,
      targetId: target.id,
      targetAddress: target.address,
      incarnation: target.incarnation,
      indirectAt: now + awareness.scale(config.probeTimeoutMs),
      deadline: now + interval,
      indirectSent: false,
      expectedNacks: 0,
      nacks: 0,
    };
    this.stats.probes++;
    const messages: Message[] = [{ type: 'ping', seq, target: target.id }];
    // Lifeguard's buddy system: tell a suspect directly, so it can refute without waiting for gossip.
    if (target.state === 'suspect' && this.ctx.lifeguard) {
      messages.push({ type: 'suspect', id: target.id, incarnation: target.incarnation, from: table.selfId });
    }
    this.ctx.sendUdp(target.address, messages);
  }

  private sendIndirect(p: PendingProbe): void {
    p.indirectSent = true;
    const relays = this.ctx.table.randomMembers(
      this.ctx.config.indirectChecks,
      (r) => r.state === 'alive' && r.id !== p.targetId,
    );
    const wantNack = this.ctx.lifeguard;
    for (const relay of relays) {
      this.stats.indirectProbes++;
      this.ctx.sendUdp(relay.address, [
        { type: 'ping-req', seq: p.seq, target: p.targetId, targetAddress: p.targetAddress, wantNack },
      ]);
    }
    p.expectedNacks = wantNack ? relays.length : 0;
  }

  private fail(p: PendingProbe): void {
    this.stats.probesFailed++;
    if (this.ctx.lifeguard) {
      // Relays that answered with a nack prove our own network path works; each missing nack is
      // evidence that we are the problem. Without relays, any failed probe counts against us.
      this.ctx.awareness.apply(p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1);
    }
    this.ctx.suspect(p.targetId, p.incarnation);
  }
}

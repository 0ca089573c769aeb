// Couples gossip to Raft membership. Every node runs one; only the Raft leader acts: on each gossip
// event and every interval it asks the policy (membership-plan.ts) for one change and proposes it.
// It also performs a graceful leave: leadership handed off, own removal committed, then the caller
// announces the departure over gossip.

import type { Logger } from 'pino';
import { RaftError } from '../raft/types.ts';
import { planMembershipChange, type GossipMember, type GossipState } from './membership-plan.ts';
import type { RaftGroup } from './raft-group.ts';

/** What the controller needs from the gossip layer. */
export interface GossipView {
  members(): Array<{ id: string; state: GossipState; meta: Record<string, string> }>;
}

export interface ControllerOptions {
  self: string;
  group: RaftGroup;
  gossip: GossipView;
  targetVoters: number;
  /** Each member's Raft address as the committed membership gives it. */
  addressOf: (id: string) => string | undefined;
  deadNodeTimeoutMs: number;
  intervalMs: number;
  logger: Logger;
  now?: () => number;
  /** Whether a change about this member may be proposed now (the data shards have followed the previous one). */
  mayChange?: (node: string) => boolean;
}

/** A learner this close to the leader's last index may be promoted. */
const MAX_PROMOTION_LAG = 1000;

export class MembershipController {
  /** When each member entered its current gossip state, as this node observed it. */
  private readonly since = new Map<string, { state: GossipState; at: number }>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly o: ControllerOptions) {
    this.now = o.now ?? Date.now;
    this.timer = setInterval(() => this.evaluate(), o.intervalMs);
    this.timer.unref();
  }

  /** Call on every gossip event; also runs on its own interval. */
  evaluate(): void {
    const gossip = this.observe();
    const st = this.o.group.node.status();
    if (st.role !== 'leader' || !st.progress) return;
    const change = planMembershipChange({
      self: this.o.self,
      conf: this.o.group.node.confState(),
      lagOf: (id) => st.lastIndex - (st.progress?.[id]?.match ?? 0),
      gossip,
      now: this.now(),
      targetVoters: this.o.targetVoters,
      deadNodeTimeoutMs: this.o.deadNodeTimeoutMs,
      maxPromotionLag: MAX_PROMOTION_LAG,
      addressOf: this.o.addressOf,
    });
    if (!change || (change.type !== 'update' && this.o.mayChange?.(change.node) === false)) return;
    try {
      this.o.group.node.proposeConfChange(change);
      this.o.logger.info({ change }, 'proposed a membership change');
    } catch (e) {
      // Another change is still pending, or leadership moved: the next evaluation tries again.
      if (!(e instanceof RaftError)) throw e;
    }
  }

  private observe(): GossipMember[] {
    const t = this.now();
    return this.o.gossip.members().map((m) => {
      const prev = this.since.get(m.id);
      if (!prev || prev.state !== m.state) this.since.set(m.id, { state: m.state, at: t });
      return { id: m.id, state: m.state, since: this.since.get(m.id)!.at, raftAddr: m.meta.raft };
    });
  }

  /**
   * Leave the Raft group gracefully: hand leadership off, then propose our own removal and wait until it
   * is applied here (or the timeout passes). Returns whether the removal was applied.
   */
  async leave(timeoutMs: number): Promise<boolean> {
    const group = this.o.group;
    await group.handOffLeadership(timeoutMs / 2);
    const deadline = this.now() + timeoutMs;
    // The leader defers a forwarded change until it can take it, so ask again only when leadership moves
    // (a new leader never saw the request) or after a second (the request may have been lost on the way).
    let askedLeader = '';
    let askedAt = 0;
    while (this.now() < deadline) {
      const conf = group.node.confState();
      if (![...conf.voters, ...conf.learners].includes(this.o.self)) return true;
      const leader = group.node.status().leader;
      if (leader && (leader !== askedLeader || this.now() - askedAt >= 1000) && this.o.mayChange?.(this.o.self) !== false) {
        try {
          group.node.proposeConfChange({ type: 'remove', node: this.o.self });
          askedLeader = leader;
          askedAt = this.now();
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

// Keeps the shards this node leads in step with the cluster: every few ticks, for each of them, the one
// membership change or leadership transfer that nextShardStep() (shard-steps.ts) asks for. Only leaders
// act, and each acts on its own shard, so no two nodes ever change one shard's membership at once.

import type { Logger } from 'pino';
import { RaftError, type ConfState } from '../raft/types.ts';
import type { RaftGroup } from './raft-group.ts';
import { catchingUp, nextShardStep, type ShardProgress } from './shard-steps.ts';

export interface StewardOptions {
  self: string;
  /** The members shard `i` should have (the shard map's replicas, all voters), and its preferred leader. */
  want: (i: number) => { conf: ConfState; preferred?: string } | undefined;
  /** The shards this node hosts, by shard number (undefined: not hosted here). */
  shards: () => ReadonlyArray<RaftGroup | undefined>;
  intervalMs: number;
  /** A learner this close to the leader's last index is promoted. */
  maxPromotionLag: number;
  /** A shard's leadership is handed over at most once per this long (a transfer that fails is not retried at once). */
  transferBackoffMs: number;
  /** At most this many shards led here catch a new member up at once (each by log or snapshot), so a join does not start them all together. */
  maxCatchingUp: number;
  logger: Logger;
}

export class ShardSteward {
  private readonly timer: NodeJS.Timeout;
  private readonly lastTransfer = new Map<number, number>();
  /** The steps this node proposed as a shard's leader, by kind (a metric). */
  readonly steps = { addLearner: 0, addVoter: 0, remove: 0, transfer: 0 };

  constructor(private readonly o: StewardOptions) {
    this.timer = setInterval(() => this.runOnce(), o.intervalMs);
    this.timer.unref();
  }

  /** One pass over the shards this node leads. */
  runOnce(now = Date.now()): void {
    const shards = this.o.shards();
    const leads = (g: RaftGroup | undefined): g is RaftGroup => g !== undefined && g.node.raft.role === 'leader';
    let busy = shards.filter((g, i) => leads(g) && catchingUp(this.o.want(i)?.conf, g.node.confState())).length;
    for (let i = 0; i < shards.length; i++) {
      const group = shards[i];
      const target = this.o.want(i);
      if (!leads(group) || !target) continue;
      const want = target.conf;
      const st = group.node.status();
      const progress: Record<string, ShardProgress> = {};
      for (const [id, pr] of Object.entries(st.progress ?? {})) progress[id] = { match: pr.match, recentActive: pr.recentActive };
      const step = nextShardStep({
        self: this.o.self,
        want,
        have: group.node.confState(),
        progress,
        lastIndex: st.lastIndex,
        maxPromotionLag: this.o.maxPromotionLag,
        preferred: target.preferred,
        mayAddLearner: busy < this.o.maxCatchingUp,
      });
      if (!step) continue;
      try {
        if ('change' in step) {
          group.node.proposeConfChange(step.change);
          this.steps[step.change.type as 'addLearner' | 'addVoter' | 'remove']++;
          if (step.change.type === 'addLearner' && want.voters.includes(step.change.node)) busy++;
          this.o.logger.info({ shard: i, change: step.change }, 'shard membership change proposed');
        } else if (now - (this.lastTransfer.get(i) ?? -Infinity) >= this.o.transferBackoffMs && !st.leadTransferee) {
          this.lastTransfer.set(i, now);
          group.node.transferLeader(step.transferTo);
          this.steps.transfer++;
          this.o.logger.debug({ shard: i, to: step.transferTo }, 'shard leadership handed over');
        }
      } catch (e) {
        // Another change still pending, or leadership lost meanwhile: the next pass looks again.
        if (!(e instanceof RaftError)) throw e;
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

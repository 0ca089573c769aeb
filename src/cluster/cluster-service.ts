// Cluster status and membership changes over the node's metadata Raft group (g0); status and readiness also
// cover the data shards.

import { RaftError } from '../raft/types.ts';
import { ConcordError } from '../util/errors.ts';
import type { ClusterService, ClusterStatus, NodeStatus, ShardMapView } from './types.ts';
import type { NodeConfig } from './config.ts';
import type { RaftGroup } from './raft-group.ts';
import type { PeerStatsSource } from './peer-stats.ts';
import { GROUP } from './data-dir.ts';
import { shardFollows } from './shard-steps.ts';
import { moveState, shardView, type RebalanceStatus, type ShardView } from './shard-view.ts';

/** A view of a shard hosted elsewhere older than this does not count for the membership gate. */
const GATE_VIEW_MAX_AGE_MS = 3000;
/** The status asks the replicas of shards hosted elsewhere again when its last answers are older than this. */
const STATUS_VIEW_MAX_AGE_MS = 1000;
/** The status still shows a view this old when the latest question got no answer (older: the shard shows as unseen). */
const STATUS_VIEW_SHOWN_MS = 3000;

/** The shards hosted elsewhere, as their replicas answered (shard-survey.ts), by shard number. */
export interface ShardsElsewhere {
  refresh(maxAgeMs: number): Promise<void>;
  get(shard: number, maxAgeMs: number): { view: ShardView; fromLeader: boolean } | undefined;
}

export class RaftClusterService implements ClusterService {
  constructor(
    private readonly config: NodeConfig,
    private readonly group: RaftGroup,
    private readonly addresses: Map<string, string>,
    private readonly transport: PeerStatsSource,
    /** Where this node's Raft transport actually listens. */
    private readonly selfRaftAddr: string,
    /** The gossip layer, when the node runs one (it starts after this service). */
    private readonly gossip: () => { members(): Array<{ id: string; state: string; meta: Record<string, string> }> } | undefined,
    private readonly placement: {
      /** The data shards this node runs (with one shard, the metadata group itself); empty until known. */
      running: () => ReadonlyArray<{ id: string; group: RaftGroup; size(): { keys: number; bytes: number } }>;
      /** The shard map in force here; undefined with one shard. */
      map: () => ShardMapView | undefined;
      /** How the shards not hosted here stand; undefined with one shard. */
      elsewhere?: ShardsElsewhere;
    },
  ) {}

  private shards() {
    return this.placement.running();
  }

  async status(): Promise<ClusterStatus> {
    if (this.placement.map()) await this.placement.elsewhere?.refresh(STATUS_VIEW_MAX_AGE_MS);
    const st = this.group.node.status();
    const conf = this.group.node.confState();
    const peers = this.transport.stats().peers;
    const gossipOf = new Map((this.gossip()?.members() ?? []).map((m) => [m.id, m]));
    const nodes: NodeStatus[] = [...conf.voters, ...conf.learners].map((id) => {
      const self = id === this.config.nodeId;
      const pr = st.progress?.[id];
      return {
        id,
        raftAddr: self ? this.selfRaftAddr : (this.addresses.get(id) ?? ''),
        httpAddr: self ? `${this.config.httpAddr.host}:${this.config.httpAddr.port}` : undefined,
        role: self ? st.role : id === st.leader ? 'leader' : conf.learners.includes(id) ? 'learner' : 'follower',
        term: st.term,
        commitIndex: self ? st.commit : (pr?.match ?? 0),
        appliedIndex: self ? st.applied : (pr?.match ?? 0),
        gossipState: gossipOf.get(id)?.state ?? (self || !this.gossip() ? 'alive' : 'unknown'),
        voter: conf.voters.includes(id),
        reachable: self || (peers[id]?.connected ?? false),
      };
    });
    // Members gossip knows but Raft does not yet: joining, about to be added as learners.
    for (const m of gossipOf.values()) {
      if (nodes.some((n) => n.id === m.id) || (m.state !== 'alive' && m.state !== 'suspect')) continue;
      nodes.push({ id: m.id, raftAddr: m.meta.raft ?? '', httpAddr: m.meta.http, role: 'joining', term: st.term, commitIndex: 0, appliedIndex: 0, gossipState: m.state, voter: false, reachable: false });
    }
    return {
      clusterId: this.config.clusterId,
      self: this.config.nodeId,
      leader: st.leader || null,
      term: st.term,
      nodes,
      ...this.shardStatus(conf),
    };
  }

  private shardStatus(conf: { voters: string[]; learners: string[] }): Pick<ClusterStatus, 'shards' | 'shardMap' | 'rebalance'> {
    const map = this.placement.map();
    const running = new Map(this.shards().map((s) => [s.id, s]));
    const self = this.config.nodeId;
    const shown = (v: ShardView, want: { voters: string[]; learners: string[] }) => {
      const { seenFrom: _, role: __, ...rest } = v;
      return { ...rest, following: shardFollows(want, v) };
    };
    if (!map) return { shards: [...running.values()].map((r) => ({ id: r.id, ...shown(shardView(self, r.group, r.size()), conf) })) };
    const rebalance: RebalanceStatus = { epoch: map.epoch, settled: 0, planned: 0, running: 0, unknown: 0 };
    const shards = map.shards.map(({ id, replicas }, i) => {
      const r = running.get(id);
      const view = r ? shardView(self, r.group, r.size()) : this.placement.elsewhere?.get(i, STATUS_VIEW_SHOWN_MS)?.view;
      if (!view) {
        rebalance.unknown++;
        return { id, leader: null, voters: [], learners: [], replicas, hosted: false };
      }
      const move = moveState(replicas, view);
      rebalance[move]++;
      return { ...shown(view, { voters: replicas, learners: [] }), id, replicas, hosted: r !== undefined, ...(r ? {} : { seenFrom: view.seenFrom }), move };
    });
    return { shards, shardMap: { epoch: map.epoch, members: map.members, replicas: map.replicas }, rebalance };
  }

  private propose(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof RaftError && e.code === 'not-leader') throw new ConcordError('unavailable', 'send membership changes to the leader', 1);
      if (e instanceof RaftError) throw new ConcordError(e.code === 'invalid' ? 'bad-request' : 'unavailable', e.message, 1);
      throw e;
    }
  }

  async addNode(id: string, raftAddr: string, opts: { learner?: boolean } = {}): Promise<ClusterStatus> {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new ConcordError('bad-request', 'node id must be 1-64 characters of [A-Za-z0-9_.-]');
    if (!/^[^:\s]+:\d{1,5}$/.test(raftAddr)) throw new ConcordError('bad-request', 'address must be host:port');
    if (!opts.learner) this.refuseQuorumLoss([...this.group.node.confState().voters, id], 'adding');
    this.refuseWhileShardsFollow(id);
    this.propose(() => this.group.node.proposeConfChange({ type: opts.learner ? 'addLearner' : 'addVoter', node: id, context: raftAddr }));
    await this.appliedWhen((c) => (opts.learner ? c.learners : c.voters).includes(id));
    return this.status();
  }

  /** Removing the leader is fine: the leader hands over first and its successor carries it out. */
  async removeNode(id: string): Promise<ClusterStatus> {
    const conf = this.group.node.confState();
    if (![...conf.voters, ...conf.learners].includes(id)) throw new ConcordError('not-found', `${id} is not a member`);
    if (conf.voters.includes(id)) this.refuseQuorumLoss(conf.voters.filter((v) => v !== id), 'removing');
    this.refuseWhileShardsFollow(id);
    this.propose(() => this.group.node.proposeConfChange({ type: 'remove', node: id }));
    await this.appliedWhen((c) => !c.voters.includes(id) && !c.learners.includes(id));
    return this.status();
  }

  /** Answer only once the change is applied here, so success means done. */
  private async appliedWhen(done: (c: { voters: string[]; learners: string[] }) => boolean): Promise<void> {
    const deadline = Date.now() + this.config.requestTimeoutMs;
    while (!done(this.group.node.confState())) {
      if (Date.now() > deadline) {
        throw new ConcordError('timeout', `the membership change was not applied within ${this.config.requestTimeoutMs} ms (another change in progress, or no quorum)`);
      }
      await new Promise((r) => setTimeout(r, this.config.tickMs / 2));
    }
  }

  /**
   * What has not yet followed the metadata group's last membership change, leaving `id` aside: the shard map
   * (while the one committed in the metadata group is planned for other members) and the shards whose
   * membership differs from the map's (shardFollows): those hosted here as this copy sees them, the others as
   * their leaders last answered (a shard whose leader has not answered lately counts as behind).
   */
  shardsBehind(id: string): string[] {
    const conf = this.group.node.confState();
    const map = this.placement.map();
    if (!map) return this.shards().filter((s) => !shardFollows(conf, s.group.node.confState(), id)).map((s) => s.id);
    const members = [...conf.voters, ...conf.learners].filter((m) => m !== id).sort();
    const planned = (map.committedMembers ?? []).filter((m) => m !== id);
    const behind = members.length === planned.length && members.every((m, i) => m === planned[i]) ? [] : ['the shard map'];
    const running = new Map(this.shards().map((s) => [s.id, s]));
    map.shards.forEach(({ id: shard, replicas }, i) => {
      const want = { voters: replicas, learners: [] };
      const here = running.get(shard);
      if (here) {
        if (!shardFollows(want, here.group.node.confState(), id)) behind.push(shard);
        return;
      }
      const seen = this.placement.elsewhere?.get(i, GATE_VIEW_MAX_AGE_MS);
      if (!seen?.fromLeader) behind.push(`${shard} (no word from its leader)`);
      else if (!shardFollows(want, seen.view, id)) behind.push(shard);
    });
    return behind;
  }

  /** One membership change at a time across the shards too (shardFollows says why). */
  private refuseWhileShardsFollow(id: string): void {
    const behind = this.shardsBehind(id);
    if (behind.length > 0) {
      throw new ConcordError('unavailable', `the shards are still taking the last membership change (${behind.join(', ')} behind); retry shortly`, 1);
    }
  }

  /**
   * Refuse a change after which the voters known to be up would not be a majority (etcd's strict
   * reconfiguration check). Only the leader knows who answered it lately, so only the leader checks.
   * Growing a single-node cluster is always allowed: it is how clusters start.
   */
  private refuseQuorumLoss(newVoters: string[], doing: string): void {
    const current = this.group.node.confState().voters;
    const progress = this.group.node.status().progress;
    if (!progress || (current.length === 1 && newVoters.length === 2)) return;
    const healthy = newVoters.filter((v) => v === this.config.nodeId || (progress[v]?.recentActive ?? false));
    const quorum = Math.floor(newVoters.length / 2) + 1;
    if (healthy.length < quorum) {
      throw new ConcordError(
        'precondition-failed',
        `${doing} would leave ${newVoters.length} voters of which only ${healthy.length} (${healthy.join(', ') || 'none'}) are reachable; a quorum needs ${quorum}`,
      );
    }
  }

  health(): { ok: true } {
    return { ok: true };
  }

  /** Ready once the metadata group and every data shard hosted here know a leader and have applied what they know committed. */
  ready(): { ready: boolean; reason?: string } {
    const shards = this.shards();
    if (shards.length === 0) return { ready: false, reason: "the cluster's shards are not known yet" };
    for (const { id, group } of [{ id: GROUP, group: this.group }, ...shards]) {
      const st = group.node.status();
      const which = shards.length > 1 || id !== GROUP ? ` in ${id}` : '';
      if (!st.leader) return { ready: false, reason: `no leader${which}` };
      if (st.applied < st.commit) return { ready: false, reason: `applying${which} (${st.applied}/${st.commit})` };
    }
    return { ready: true };
  }
}

// Cluster status and membership changes over the node's Raft group.

import { RaftError } from '../raft/types.ts';
import { ConcordError } from '../kv/errors.ts';
import type { ClusterService, ClusterStatus, NodeStatus } from '../kv/types.ts';
import type { NodeConfig } from './config.ts';
import type { RaftGroup } from './raft-group.ts';
import type { PeerStatsSource } from './peer-stats.ts';

export class RaftClusterService implements ClusterService {
  constructor(
    private readonly config: NodeConfig,
    private readonly group: RaftGroup,
    private readonly addresses: Map<string, string>,
    private readonly transport: PeerStatsSource,
    /** Where this node's Raft transport actually listens. */
    private readonly selfRaftAddr: string,
    /** The gossip layer, when the node runs one. */
    private readonly gossip?: { members(): Array<{ id: string; state: string; meta: Record<string, string> }> },
  ) {}

  async status(): Promise<ClusterStatus> {
    const st = this.group.node.status();
    const conf = this.group.node.confState();
    const peers = this.transport.stats().peers;
    const gossipOf = new Map((this.gossip?.members() ?? []).map((m) => [m.id, m]));
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
        gossipState: gossipOf.get(id)?.state ?? (self || !this.gossip ? 'alive' : 'unknown'),
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
      shards: [{ id: 'g0', leader: st.leader || null, voters: conf.voters, learners: conf.learners }],
    };
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
    this.propose(() => this.group.node.proposeConfChange({ type: opts.learner ? 'addLearner' : 'addVoter', node: id, context: raftAddr }));
    return this.status();
  }

  async removeNode(id: string): Promise<ClusterStatus> {
    this.propose(() => this.group.node.proposeConfChange({ type: 'remove', node: id }));
    return this.status();
  }

  health(): { ok: true } {
    return { ok: true };
  }

  ready(): { ready: boolean; reason?: string } {
    const st = this.group.node.status();
    if (!st.leader) return { ready: false, reason: 'no leader' };
    if (st.applied < st.commit) return { ready: false, reason: `applying (${st.applied}/${st.commit})` };
    return { ready: true };
  }
}

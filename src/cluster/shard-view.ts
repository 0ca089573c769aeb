// One shard as a replica sees it (for the cluster status, and answered to peers asking about shards they do
// not host), and where a shard stands against the replicas the shard map gives it.

import type { ConfState } from '../raft/types.ts';
import type { RaftGroup } from './raft-group.ts';
import { shardFollows } from './shard-steps.ts';

export interface ShardView {
  /** The replica that answered for the shard, and its role there. */
  seenFrom: string;
  role: string;
  leader: string | null;
  voters: string[];
  learners: string[];
  term: number;
  commitIndex: number;
  appliedIndex: number;
  keys: number;
  bytes: number;
}

export function shardView(self: string, group: RaftGroup, size: { keys: number; bytes: number }): ShardView {
  const s = group.node.status();
  const c = group.node.confState();
  return { seenFrom: self, role: s.role, leader: s.leader || null, voters: c.voters, learners: c.learners, term: s.term, commitIndex: s.commit, appliedIndex: s.applied, ...size };
}

/**
 * Where a shard stands against its replicas in the map: `settled` when its voters are exactly those and it
 * has no learner; `running` while a change toward them is under way (a learner catching up, or every
 * replica already a voter and a replaced one still to go); `planned` when a replica the map names is not
 * in the shard yet and nothing is catching up.
 */
export type MoveState = 'settled' | 'planned' | 'running';

export function moveState(replicas: readonly string[], have: ConfState): MoveState {
  if (shardFollows({ voters: [...replicas], learners: [] }, have)) return 'settled';
  if (have.learners.length > 0 || replicas.every((id) => have.voters.includes(id))) return 'running';
  return 'planned';
}

/** The rebalance status: how many shards are in each state (`unknown`: no replica answered for it). */
export interface RebalanceStatus {
  epoch: number;
  settled: number;
  planned: number;
  running: number;
  unknown: number;
}

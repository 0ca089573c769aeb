// What the cluster layer offers above it: status of the Raft group and its members, membership changes,
// health. The HTTP and gRPC front ends serve these; RaftClusterService (cluster-service.ts) implements them.

import type { MoveState, RebalanceStatus } from './shard-view.ts';

export interface NodeStatus {
  id: string;
  raftAddr: string;
  httpAddr?: string;
  role: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  /** How this node's gossip layer sees it ('alive' until gossip exists). */
  gossipState: string;
  voter: boolean;
  reachable: boolean;
}

export interface ClusterStatus {
  clusterId: string;
  self: string;
  leader: string | null;
  term: number;
  nodes: NodeStatus[];
  /**
   * The data shards as this node sees them (with one shard, the metadata group g0 itself). With S > 1 every
   * shard is listed: `replicas` are the members the shard map gives it (the preferred leader first), and
   * `hosted` says whether this node holds a copy. For a hosted shard, leader, voters, learners, term, indexes,
   * keys and bytes are this node's copy's; for a shard hosted elsewhere they are those of the replica named by
   * `seenFrom` (its leader when it answered), asked at most a few seconds ago — only id and replicas (leader
   * null, no voters) when no replica answered. `following` is false while the shard's membership has yet to
   * take the map's last change, and `move` says where it stands against the map (shard-view.ts moveState).
   */
  shards: Array<{
    id: string;
    leader: string | null;
    voters: string[];
    learners: string[];
    replicas?: string[];
    hosted?: boolean;
    term?: number;
    commitIndex?: number;
    appliedIndex?: number;
    following?: boolean;
    keys?: number;
    bytes?: number;
    seenFrom?: string;
    move?: MoveState;
  }>;
  /** With S > 1: the shard map's epoch, the members it was planned for, and R. */
  shardMap?: { epoch: number; members: string[]; replicas: number };
  /** With S > 1: how many shards are settled on the map's replicas, have a move planned or running, or were not seen. */
  rebalance?: RebalanceStatus;
}

/** The shard map as the cluster service shows it: each shard's group id and replicas (preferred leader first). */
export interface ShardMapView {
  epoch: number;
  members: string[];
  /** The members the map committed in the metadata group was planned for (undefined while none is). */
  committedMembers: string[] | undefined;
  replicas: number;
  shards: Array<{ id: string; replicas: string[] }>;
}

export interface ClusterService {
  status(): Promise<ClusterStatus>;
  addNode(id: string, raftAddr: string, opts?: { learner?: boolean }): Promise<ClusterStatus>;
  removeNode(id: string): Promise<ClusterStatus>;
  /** Liveness: the process is up. */
  health(): { ok: true };
  /** Readiness: a leader is known and this node has applied up to the commit index it knows. */
  ready(): { ready: boolean; reason?: string };
}

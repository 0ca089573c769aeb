// What the cluster layer offers above it: status of the Raft group and its members, membership changes,
// health. The HTTP and gRPC front ends serve these; RaftClusterService (cluster-service.ts) implements them.

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
   * The data shards as this node sees them (with one shard, the metadata group g0 itself). Term, indexes, keys
   * and bytes are this node's copy's; `following` is false while the shard's membership has yet to take the
   * metadata group's last change.
   */
  shards: Array<{ id: string; leader: string | null; voters: string[]; learners: string[]; term?: number; commitIndex?: number; appliedIndex?: number; following?: boolean; keys?: number; bytes?: number }>;
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

// Everything a node needs to start. The CLI builds it from flags, a TOML file and CONCORD_* variables.

import { MAX_GROUPS_PER_NODE } from '../storage/group-id.ts';

export interface HostPort {
  host: string;
  port: number;
}

export interface NodeConfig {
  nodeId: string;
  /** Cluster identity checked on every peer connection. */
  clusterId: string;
  dataDir: string;
  httpAddr: HostPort;
  raftAddr: HostPort;
  /** Seed 002's text protocol (off unless set). */
  textAddr?: HostPort;
  /** The gRPC API (off unless set; the CLI sets DEFAULT_GRPC_ADDR unless told otherwise). */
  grpcAddr?: HostPort;
  /**
   * grpcAddr is the built-in default rather than an address someone asked for: failing to bind it (another
   * node on this machine has it) is a logged warning and the node runs without gRPC, not a failed start.
   */
  grpcOptional?: boolean;
  gossipAddr?: HostPort;
  /** Gossip seeds (later issue). */
  join: string[];
  /** Initial members id -> raft address (host:port); used only when the data dir is empty. */
  peers: Record<string, string>;
  /** Start a new single-node cluster if the data dir is empty and no peers are given. */
  bootstrap: boolean;
  maxKeyBytes: number;
  maxValueBytes: number;
  /** Most compares one transaction may hold, and most ops in each of its branches (etcd's --max-txn-ops). */
  maxTxnOps: number;
  /** Cache mode: beyond this many keys the least recently written are evicted (0: no limit). */
  maxKeys: number;
  /** Cache mode: beyond this many bytes of keys and values the least recently written are evicted (0: no limit). */
  maxBytes: number;
  /** A request that cannot complete in this time fails with 503/504. */
  requestTimeoutMs: number;
  /** Raft tick interval; election timeout = electionTicks * tickMs (randomized up to 2x). */
  tickMs: number;
  electionTicks: number;
  leaseReads: boolean;
  /**
   * The seed routes' reads (no ?consistency= given) answer from local state, marked X-Concord-Stale,
   * when the group has no quorum, instead of 503. /v1 stays strict.
   */
  staleReadsOnNoQuorum: boolean;
  /** Snapshot and compact the Raft log once it holds more than this many applied entries. */
  snapshotEntries: number;
  /** ...or once the applied entries in the log (past the last snapshot) hold more than this many bytes of data. */
  snapshotBytes: number;
  /** Entries kept behind a snapshot, so followers slightly behind catch up from the log. */
  snapshotKeepEntries: number;
  /** Bytes of the read cache in front of the KV state machine (0: off). */
  cacheBytes: number;
  /** Each shard's history (watch) keeps at least its last this many revisions... */
  historyRevisions: number;
  /** ...within this many bytes for all the node's shards together (each 1/S of it). */
  historyBytes: number;
  /** The in-memory Raft logs of all the node's groups together: past this, the largest is snapshotted (cluster/log-budget.ts). */
  raftLogMemoryBytes: number;
  /** Snapshots are sent to followers in chunks of this size. */
  snapshotChunkBytes: number;
  /** New record bytes a segment of the node's WAL takes before the next starts (storage/node-wal.ts); not a flag. */
  walSegmentBytes: number;
  /**
   * Shards (Raft groups of their own) the key space is split into when a cluster is founded; fixed for the
   * cluster's life (a member's own setting is ignored once it holds state or joins). 1 = the one group g0.
   */
  shards: number;
  /**
   * Members holding each data shard (placed by consistent hashing, src/shard), when a cluster with S > 1 is
   * founded; fixed for the cluster's life, like `shards`. Clusters of fewer members put every shard on every member.
   */
  replicas: number;
  /** With gossip: members are promoted to Raft voters while there are fewer than this. */
  voters: number;
  /** With gossip: a member dead for this long is removed from Raft (and a learner promoted in its place). */
  deadNodeTimeoutMs: number;
  logLevel: string;
  /** Serve POST /v1/debug/faults (tests and the chaos tester only). */
  faultInjection: boolean;
}

export const DEFAULTS: Omit<NodeConfig, 'nodeId' | 'peers' | 'join'> = {
  clusterId: 'concord',
  dataDir: './data',
  httpAddr: { host: '127.0.0.1', port: 8080 },
  raftAddr: { host: '127.0.0.1', port: 7000 },
  bootstrap: true,
  maxKeyBytes: 8 * 1024,
  maxValueBytes: 64 * 1024 * 1024,
  maxTxnOps: 128,
  maxKeys: 0,
  maxBytes: 0,
  requestTimeoutMs: 5000,
  tickMs: 100,
  electionTicks: 10,
  leaseReads: false,
  staleReadsOnNoQuorum: false,
  snapshotEntries: 100_000,
  snapshotBytes: 64 * 1024 * 1024,
  snapshotKeepEntries: 1_000,
  snapshotChunkBytes: 1 << 20,
  walSegmentBytes: 32 << 20,
  cacheBytes: 64 * 1024 * 1024,
  historyRevisions: 100_000,
  historyBytes: 256 * 1024 * 1024,
  raftLogMemoryBytes: 64 * 1024 * 1024,
  shards: 1,
  replicas: 3,
  voters: 3,
  deadNodeTimeoutMs: 30_000,
  logLevel: 'info',
  faultInjection: false,
};

/** Seed 004's client port: where `concord server` serves gRPC unless told otherwise (see src/api/grpc/README.md). */
export const DEFAULT_GRPC_ADDR: HostPort = { host: '127.0.0.1', port: 50051 };

/** The most replicas a shard may have. */
export const MAX_REPLICAS = 7;

/** The most shards a cluster may have: a member may host every shard and the metadata group, all in one LMDB environment. */
export const MAX_CLUSTER_SHARDS = MAX_GROUPS_PER_NODE - 1;

// What the client's calls take and give, the same over every protocol. Keys and values are bytes: a string
// is sent as its UTF-8 bytes; answers give Buffers (`.toString()` for text).

export type Bytes = string | Uint8Array;

export type Consistency = 'linearizable' | 'serializable';

export interface CallOptions {
  /** This call's deadline in milliseconds, retries included (default: the client's `timeoutMs`). */
  timeoutMs?: number;
  /** Aborts the call (and its retries). */
  signal?: AbortSignal;
}

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  /** Revision of the put that created the key since it last did not exist. */
  createRevision: number;
  /** Revision of the last put (HTTP's ETag): what `ifMatch` compares with. */
  modRevision: number;
  /** Puts since creation: 1 after the first. */
  version: number;
  /** The lease the key is attached to, if any. */
  lease?: number;
  /** Answered from a node's own state while it could reach no quorum (a serializable read only). */
  stale: boolean;
}

export interface GetOptions extends CallOptions {
  /** linearizable (default): reflects every write acknowledged before the call; serializable: any node's own state. */
  consistency?: Consistency;
}

export interface PutOptions extends CallOptions {
  /** Compare-and-swap: write only if the key's modRevision is this. */
  ifMatch?: number;
  /** Write only if the key does not exist. */
  createOnly?: boolean;
  /** Delete the key after this many seconds. */
  ttlSeconds?: number;
  /** Attach the key to this lease (not with ttlSeconds): its revoke or expiry deletes the key. */
  lease?: number;
}

export interface DeleteOptions extends CallOptions {
  /** Delete only if the key's modRevision is this. */
  ifMatch?: number;
}

export interface DeleteResult {
  /** 1, or 0 when the key did not exist. */
  deleted: number;
  /** The deleting revision (absent when nothing was deleted). */
  revision?: number;
}

export interface ListOptions extends CallOptions {
  /** Only keys starting with these bytes. */
  prefix?: Bytes;
  /** From this key on, inclusive. */
  start?: Bytes;
  /** Up to this key, exclusive. */
  end?: Bytes;
  /** Items per page, 1 to 10000 (server default 1000). */
  limit?: number;
  /** Items without values (`value` is empty). */
  keysOnly?: boolean;
  consistency?: Consistency;
}

export interface ListItem {
  key: Buffer;
  value: Buffer;
  modRevision: number;
}

export interface ListPage {
  items: ListItem[];
  /** More keys follow: `nextStart` is where the next page begins. */
  more: boolean;
  nextStart?: Buffer;
}

/** A batch's operation; a put may expire after `ttlSeconds` or with `lease`, as PutOptions'. */
export type BatchOp<B = Bytes> = { op: 'put'; key: B; value: B; ttlSeconds?: number; lease?: number } | { op: 'delete'; key: B };

export interface LeaseGrantOptions extends CallOptions {
  /** The lease's id, 1 to 2^53 - 1 (default: the server picks one). */
  id?: number;
  /** Put the lease in this key's shard (or its {tag}'s): only keys of the lease's shard can be attached to it. */
  key?: Bytes;
}

/** A lease granted or kept alive: it runs `ttlSeconds` from now. */
export interface Lease {
  id: number;
  ttlSeconds: number;
}

export interface LeaseInfo {
  id: number;
  /** Seconds left, rounded up. */
  ttlSeconds: number;
  grantedTtlSeconds: number;
  /** The keys attached, in key order, when asked for. */
  keys?: Buffer[];
}

/**
 * A transaction's condition on one key (etcd's Compare): its value, version, create or mod revision against
 * `operand` (bytes for the value, a number otherwise). An absent key has version and revisions 0 and no value.
 */
export interface TxnCompare<B = Bytes> {
  key: B;
  target: 'value' | 'version' | 'createRevision' | 'modRevision';
  result: '=' | '!=' | '>' | '<';
  operand: B | number;
}

/**
 * A transaction's operation. A delete with `end` deletes every key from `key` up to `end`, exclusive (an empty
 * `end`: to the last key), and with `prefix` every key starting with `key` (etcd's DeleteRange); with several
 * shards the range must lie within one {tag}.
 */
export type TxnOp<B = Bytes> = { op: 'get'; key: B } | { op: 'put'; key: B; value: B; lease?: number } | { op: 'delete'; key: B; end?: B; prefix?: boolean };

export interface TxnRequest<B = Bytes> {
  compare?: Array<TxnCompare<B>>;
  /** Run when every compare holds. */
  success?: Array<TxnOp<B>>;
  /** Run otherwise. */
  failure?: Array<TxnOp<B>>;
}

export type TxnOpResult = { op: 'get'; kv?: KeyValue } | { op: 'put'; revision: number } | { op: 'delete'; deleted: number };

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** One per op of the branch that ran. */
  results: TxnOpResult[];
}

export interface NodeStatus {
  id: string;
  raftAddr: string;
  httpAddr?: string;
  role: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  voter: boolean;
  reachable: boolean;
}

export interface ClusterStatus {
  clusterId: string;
  /** The node that answered. */
  self: string;
  /** The leader's id, undefined while none is known. */
  leader?: string;
  term: number;
  nodes: NodeStatus[];
  /** The data shards (one, g0, unless the cluster was founded with --shards). */
  shards: ShardStatus[];
  /** With several shards (HTTP only): the shard map's epoch, the members it was planned for, and replicas per shard. */
  shardMap?: { epoch: number; members: string[]; replicas: number };
  /** With several shards: how many shards are settled on the map's replicas, have a move planned or running, or went unseen. */
  rebalance?: { epoch: number; settled: number; planned: number; running: number; unknown: number };
}

export interface ShardStatus {
  id: string;
  /** undefined while none is known. */
  leader?: string;
  voters: string[];
  learners: string[];
  /** With several shards: the members the shard map gives the shard, the preferred leader first. */
  replicas?: string[];
  /** With several shards: whether the answering node holds a copy. */
  hosted?: boolean;
  /** Keys and bytes of the copy that gave this status. */
  keys?: number;
  bytes?: number;
  /** For a shard the answering node does not host: the replica whose copy gave leader, voters, learners, keys and bytes (its leader when it answered). */
  seenFrom?: string;
  /** With several shards: where the shard stands against its replicas in the map: settled, planned or running. */
  move?: string;
}

export interface Health {
  status: string;
  nodeId?: string;
}

export interface WatchOptions {
  /** Watch this key only. */
  key?: Bytes;
  /** Watch keys starting with these bytes (neither key nor prefix: every key). */
  prefix?: Bytes;
  /** Start at this revision (a watch of one shard: a key, a prefix with a {tag}, or a one-shard cluster); default: from now. */
  fromRevision?: number;
  /** Resume where an earlier watch's event (its `cursor`) left off. */
  cursor?: string;
  /** Each change carries the record it replaced. */
  prevKv?: boolean;
  /** A progress event after this long without an event (server default 5000, 100 to 30000). */
  progressMs?: number;
  /** Ends the watch. */
  signal?: AbortSignal;
}

/** A watched record: as KeyValue, without `stale`. */
export type WatchedRecord = Omit<KeyValue, 'stale'>;

export type WatchEvent =
  | {
      type: 'put' | 'delete';
      /** The watch's position after this event: WatchOptions.cursor resumes after it. */
      cursor: string;
      /** The change's revision (in `shard`: revisions are per shard). */
      revision: number;
      shard: number;
      /** After the change (a delete: the key, with the deleting revision as modRevision and version 0). */
      kv: WatchedRecord;
      /** With prevKv: what the change replaced (absent if the put created the key). */
      prev?: WatchedRecord;
      /** The server keeps no value of 1 MiB or more in its history: kv.value is then empty, and this is its size. */
      valueOmittedBytes?: number;
      prevValueOmittedBytes?: number;
    }
  | {
      /** No change: the watch's position, sent first and while quiet. */
      type: 'progress';
      cursor: string;
    };

/** What a transport's watch stream is asked for: WatchOptions with bytes, without the signal. */
export interface WatchStreamRequest {
  key?: Uint8Array;
  prefix?: Uint8Array;
  fromRevision?: number;
  cursor?: string;
  prevKv: boolean;
  progressMs?: number;
}

/** What bounds one attempt: the call's signal (its deadline or the caller's abort) and the deadline itself. */
export interface Attempt {
  signal: AbortSignal;
  /** Milliseconds since the epoch. */
  deadline: number;
}

/** One protocol's way of making each call against one endpoint; errors are ConcordClientErrors. */
export interface Transport {
  readonly endpoint: string;
  get(key: Uint8Array, consistency: Consistency | undefined, at: Attempt): Promise<KeyValue | undefined>;
  put(key: Uint8Array, value: Uint8Array, opts: PutOptions, at: Attempt): Promise<number>;
  delete(key: Uint8Array, ifMatch: number | undefined, at: Attempt): Promise<DeleteResult>;
  list(opts: ListOptions, at: Attempt): Promise<{ items: ListItem[]; more: boolean }>;
  batch(ops: Array<BatchOp<Uint8Array>>, at: Attempt): Promise<number>;
  txn(req: Required<TxnRequest<Uint8Array>>, at: Attempt): Promise<TxnResult>;
  status(at: Attempt): Promise<ClusterStatus>;
  addNode(id: string, address: string, learner: boolean, at: Attempt): Promise<ClusterStatus>;
  removeNode(id: string, at: Attempt): Promise<ClusterStatus>;
  health(at: Attempt): Promise<Health>;
  grantLease(ttlSeconds: number, id: number | undefined, key: Uint8Array | undefined, at: Attempt): Promise<Lease>;
  keepAliveLease(id: number, at: Attempt): Promise<Lease>;
  revokeLease(id: number, at: Attempt): Promise<{ revision: number; deleted: number }>;
  /** Undefined if the lease does not exist. */
  leaseTimeToLive(id: number, keys: boolean, at: Attempt): Promise<LeaseInfo | undefined>;
  leases(at: Attempt): Promise<LeaseInfo[]>;
  /** One watch stream, until it ends (the server closed it: an error, or done) or `signal` aborts. */
  watch(req: WatchStreamRequest, signal: AbortSignal): AsyncGenerator<WatchEvent>;
  close(): void;
}

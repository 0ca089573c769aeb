// The one semantics every front end (HTTP, gRPC, text protocol, CLI) speaks. Nothing here knows HTTP.

/** A key's value and its etcd-style revisions (defined by the store that keeps them). */
export type { KvRecord } from '../storage/kv-record.ts';
import type { KvRecord } from '../storage/kv-record.ts';
import type { RevisionChanges } from '../storage/kv-store.ts';
export type { Change, PriorRecord, RevisionChanges } from '../storage/kv-store.ts';

export type Consistency = 'linearizable' | 'serializable';

export interface PutOptions {
  /** Compare-and-swap: succeed only if the key's modRevision equals this. */
  ifMatch?: number;
  /** Create only: succeed only if the key is absent. */
  ifNoneMatch?: boolean;
  /** Expire the key after this many seconds. */
  ttlSeconds?: number;
  /** Attach the key to this lease (not with ttlSeconds): revoking or expiring the lease deletes the key. */
  lease?: number;
}

export interface ListOptions {
  prefix?: Uint8Array;
  start?: Uint8Array;
  end?: Uint8Array;
  limit?: number;
  keysOnly?: boolean;
  consistency?: Consistency;
}

/** How stale an answer from this node's own state may be, given while it could not reach a quorum. */
export interface StaleRead {
  /** Milliseconds since this node last heard from a leader (0 while it leads); absent if it has not since it started. */
  lastContactMs?: number;
}

export type BatchOp = { op: 'put'; key: Uint8Array; value: Uint8Array; ttlSeconds?: number; lease?: number } | { op: 'delete'; key: Uint8Array };

/** A lease granted or kept alive: its id and the TTL it runs for from now. */
export interface LeaseGrant {
  id: number;
  ttlSeconds: number;
}

export interface LeaseGrantOptions {
  /** The lease's id (1 to 2^53 - 1); absent: the service picks one. */
  id?: number;
  /** Put the lease in the shard of this key (or {tag}), so that the key can be attached to it. */
  key?: Uint8Array;
}

/** A lease as TimeToLive reports it. */
export interface LeaseInfo {
  id: number;
  /** Seconds left (rounded up; 0 once due, until the clock entry that revokes it applies). */
  ttlSeconds: number;
  grantedTtlSeconds: number;
  /** The keys attached, in key order, when asked for. */
  keys?: Uint8Array[];
}

/**
 * A condition on one key, etcd's Compare: its value, version, create or mod revision against `operand`.
 * An absent key has version and revisions 0, and no value (a value comparison on it is false).
 */
export interface TxnCompare {
  key: Uint8Array;
  target: 'value' | 'version' | 'create' | 'mod';
  result: 'equal' | 'not-equal' | 'greater' | 'less';
  /** A value for target 'value', a number for the others. */
  operand: Uint8Array | number;
}

/**
 * A delete with `end` deletes every key in [key, end) — etcd's DeleteRange; an empty `end`, every key from
 * `key` on. With several shards the range must lie within one {tag} (ShardedKvService.txn).
 */
export type TxnOp = { op: 'get'; key: Uint8Array } | { op: 'put'; key: Uint8Array; value: Uint8Array; lease?: number } | { op: 'delete'; key: Uint8Array; end?: Uint8Array };

export type TxnOpResult = { op: 'get'; record?: KvRecord } | { op: 'put'; revision: number } | { op: 'delete'; deleted: number };

/** If every compare holds, `success` runs, else `failure`; atomically, at one revision, each op seeing the ones before it. */
export interface TxnRequest {
  compare: TxnCompare[];
  success: TxnOp[];
  failure: TxnOp[];
}

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** One per op of the branch that ran, in order. */
  results: TxnOpResult[];
}

/** A page of one shard's applied changes (KvService.changes). */
export interface ChangePage {
  /** Revisions with changes, in order; every revision from the request's `from` to `next - 1` not among them changed nothing. */
  revisions: RevisionChanges[];
  /** The revision to ask for next. */
  next: number;
}

export interface ChangeFeedOptions {
  /** End the page after the revision that takes it past this many bytes (at least one revision). */
  maxBytes: number;
  /** With nothing applied from `from` on yet, wait this long for it before answering an empty page. */
  waitMs: number;
}

export interface KvService {
  /** Undefined if absent. */
  get(key: Uint8Array, opts?: { consistency?: Consistency }): Promise<KvRecord | undefined>;
  /** What `get` with consistency 'serializable' resolves to, answered synchronously from this node's state. */
  getSerializable(key: Uint8Array): KvRecord | undefined;
  /** False when getSerializable cannot answer `key` from this node's state (its shard is hosted elsewhere); absent = always can. */
  answersLocally?(key: Uint8Array): boolean;
  put(key: Uint8Array, value: Uint8Array, opts?: PutOptions): Promise<{ revision: number }>;
  /** deleted = 0 if the key was absent. */
  delete(key: Uint8Array, opts?: { ifMatch?: number }): Promise<{ deleted: number; revision: number }>;
  list(opts: ListOptions): Promise<{ items: KvRecord[]; more: boolean }>;
  /** Undefined while this node knows a leader; otherwise how stale its own state may be. Cheap enough for every read. */
  leaderless(): StaleRead | undefined;
  /**
   * A linearizable get while the group has a quorum. Without one it answers from this node's own state
   * with `stale` set: at once when no leader is known, otherwise once a linearizable read has not
   * completed within an election timeout (or the request timeout, if shorter).
   */
  getOrStale(key: Uint8Array): Promise<{ record: KvRecord | undefined; stale?: StaleRead }>;
  /** `list` with the fallback of getOrStale (`consistency` is ignored). */
  listOrStale(opts: ListOptions): Promise<{ items: KvRecord[]; more: boolean; stale?: StaleRead }>;
  /** All ops applied atomically at one revision. */
  batch(ops: BatchOp[]): Promise<{ revision: number }>;
  /** A transaction within one shard (keys in several: bad-request naming them). */
  txn(req: TxnRequest): Promise<TxnResult>;
  /**
   * One shard's applied changes from revision `from` on, from the replica's history (what watch reads).
   * `from` = 0: none, only where the history ends now (`next`). A revision the history no longer holds:
   * `compacted`, naming the oldest it does.
   */
  changes?(from: number, opts: ChangeFeedOptions): Promise<ChangePage>;
  /**
   * Leases, etcd's: a lease expires `ttlSeconds` after its grant or last keep-alive unless kept alive, and its
   * expiry or revoke deletes every key attached to it, atomically at one revision. A lease lives in one shard
   * (its id modulo the shard count), and only keys of that shard can be attached to it. Absent lease:
   * not-found; an id in use: precondition-failed.
   */
  grantLease?(ttlSeconds: number, opts?: LeaseGrantOptions): Promise<LeaseGrant>;
  keepAliveLease?(id: number): Promise<LeaseGrant>;
  /** Deletes the keys attached, then the lease. */
  revokeLease?(id: number): Promise<{ revision: number; deleted: number }>;
  /** Linearizable, as a get is. */
  leaseTimeToLive?(id: number, opts?: { keys?: boolean }): Promise<LeaseInfo>;
  /** Every lease (without keys), by id; linearizable per shard. */
  leases?(): Promise<LeaseInfo[]>;
}

/** A consistent image of the whole key space, as a stream of self-checking chunks. */
export interface BackupImage {
  /** The Raft index the image reflects (with several shards: shard 0's; see `shards`). */
  appliedIndex: number;
  /**
   * With several shards: the index each shard's image reflects, and `chunks` are every shard's image in
   * shard order as sections (backup-sections.ts), not one image.
   */
  shards?: number[];
  chunks: AsyncIterable<Uint8Array>;
  /** Stop early (releases the read transaction). */
  cancel(): void;
}

export interface BackupSource {
  /** Every write acknowledged before the call is in the image. */
  backup(): Promise<BackupImage>;
}

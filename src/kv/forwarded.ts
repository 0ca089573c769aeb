// A shard this node does not host, served by a node that does: its KvService calls become operations
// (plain data, sent to a replica over the peer transport), which the replica runs on its own shard service
// and answers. Both sides are here, so the operations' shape has one definition.
//
// What is sent again, and where, is the caller's `call`'s business (src/node/shard-calls.ts): it may try
// another replica only when the first never received the operation, so a write is never applied twice
// on its account.

import { ConcordError, type ErrorCode } from '../util/errors.ts';
import type { BackupImage, BatchOp, ChangeFeedOptions, ChangePage, Consistency, KvRecord, KvService, LeaseGrant, LeaseInfo, ListOptions, PutOptions, StaleRead, TxnRequest, TxnResult } from './types.ts';
import { remoteImage, type BackupOp } from './remote-backup.ts';
import { leaseMethod } from './lease-ids.ts';

export type ForwardedOp =
  | { t: 'get'; key: Uint8Array; consistency?: Consistency }
  | { t: 'getOrStale'; key: Uint8Array }
  | { t: 'put'; key: Uint8Array; value: Uint8Array; opts?: PutOptions }
  | { t: 'delete'; key: Uint8Array; opts?: { ifMatch?: number } }
  | { t: 'list'; opts: ListOptions }
  | { t: 'listOrStale'; opts: ListOptions }
  | { t: 'batch'; ops: BatchOp[] }
  | { t: 'txn'; req: TxnRequest }
  | { t: 'changes'; from: number; opts: ChangeFeedOptions }
  | { t: 'grantLease'; ttlSeconds: number; id: number }
  | { t: 'keepAliveLease'; id: number }
  | { t: 'revokeLease'; id: number }
  | { t: 'leaseTimeToLive'; id: number; keys?: boolean }
  | { t: 'leases' };

/** An error as it travels back: the catalogue's code, message and retry hint. */
export interface ForwardedError {
  code: ErrorCode;
  message: string;
  retryAfterSeconds?: number;
}

/** Runs `op` on the shard's own service; the answer is what the matching KvService call resolves to. */
export function runForwarded(svc: KvService, op: ForwardedOp): Promise<unknown> | unknown {
  switch (op.t) {
    case 'get':
      return svc.get(op.key, op.consistency ? { consistency: op.consistency } : undefined).then((r) => r ?? null);
    case 'getOrStale':
      return svc.getOrStale(op.key).then((r) => ({ ...r, record: r.record ?? null }));
    case 'put':
      return svc.put(op.key, op.value, op.opts);
    case 'delete':
      return svc.delete(op.key, op.opts);
    case 'list':
      return svc.list(op.opts);
    case 'listOrStale':
      return svc.listOrStale(op.opts);
    case 'batch':
      return svc.batch(op.ops);
    case 'txn':
      return svc.txn(op.req);
    case 'changes':
      if (!svc.changes) throw new ConcordError('not-implemented', 'this replica keeps no history');
      return svc.changes(op.from, op.opts);
    case 'grantLease':
      return leaseMethod(svc, 'grantLease')(op.ttlSeconds, { id: op.id });
    case 'keepAliveLease':
      return leaseMethod(svc, 'keepAliveLease')(op.id);
    case 'revokeLease':
      return leaseMethod(svc, 'revokeLease')(op.id);
    case 'leaseTimeToLive':
      return leaseMethod(svc, 'leaseTimeToLive')(op.id, { keys: op.keys });
    case 'leases':
      return leaseMethod(svc, 'leases')();
    default:
      throw new ConcordError('bad-request', `unknown forwarded operation ${JSON.stringify((op as { t?: unknown }).t)}`);
  }
}

export function toForwardedError(e: unknown): ForwardedError {
  if (e instanceof ConcordError) return { code: e.code, message: e.message, ...(e.retryAfterSeconds !== undefined ? { retryAfterSeconds: e.retryAfterSeconds } : {}) };
  return { code: 'internal', message: e instanceof Error ? e.message : String(e) };
}

export function fromForwardedError(e: ForwardedError): ConcordError {
  return new ConcordError(e.code, e.message, e.retryAfterSeconds);
}

/**
 * A shard hosted elsewhere, as a KvService. `call` sends an operation to a replica and resolves with its
 * answer (or rejects with the replica's error, or unavailable/timeout when none answered); `callOn` sends
 * one to a given replica (a backup image's batches come from the replica that opened it).
 */
export class RemoteShard implements KvService {
  constructor(
    readonly shard: number,
    private readonly call: (op: ForwardedOp | BackupOp) => Promise<unknown>,
    private readonly callOn?: (node: string, op: BackupOp) => Promise<unknown>,
  ) {}

  /** The shard's image from one of its replicas (remote-backup.ts). */
  backup(): Promise<BackupImage> {
    if (!this.callOn) throw new ConcordError('not-implemented', `shard ${this.shard} is not hosted on this node, which cannot fetch its image`);
    return remoteImage((op) => this.call(op), this.callOn);
  }

  async get(key: Uint8Array, opts?: { consistency?: Consistency }): Promise<KvRecord | undefined> {
    return ((await this.call({ t: 'get', key, ...(opts?.consistency ? { consistency: opts.consistency } : {}) })) as KvRecord | null) ?? undefined;
  }

  /** Not answerable from this node's state: the caller takes the asynchronous path (get) instead. */
  getSerializable(): KvRecord | undefined {
    throw new ConcordError('unavailable', `shard ${this.shard} is not hosted on this node; read it with get()`, 0);
  }

  put(key: Uint8Array, value: Uint8Array, opts?: PutOptions): Promise<{ revision: number }> {
    return this.call({ t: 'put', key, value, ...(opts ? { opts } : {}) }) as Promise<{ revision: number }>;
  }

  delete(key: Uint8Array, opts?: { ifMatch?: number }): Promise<{ deleted: number; revision: number }> {
    return this.call({ t: 'delete', key, ...(opts ? { opts } : {}) }) as Promise<{ deleted: number; revision: number }>;
  }

  list(opts: ListOptions): Promise<{ items: KvRecord[]; more: boolean }> {
    return this.call({ t: 'list', opts }) as Promise<{ items: KvRecord[]; more: boolean }>;
  }

  /** This node knows nothing of the shard's leader: it answers for its own groups only (a forwarded call reports a leaderless shard itself). */
  leaderless(): StaleRead | undefined {
    return undefined;
  }

  async getOrStale(key: Uint8Array): Promise<{ record: KvRecord | undefined; stale?: StaleRead }> {
    const r = (await this.call({ t: 'getOrStale', key })) as { record: KvRecord | null; stale?: StaleRead };
    return { ...r, record: r.record ?? undefined };
  }

  listOrStale(opts: ListOptions): Promise<{ items: KvRecord[]; more: boolean; stale?: StaleRead }> {
    return this.call({ t: 'listOrStale', opts }) as Promise<{ items: KvRecord[]; more: boolean; stale?: StaleRead }>;
  }

  batch(ops: BatchOp[]): Promise<{ revision: number }> {
    return this.call({ t: 'batch', ops }) as Promise<{ revision: number }>;
  }

  txn(req: TxnRequest): Promise<TxnResult> {
    return this.call({ t: 'txn', req }) as Promise<TxnResult>;
  }

  changes(from: number, opts: ChangeFeedOptions): Promise<ChangePage> {
    return this.call({ t: 'changes', from, opts }) as Promise<ChangePage>;
  }

  /** With the id its caller picked (ShardedKvService.grantLease). */
  grantLease(ttlSeconds: number, opts: { id?: number } = {}): Promise<LeaseGrant> {
    if (opts.id === undefined) throw new ConcordError('bad-request', 'a lease granted in another node\'s shard needs its id picked first');
    return this.call({ t: 'grantLease', ttlSeconds, id: opts.id }) as Promise<LeaseGrant>;
  }

  keepAliveLease(id: number): Promise<LeaseGrant> {
    return this.call({ t: 'keepAliveLease', id }) as Promise<LeaseGrant>;
  }

  revokeLease(id: number): Promise<{ revision: number; deleted: number }> {
    return this.call({ t: 'revokeLease', id }) as Promise<{ revision: number; deleted: number }>;
  }

  leaseTimeToLive(id: number, opts: { keys?: boolean } = {}): Promise<LeaseInfo> {
    return this.call({ t: 'leaseTimeToLive', id, ...(opts.keys ? { keys: true } : {}) }) as Promise<LeaseInfo>;
  }

  leases(): Promise<LeaseInfo[]> {
    return this.call({ t: 'leases' }) as Promise<LeaseInfo[]>;
  }
}

// In-memory KvService and ClusterService with the real semantics (revisions, CAS, create-only, TTL,
// byte-ordered listing), so HTTP tests exercise the adapter against something that behaves like the
// store. Every call is counted, so a test can prove bad input never reached the service.

import { ConcordError } from '../../src/util/errors.ts';
import type { ClusterService, ClusterStatus, NodeStatus } from '../../src/cluster/types.ts';
import type { BatchOp, Consistency, KvRecord, KvService, ListOptions, PutOptions, StaleRead, TxnOpResult, TxnRequest, TxnResult } from '../../src/kv/types.ts';
import { compareHolds } from '../../src/kv/txn.ts';

const id = (key: Uint8Array) => Buffer.from(key).toString('latin1');

export class MemoryKv implements KvService {
  private readonly data = new Map<string, KvRecord>();
  revision = 0;
  /** Calls that reached the service, by method. */
  readonly calls: Array<{ method: string; key?: Buffer; opts?: unknown }> = [];
  /** When set, every call fails with it (e.g. ConcordError('unavailable', …, 1)). */
  failWith: Error | undefined;
  /** Lets a test hold calls in flight. */
  delayMs = 0;
  /** The last consistency a read asked for. */
  lastConsistency: Consistency | undefined;
  /** Set: the node knows no leader (so no quorum): linearizable reads fail with 503, *OrStale reads answer locally with this. */
  noLeader: StaleRead | undefined;

  private async enter(method: string, key?: Uint8Array, opts?: unknown): Promise<void> {
    this.calls.push({ method, key: key && Buffer.from(key), opts });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failWith) throw this.failWith;
  }

  private live(key: Uint8Array): KvRecord | undefined {
    const r = this.data.get(id(key));
    if (r?.expiresAt !== undefined && r.expiresAt <= Date.now()) return undefined;
    return r;
  }

  private write(key: Uint8Array, value: Uint8Array, revision: number, expiresAt?: number): void {
    const prev = this.live(key);
    const record: KvRecord = {
      key: Buffer.from(key),
      value: Buffer.from(value),
      createRevision: prev ? prev.createRevision : revision,
      modRevision: revision,
      version: prev ? prev.version + 1 : 1,
    };
    if (expiresAt !== undefined) record.expiresAt = expiresAt;
    this.data.set(id(key), record);
  }

  async get(key: Uint8Array, opts?: { consistency?: Consistency }): Promise<KvRecord | undefined> {
    await this.enter('get', key, opts);
    this.lastConsistency = opts?.consistency;
    this.quorumFor(opts?.consistency);
    return this.live(key);
  }

  getSerializable(key: Uint8Array): KvRecord | undefined {
    this.calls.push({ method: 'get', key: Buffer.from(key), opts: { consistency: 'serializable' } });
    if (this.failWith) throw this.failWith;
    this.lastConsistency = 'serializable';
    return this.live(key);
  }

  async put(key: Uint8Array, value: Uint8Array, opts: PutOptions = {}): Promise<{ revision: number }> {
    await this.enter('put', key, opts);
    const prev = this.live(key);
    if (opts.ifNoneMatch && prev) throw new ConcordError('precondition-failed', 'the key exists');
    if (opts.ifMatch !== undefined && prev?.modRevision !== opts.ifMatch) {
      throw new ConcordError('precondition-failed', 'the key does not match the precondition');
    }
    const revision = ++this.revision;
    this.write(key, value, revision, opts.ttlSeconds !== undefined ? Date.now() + opts.ttlSeconds * 1000 : undefined);
    return { revision };
  }

  async delete(key: Uint8Array, opts: { ifMatch?: number } = {}): Promise<{ deleted: number; revision: number }> {
    await this.enter('delete', key, opts);
    const prev = this.live(key);
    if (opts.ifMatch !== undefined && prev?.modRevision !== opts.ifMatch) {
      throw new ConcordError('precondition-failed', 'the key does not match the precondition');
    }
    if (!prev) return { deleted: 0, revision: this.revision };
    this.data.delete(id(key));
    return { deleted: 1, revision: ++this.revision };
  }

  async list(opts: ListOptions): Promise<{ items: KvRecord[]; more: boolean }> {
    await this.enter('list', undefined, opts);
    this.lastConsistency = opts.consistency;
    this.quorumFor(opts.consistency);
    const limit = opts.limit ?? 1000;
    const all = [...this.data.values()]
      .filter((r) => this.live(r.key))
      .filter((r) => !opts.prefix || Buffer.from(r.key).subarray(0, opts.prefix.byteLength).equals(opts.prefix))
      .filter((r) => !opts.start || Buffer.compare(r.key, opts.start) >= 0)
      .filter((r) => !opts.end || Buffer.compare(r.key, opts.end) < 0)
      .sort((a, b) => Buffer.compare(a.key, b.key));
    const items = all.slice(0, limit).map((r) => (opts.keysOnly ? { ...r, value: new Uint8Array(0) } : r));
    return { items, more: all.length > limit };
  }

  private quorumFor(consistency: Consistency | undefined): void {
    if (this.noLeader && consistency !== 'serializable') throw new ConcordError('unavailable', 'no leader (no quorum)', 1);
  }

  leaderless(): StaleRead | undefined {
    return this.noLeader;
  }

  /** Like RaftKvService: local and marked while no leader is known, else a linearizable read. */
  async getOrStale(key: Uint8Array): Promise<{ record: KvRecord | undefined; stale?: StaleRead }> {
    if (!this.noLeader) return { record: await this.get(key, { consistency: 'linearizable' }) };
    return { record: await this.get(key, { consistency: 'serializable' }), stale: this.noLeader };
  }

  async listOrStale(opts: ListOptions): Promise<{ items: KvRecord[]; more: boolean; stale?: StaleRead }> {
    if (!this.noLeader) return this.list({ ...opts, consistency: 'linearizable' });
    return { ...(await this.list({ ...opts, consistency: 'serializable' })), stale: this.noLeader };
  }

  async batch(ops: BatchOp[]): Promise<{ revision: number }> {
    await this.enter('batch', undefined, ops);
    const revision = ++this.revision;
    for (const op of ops) {
      if (op.op === 'put') this.write(op.key, op.value, revision);
      else this.data.delete(id(op.key));
    }
    return { revision };
  }

  async txn(req: TxnRequest): Promise<TxnResult> {
    await this.enter('txn', undefined, req);
    const succeeded = req.compare.every((c) => compareHolds(c, this.live(c.key)));
    const revision = ++this.revision;
    const results: TxnOpResult[] = [];
    for (const op of succeeded ? req.success : req.failure) {
      if (op.op === 'get') {
        const record = this.live(op.key);
        results.push(record ? { op: 'get', record } : { op: 'get' });
      } else if (op.op === 'put') {
        this.write(op.key, op.value, revision);
        results.push({ op: 'put', revision });
      } else results.push({ op: 'delete', deleted: this.data.delete(id(op.key)) ? 1 : 0 });
    }
    return { succeeded, revision, results };
  }

  /** The whole state, to compare before and after a request that must change nothing. */
  dump(): string {
    const entries = [...this.data.values()].map((r) => [Buffer.from(r.key).toString('hex'), Buffer.from(r.value).toString('hex'), r.modRevision]);
    return JSON.stringify({ revision: this.revision, entries });
  }
}

export class MemoryCluster implements ClusterService {
  readonly nodes = new Map<string, string>([['n1', '127.0.0.1:7001']]);
  isReady = true;
  readonly calls: string[] = [];

  async status(): Promise<ClusterStatus> {
    this.calls.push('status');
    const nodes: NodeStatus[] = [...this.nodes].map(([nodeId, raftAddr]) => ({
      id: nodeId,
      raftAddr,
      role: nodeId === 'n1' ? 'leader' : 'follower',
      term: 2,
      commitIndex: 10,
      appliedIndex: 10,
      gossipState: 'alive',
      voter: true,
      reachable: true,
    }));
    return { clusterId: 'test', self: 'n1', leader: 'n1', term: 2, nodes, shards: [{ id: '0', leader: 'n1', voters: [...this.nodes.keys()], learners: [] }] };
  }

  async addNode(nodeId: string, raftAddr: string): Promise<ClusterStatus> {
    this.calls.push(`add ${nodeId} ${raftAddr}`);
    if (this.nodes.has(nodeId)) throw new ConcordError('bad-request', `node ${nodeId} is already a member`);
    this.nodes.set(nodeId, raftAddr);
    return this.status();
  }

  async removeNode(nodeId: string): Promise<ClusterStatus> {
    this.calls.push(`remove ${nodeId}`);
    if (!this.nodes.delete(nodeId)) throw new ConcordError('not-found', `node ${nodeId} is not a member`);
    return this.status();
  }

  health(): { ok: true } {
    return { ok: true };
  }

  ready(): { ready: boolean; reason?: string } {
    return this.isReady ? { ready: true } : { ready: false, reason: 'no leader known' };
  }
}

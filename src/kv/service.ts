// KvService over one Raft group: writes are proposals answered when applied on this node (followers
// forward them through Raft), linearizable reads wait for a ReadIndex barrier, serializable reads
// are served from local state.

import type { RaftGroup } from '../cluster/raft-group.ts';
import type { KvStore } from '../storage/kv-store.ts';
import { encodeCommand, encodeLargePut, type Command, type CommandResult } from './commands.ts';
import { LARGE_VALUE_BYTES } from '../storage/kv-store.ts';
import { ConcordError } from '../util/errors.ts';
import type { BackupImage, BackupSource, BatchOp, Consistency, KvRecord, KvService, ListOptions, PutOptions, StaleRead } from './types.ts';

export interface KvLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  requestTimeoutMs: number;
}

export class RaftKvService implements KvService, BackupSource {
  constructor(
    private readonly nodeId: string,
    private readonly group: RaftGroup,
    private readonly store: KvStore,
    private readonly limits: KvLimits,
  ) {}

  private checkKey(key: Uint8Array): void {
    if (key.byteLength === 0) throw new ConcordError('bad-request', 'key must not be empty');
    if (key.byteLength > this.limits.maxKeyBytes) throw new ConcordError('too-large', `key is ${key.byteLength} bytes; the limit is ${this.limits.maxKeyBytes}`);
  }

  private checkValue(value: Uint8Array): void {
    if (value.byteLength > this.limits.maxValueBytes) {
      throw new ConcordError('too-large', `value is ${value.byteLength} bytes; the limit is ${this.limits.maxValueBytes}`);
    }
  }

  private submit(c: Command): Promise<CommandResult> {
    return this.propose((s) => encodeCommand({ n: this.nodeId, s, c }));
  }

  private async propose(encode: (seq: number) => Uint8Array): Promise<CommandResult> {
    return (await this.group.propose(encode, this.limits.requestTimeoutMs)) as CommandResult;
  }

  private async barrier(consistency: Consistency | undefined): Promise<void> {
    if ((consistency ?? 'linearizable') === 'linearizable') await this.group.linearizableBarrier(this.limits.requestTimeoutMs);
  }

  /**
   * The linearizable barrier while the group has a quorum (resolves undefined); without one, how stale
   * this node's own state may be. No leader known: at once. Otherwise the barrier gets an election
   * timeout: a healthy one takes a heartbeat round, and after about that long a follower stops
   * believing in a silent leader and a leader without a quorum steps down.
   */
  private async barrierOrStale(): Promise<StaleRead | undefined> {
    if (!this.group.hasLeader()) return this.staleness();
    try {
      await this.group.linearizableBarrier(Math.min(this.limits.requestTimeoutMs, this.group.electionTimeoutMs));
      return undefined;
    } catch (e) {
      if (e instanceof ConcordError && (e.code === 'unavailable' || e.code === 'timeout')) return this.staleness();
      throw e;
    }
  }

  private staleness(): StaleRead {
    const ms = this.group.msSinceLeader();
    return ms === undefined ? {} : { lastContactMs: ms };
  }

  leaderless(): StaleRead | undefined {
    return this.group.hasLeader() ? undefined : this.staleness();
  }

  async getOrStale(key: Uint8Array): Promise<{ record: KvRecord | undefined; stale?: StaleRead }> {
    this.checkKey(key);
    const stale = await this.barrierOrStale();
    const record = live(this.store.get(key));
    return stale ? { record, stale } : { record };
  }

  async listOrStale(opts: ListOptions): Promise<{ items: KvRecord[]; more: boolean; stale?: StaleRead }> {
    const stale = await this.barrierOrStale();
    const r = await this.list({ ...opts, consistency: 'serializable' });
    return stale ? { ...r, stale } : r;
  }

  async get(key: Uint8Array, opts?: { consistency?: Consistency }): Promise<KvRecord | undefined> {
    this.checkKey(key);
    await this.barrier(opts?.consistency);
    return live(this.store.get(key));
  }

  getSerializable(key: Uint8Array): KvRecord | undefined {
    this.checkKey(key);
    return live(this.store.get(key));
  }

  async put(key: Uint8Array, value: Uint8Array, opts: PutOptions = {}): Promise<{ revision: number }> {
    this.checkKey(key);
    this.checkValue(value);
    const expiresAt = opts.ttlSeconds !== undefined ? Date.now() + opts.ttlSeconds * 1000 : undefined;
    const c = { t: 'put', key, value, ifMatch: opts.ifMatch, ifNoneMatch: opts.ifNoneMatch, expiresAt } as const;
    const r = value.byteLength >= LARGE_VALUE_BYTES ? await this.propose(await encodeLargePut(this.nodeId, c)) : await this.submit(c);
    if (!r.ok) throw new ConcordError('precondition-failed', 'the key does not match the precondition');
    return { revision: r.revision };
  }

  async delete(key: Uint8Array, opts: { ifMatch?: number } = {}): Promise<{ deleted: number; revision: number }> {
    this.checkKey(key);
    const r = await this.submit({ t: 'del', key, ifMatch: opts.ifMatch });
    if (!r.ok && r.reason === 'precondition-failed') throw new ConcordError('precondition-failed', 'the key does not match the precondition');
    return { deleted: r.ok ? (r.deleted ?? 1) : 0, revision: r.revision };
  }

  async list(opts: ListOptions): Promise<{ items: KvRecord[]; more: boolean }> {
    await this.barrier(opts.consistency);
    // Expired keys are skipped inside the page, not filtered out of it: a page of them only would be
    // empty with more = true, leaving the client no last key to continue after.
    return this.store.range({ ...opts, liveAt: Date.now() });
  }

  async backup(): Promise<BackupImage> {
    // After a ReadIndex barrier, so the image holds every write acknowledged before the request.
    await this.barrier('linearizable');
    const image = this.store.exportSnapshot();
    return { appliedIndex: image.appliedIndex, chunks: image, cancel: () => image.cancel() };
  }

  async batch(ops: BatchOp[]): Promise<{ revision: number }> {
    let bytes = 0;
    for (const op of ops) {
      this.checkKey(op.key);
      if (op.op === 'put') {
        this.checkValue(op.value);
        bytes += op.value.byteLength;
      }
    }
    if (bytes > this.limits.maxValueBytes) throw new ConcordError('too-large', `batch carries ${bytes} bytes; the limit is ${this.limits.maxValueBytes}`);
    const r = await this.submit({ t: 'batch', ops: ops.map((o) => (o.op === 'put' ? { t: 'put', key: o.key, value: o.value } : { t: 'del', key: o.key })) });
    return { revision: r.revision };
  }
}

/** A key past its TTL reads as absent (it is removed from storage by a later cleanup). */
function live<T extends { expiresAt?: number }>(r: T | undefined): T | undefined {
  return r && r.expiresAt !== undefined && r.expiresAt <= Date.now() ? undefined : r;
}

// KvService over one Raft group: writes are proposals answered when applied on this node (followers
// forward them through Raft), linearizable reads wait for a ReadIndex barrier, serializable reads
// are served from local state. A put with a TTL is stamped with this node's estimate of the log's time;
// while keys or leases with an expiry are held, the leader proposes a clock entry when the soonest falls due
// (state-machine.ts says what applying one does). Grants and keep-alives of leases are stamped as puts are,
// and a new leader renews every lease (a promote entry) before it proposes any clock entry. In cache mode
// (limits.maxKeys, maxBytes) the leader evicts the least recently written keys past either limit, naming each
// with the revision it saw.

import type { RaftGroup } from '../cluster/raft-group.ts';
import type { KvStore, LeaseState } from '../storage/kv-store.ts';
import { encodeCommand, encodeLargePut, type Command, type CommandResult } from './commands.ts';
import { LARGE_VALUE_BYTES } from '../storage/kv-store.ts';
import { ConcordError } from '../util/errors.ts';
import type { BackupImage, BackupSource, BatchOp, ChangeFeedOptions, ChangePage, Consistency, KvRecord, KvService, LeaseGrant, LeaseGrantOptions, LeaseInfo, ListOptions, PutOptions, StaleRead, TxnRequest, TxnResult } from './types.ts';
import { checkTxn } from './txn.ts';
import { checkLeaseId, checkLeaseTtl, leaseNotFound, leasesNotFound, randomLeaseId } from './lease-ids.ts';

export interface KvLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  maxTxnOps: number;
  /** Cache mode: the most keys this group keeps (0 or absent: no limit; needs a store that tracks writes). */
  maxKeys?: number;
  /** Cache mode: the most bytes of keys and values this group keeps (0 or absent: no limit; likewise). */
  maxBytes?: number;
  requestTimeoutMs: number;
}

/** How often a node in cache mode looks whether its group, if it leads it, holds more keys than it may. */
const EVICT_CHECK_MS = 250;
/** Keys named in one eviction entry. */
const EVICT_BATCH = 1000;

/** How often a node that does not lead looks again whether it leads, while expiries are pending. */
const CLOCK_RECHECK_MS = 1000;
/**
 * The longest a clock timer is armed for: it looks again then, so an estimate that jumped forward (a newer
 * stamp applied) is noticed within it. (setTimeout also fires at once past 2^31 - 1 ms.)
 */
const CLOCK_TIMER_MAX_MS = 1000;

/** KvService.changes from a store's history. */
export async function storeChanges(store: KvStore, from: number, opts: ChangeFeedOptions): Promise<ChangePage> {
  if (!Number.isSafeInteger(from) || from < 0) throw new ConcordError('bad-request', `revision ${from} is not a revision`);
  if (from === 0) return { revisions: [], next: store.appliedIndex() + 1 };
  if (from > store.appliedIndex()) await store.waitApplied(from - 1, opts.waitMs);
  const floor = store.historyFloor();
  if (from < floor) throw new ConcordError('compacted', `revision ${from} is compacted: the oldest revision this history holds is ${floor}`);
  if (from > store.appliedIndex()) return { revisions: [], next: from };
  const page = store.readHistory(from, opts.maxBytes);
  return { revisions: page.revisions, next: page.last + 1 };
}

export class RaftKvService implements KvService, BackupSource {
  private clockTimer: NodeJS.Timeout | undefined;
  private clockDue = Infinity;
  /** The term in which this node, leading, last renewed every lease (0: none yet). */
  private promotedTerm = 0;

  constructor(
    private readonly nodeId: string,
    private readonly group: RaftGroup,
    private readonly store: KvStore,
    private readonly limits: KvLimits,
  ) {
    store.expiries.onSooner = store.leases.expiries.onSooner = (at) => this.scheduleClock(at);
    const next = store.nextExpiry();
    if (next !== undefined) this.scheduleClock(next);
    if ((limits.maxKeys || limits.maxBytes) && store.writeOrder) this.watchCacheBounds(limits.maxKeys || Infinity, limits.maxBytes || Infinity);
  }

  /** Cache mode: while the store is open, the leader evicts the least recently written keys past either bound. */
  private watchCacheBounds(maxKeys: number, maxBytes: number): void {
    const check = async () => {
      const order = this.store.writeOrder!;
      try {
        while (!this.store.isClosed && (order.size > maxKeys || order.bytes > maxBytes) && this.group.role() === 'leader') {
          // Resolves once applied here, so the write order has lost the evicted keys by then.
          const keys = order.pastBounds(maxKeys, maxBytes, EVICT_BATCH).map(({ key, revision }) => ({ key, revision }));
          await this.submit({ t: 'evict', keys });
        }
      } catch {
        // Lost leadership, timed out or closed: looked at again at the next check.
      }
      if (!this.store.isClosed) setTimeout(() => void check(), EVICT_CHECK_MS).unref();
    };
    void check();
  }

  /** Arms the clock timer for the log time `at` (unless it is already armed for as soon). */
  private scheduleClock(at: number): void {
    if (at >= this.clockDue) return;
    clearTimeout(this.clockTimer);
    this.clockDue = at;
    this.clockTimer = setTimeout(() => void this.clockDueNow(), Math.min(CLOCK_TIMER_MAX_MS, Math.max(0, at - this.store.clock.now())));
    this.clockTimer.unref();
  }

  /** An expiry is due by this node's estimate: the leader proposes a clock entry; others look again later. */
  private async clockDueNow(): Promise<void> {
    this.clockDue = Infinity;
    if (this.store.nextExpiry() === undefined) return; // none once the store is closed: the timer stops
    if (this.group.role() === 'leader' && !(await this.promoted())) return this.scheduleClock(this.store.clock.now() + CLOCK_RECHECK_MS);
    const next = this.store.nextExpiry();
    if (next === undefined) return;
    const now = this.store.clock.now();
    if (next > now) return this.scheduleClock(next);
    // Still leading in the term it renewed the leases in: a clock entry of another term's leader could land
    // before that leader's own promote.
    if (this.group.role() === 'leader' && this.group.term() === this.promotedTerm) {
      try {
        // Resolves once applied here, so the keys it made due are out of the index by then.
        await this.submit({ t: 'clock', now });
        const after = this.store.nextExpiry();
        if (after !== undefined) this.scheduleClock(after);
        return;
      } catch {
        // Lost leadership, timed out or closed: whoever leads, or this node, tries again.
      }
    }
    this.scheduleClock(this.store.clock.now() + CLOCK_RECHECK_MS);
  }

  /**
   * Whether this leader has renewed every lease in its term (proposing the promote entry now if not): leases
   * must not expire for want of keep-alives that could not get through while the shard had no leader. Proposed
   * whether or not this node knows of leases yet: grants committed before its term may not be applied here.
   */
  private async promoted(): Promise<boolean> {
    const term = this.group.term();
    if (this.promotedTerm === term) return true;
    try {
      await this.submit({ t: 'promote', now: this.store.clock.now() });
      this.promotedTerm = term;
      return true;
    } catch {
      return false; // lost leadership, timed out or closed: looked at again
    }
  }

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
    const record = this.store.get(key);
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
    return this.store.get(key);
  }

  getSerializable(key: Uint8Array): KvRecord | undefined {
    this.checkKey(key);
    return this.store.get(key);
  }

  async put(key: Uint8Array, value: Uint8Array, opts: PutOptions = {}): Promise<{ revision: number }> {
    this.checkKey(key);
    this.checkValue(value);
    checkTimed(opts.ttlSeconds, opts.lease);
    const ttl = opts.ttlSeconds !== undefined ? { ms: opts.ttlSeconds * 1000, now: this.store.clock.now() } : undefined;
    const c = { t: 'put', key, value, ifMatch: opts.ifMatch, ifNoneMatch: opts.ifNoneMatch, ttl, lease: opts.lease } as const;
    const r = value.byteLength >= LARGE_VALUE_BYTES ? await this.propose(await encodeLargePut(this.nodeId, c)) : await this.submit(c);
    if (!r.ok && r.reason === 'not-found') throw leaseNotFound(opts.lease!);
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
    return this.store.range(opts);
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
        checkTimed(op.ttlSeconds, op.lease);
        bytes += op.value.byteLength;
      }
    }
    if (bytes > this.limits.maxValueBytes) throw new ConcordError('too-large', `batch carries ${bytes} bytes; the limit is ${this.limits.maxValueBytes}`);
    const now = this.store.clock.now();
    const r = await this.submit({
      t: 'batch',
      ops: ops.map((o) =>
        o.op === 'put'
          ? { t: 'put', key: o.key, value: o.value, ...(o.ttlSeconds !== undefined ? { ttl: { ms: o.ttlSeconds * 1000, now } } : {}), ...(o.lease !== undefined ? { lease: o.lease } : {}) }
          : { t: 'del', key: o.key },
      ),
    });
    if (!r.ok) throw leasesNotFound('the batch', ops.flatMap((o) => (o.op === 'put' && o.lease !== undefined ? [o.lease] : [])));
    return { revision: r.revision };
  }

  /** From this replica's history: a follower's lags its leader's by what it has not applied yet, and is the same. */
  changes(from: number, opts: ChangeFeedOptions): Promise<ChangePage> {
    return storeChanges(this.store, from, opts);
  }

  async grantLease(ttlSeconds: number, opts: LeaseGrantOptions = {}): Promise<LeaseGrant> {
    checkLeaseTtl(ttlSeconds);
    const id = opts.id ?? randomLeaseId(1, 0);
    checkLeaseId(id);
    const r = await this.submit({ t: 'grant', lease: id, ms: ttlSeconds * 1000, now: this.store.clock.now() });
    if (!r.ok) throw new ConcordError('precondition-failed', `lease ${id} already exists`);
    return { id, ttlSeconds };
  }

  async keepAliveLease(id: number): Promise<LeaseGrant> {
    checkLeaseId(id);
    const r = await this.submit({ t: 'keepalive', lease: id, now: this.store.clock.now() });
    if (!r.ok) throw leaseNotFound(id);
    return { id, ttlSeconds: Math.round((r.ttlMs ?? 0) / 1000) };
  }

  async revokeLease(id: number): Promise<{ revision: number; deleted: number }> {
    checkLeaseId(id);
    const r = await this.submit({ t: 'revoke', lease: id });
    if (!r.ok) throw leaseNotFound(id);
    return { revision: r.revision, deleted: r.deleted ?? 0 };
  }

  async leaseTimeToLive(id: number, opts: { keys?: boolean } = {}): Promise<LeaseInfo> {
    checkLeaseId(id);
    await this.barrier('linearizable');
    const lease = this.store.leases.get(id);
    if (!lease) throw leaseNotFound(id);
    const info = this.leaseInfo(id, lease);
    if (opts.keys) info.keys = this.store.leaseKeys(id);
    return info;
  }

  async leases(): Promise<LeaseInfo[]> {
    await this.barrier('linearizable');
    return this.store.leases.all().map(([id, lease]) => this.leaseInfo(id, lease));
  }

  private leaseInfo(id: number, lease: LeaseState): LeaseInfo {
    return { id, ttlSeconds: Math.max(0, Math.ceil((lease.expiresAt - this.store.clock.now()) / 1000)), grantedTtlSeconds: Math.round(lease.ttlMs / 1000) };
  }

  async txn(req: TxnRequest): Promise<TxnResult> {
    checkTxn(req, this.limits, (key) => this.checkKey(key));
    const r = await this.submit({ t: 'txn', ...req });
    if (!r.ok && r.reason === 'not-found') throw leasesNotFound('the transaction', [...req.success, ...req.failure].flatMap((o) => (o.op === 'put' && o.lease !== undefined ? [o.lease] : [])));
    if (!r.ok || !r.txn) throw new Error('a transaction applied without its outcome');
    return { succeeded: r.txn.succeeded, revision: r.revision, results: r.txn.results };
  }
}

/** A put expires by a TTL or with a lease, not both. */
function checkTimed(ttlSeconds: number | undefined, lease: number | undefined): void {
  if (lease === undefined) return;
  checkLeaseId(lease);
  if (ttlSeconds !== undefined) throw new ConcordError('bad-request', 'a put takes a TTL or a lease, not both (a lease has a TTL of its own)');
}

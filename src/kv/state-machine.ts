// The replicated key-value state machine: applies committed commands to the LMDB store. Revision of a
// write = the Raft index of the entry that made it, so every replica computes the same revisions and
// the same precondition outcomes.
//
// Expiry is decided the same way. A timed entry carries a stamp, its proposer's estimate of the log's time
// (storage/log-clock.ts): a put with a TTL, whose expiry is its stamp plus the TTL, and a clock entry, which
// the shard's leader proposes when an expiry falls due and whose applying deletes every record due by its
// stamp, at its revision. Only clock entries delete, so only a leader's estimate decides when keys go, not a
// stamp from whichever node took a put. A key is present until such a clock entry is applied, then gone for
// every read and write on every replica alike — never resurrected, since only a new put brings it back.
//
// Leases expire the same way: a grant or keep-alive carries its proposer's stamp, the lease expires at the
// later of the expiry it had and that stamp plus its TTL (a keep-alive from a node whose estimate lags never
// shortens it), and the clock entry whose stamp passes the expiry revokes the lease: deletes every key
// attached to it and the lease, at its revision, as a revoke does. A new leader, before any clock entry of
// its term, proposes a promote entry, which renews every lease as a keep-alive would (etcd's lessor does the
// same when it is promoted): keep-alives could not get through while the shard had no leader.

import { EntryType, type Entry, type Snapshot } from '../raft/types.ts';
import type { StateMachine } from '../cluster/raft-group.ts';
import { LARGE_VALUE_BYTES, type KvStore, type KvTx, type LeaseState } from '../storage/kv-store.ts';
import { compareBytes } from '../storage/kv-record.ts';
import type { LogClock } from '../storage/log-clock.ts';
import { applyTxn } from './txn.ts';
import { decodeCommand, type Command, type CommandResult, type Envelope } from './commands.ts';

/** What apply() hands back: each applied entry's result, by index, with the node and sequence number that proposed it. */
type Applied = Awaited<ReturnType<StateMachine['apply']>>;

export class KvStateMachine implements StateMachine {
  /** Called for every applied membership change (the node keeps peer addresses from them). */
  onConfChange: (e: Entry) => void = () => {};

  constructor(readonly store: KvStore) {}

  appliedIndex(): number {
    return this.store.appliedIndex();
  }

  async apply(entries: Entry[]): Promise<Applied> {
    // One LMDB transaction for the whole batch; each entry still records its own index. Synchronous
    // (cheapest) unless the batch may hold a large value, whose copies must not block the event loop.
    const out: Applied = new Map();
    let large = false;
    const items = entries.map((e) => {
      if (e.type === EntryType.ConfChange) this.onConfChange(e);
      if (e.type !== EntryType.Normal || e.data.byteLength === 0) return { index: e.index, fn: nothingToApply };
      if (e.data.byteLength >= LARGE_VALUE_BYTES) large = true;
      return { index: e.index, fn: commandApplier(decodeCommand(e.data), e.index, out, this.store.clock) };
    });
    if (large) await this.store.applyAllAsync(items);
    else this.store.applyAllSync(items);
    return out;
  }

  async restore(snapshot: Snapshot): Promise<void> {
    await this.store.importSnapshot([snapshot.data], snapshot.meta.index);
  }
}

const nothingToApply = (): undefined => undefined;

/**
 * The entry's write, as a closure returned from a function rather than written inline as `fn: (tx) =>`:
 * tsx compiles with esbuild's keepNames, which wraps every closure created in a naming position in an
 * Object.defineProperty call for its name, and that was 1-1.7% of each node's CPU under puts (perf).
 */
function commandApplier(env: Envelope, index: number, out: Applied, clock: LogClock): (tx: KvTx) => CommandResult {
  return (tx) => {
    const c = env.c;
    if (c.t === 'clock') sweep(tx, c.now);
    const stamp = c.t === 'clock' || c.t === 'grant' || c.t === 'keepalive' || c.t === 'promote' ? c.now : c.t === 'put' ? c.ttl?.now : undefined;
    if (stamp !== undefined) clock.observe(stamp);
    if (c.t === 'batch') for (const op of c.ops) if (op.t === 'put' && op.ttl) clock.observe(op.ttl.now);
    const result = execute(tx, env.c, index);
    out.set(index, { node: env.n, seq: env.s, result });
    return result;
  };
}

/**
 * Deletes every record whose expiry is at or before `t`, in key order, then revokes every lease expired by
 * then, by id: the candidates come from each replica's own index in an order of its own (keys due at one
 * instant, as a batch's are, in heap order), and the order of the deletes is the order of the revision's
 * changes in the history, which a watch cursor counts in.
 */
function sweep(tx: KvTx, t: number): void {
  for (const key of tx.takeDue(t).sort(compareBytes)) {
    const r = tx.get(key);
    if (r?.expiresAt !== undefined && r.expiresAt <= t) tx.delete(key);
  }
  for (const id of tx.takeDueLeases(t)) {
    const lease = tx.lease(id);
    if (lease && lease.expiresAt <= t) revoke(tx, id);
  }
}

/** A keep-alive stamped `now`: the lease expires its TTL after it, or as it did if that is later. */
function renew(tx: KvTx, id: number, lease: LeaseState, now: number): void {
  if (now + lease.ttlMs > lease.expiresAt) tx.setLease(id, { ttlMs: lease.ttlMs, expiresAt: now + lease.ttlMs });
}

/** Deletes the keys attached to lease `id`, in key order, then the lease; returns how many keys. */
function revoke(tx: KvTx, id: number): number {
  let deleted = 0;
  for (const key of tx.leaseKeys(id)) if (tx.get(key)?.lease === id && tx.delete(key)) deleted++;
  tx.setLease(id, undefined);
  return deleted;
}

function execute(tx: KvTx, c: Command, revision: number): CommandResult {
  switch (c.t) {
    case 'put': {
      if (c.lease !== undefined && !tx.lease(c.lease)) return { ok: false, reason: 'not-found', revision };
      const cur = tx.get(c.key);
      if (c.ifNoneMatch && cur) return { ok: false, reason: 'precondition-failed', revision };
      if (c.ifMatch !== undefined && (cur?.modRevision ?? 0) !== c.ifMatch) return { ok: false, reason: 'precondition-failed', revision };
      tx.put(c.key, c.value, { expiresAt: c.ttl ? c.ttl.now + c.ttl.ms : c.expiresAt, lease: c.lease });
      return { ok: true, revision };
    }
    case 'del': {
      const cur = tx.get(c.key);
      if (c.ifMatch !== undefined && (cur?.modRevision ?? 0) !== c.ifMatch) return { ok: false, reason: 'precondition-failed', revision };
      if (!cur) return { ok: false, reason: 'not-found', revision };
      tx.delete(c.key);
      return { ok: true, revision, deleted: 1 };
    }
    case 'batch':
      for (const op of c.ops) if (op.t === 'put' && op.lease !== undefined && !tx.lease(op.lease)) return { ok: false, reason: 'not-found', revision };
      for (const op of c.ops) {
        if (op.t === 'put') tx.put(op.key, op.value, { expiresAt: op.ttl ? op.ttl.now + op.ttl.ms : undefined, lease: op.lease });
        else tx.delete(op.key);
      }
      return { ok: true, revision };
    case 'grant':
      if (tx.lease(c.lease)) return { ok: false, reason: 'exists', revision };
      tx.setLease(c.lease, { ttlMs: c.ms, expiresAt: c.now + c.ms });
      return { ok: true, revision, ttlMs: c.ms };
    case 'keepalive': {
      const lease = tx.lease(c.lease);
      if (!lease) return { ok: false, reason: 'not-found', revision };
      renew(tx, c.lease, lease, c.now);
      return { ok: true, revision, ttlMs: lease.ttlMs };
    }
    case 'promote':
      for (const id of tx.leaseIds()) renew(tx, id, tx.lease(id)!, c.now);
      return { ok: true, revision };
    case 'revoke':
      if (!tx.lease(c.lease)) return { ok: false, reason: 'not-found', revision };
      return { ok: true, revision, deleted: revoke(tx, c.lease) };
    case 'clock':
      return { ok: true, revision };
    case 'txn': {
      const txn = applyTxn(tx, c);
      return txn ? { ok: true, revision, txn } : { ok: false, reason: 'not-found', revision };
    }
    case 'evict': {
      // Only a key still at the revision the leader saw: one written again since stays.
      let deleted = 0;
      for (const { key, revision: seen } of c.keys) if (tx.get(key)?.modRevision === seen && tx.delete(key)) deleted++;
      return { ok: true, revision, deleted };
    }
  }
}

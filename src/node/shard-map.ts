// How many shards a cluster has, decided by consensus: a cluster founded with S > 1 shards writes S into its
// metadata group (g0) as a committed entry right after the founding members, so every member — a node added
// later included — learns it from g0's log or snapshot, never from its own flags. A cluster of one shard
// writes nothing: its g0 is the one data shard, as in the versions before sharding.
//
// A node that joins learns the count from its own copy of g0 once it has applied the entry after the founding
// members (settledAt): the count's entry when S > 1, the first leader's empty entry when S = 1. Applied state
// is committed state, so no read of the leader is needed, and the node need not catch up to the end first.
//
// The entry is an ordinary put of a reserved key into g0's key-value state. With S > 1, g0's key-value state
// holds nothing else and no client reads it (every key belongs to a shard group), so the key is never seen.

import { EntryType, type Entry } from '../raft/types.ts';
import type { KvStore } from '../storage/kv-store.ts';
import { encodeCommand } from '../kv/commands.ts';
import { GROUP } from '../cluster/data-dir.ts';

const SHARDS_KEY = new TextEncoder().encode('\u0000concord:shards');

/** The raft group of shard `i` of `count`: g0 itself when it is the only one. */
export function shardGroupId(i: number, count: number): string {
  return count === 1 ? GROUP : `s${i}`;
}

/** The entry that records the shard count, to follow the founding membership entries in g0's log. */
export function shardCountEntry(index: number, count: number): Entry {
  const value = new TextEncoder().encode(JSON.stringify({ shards: count }));
  const data = encodeCommand({ n: '', s: 0, c: { t: 'put', key: SHARDS_KEY, value } });
  return { term: 1, index, type: EntryType.Normal, data };
}

/** The shard count g0's applied state records; undefined if it records none (a cluster of one shard, or not applied yet). */
export function appliedShardCount(meta: KvStore): number | undefined {
  const r = meta.get(SHARDS_KEY);
  if (!r) return undefined;
  const n = (JSON.parse(new TextDecoder().decode(r.value)) as { shards?: unknown }).shards;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new Error(`the metadata group holds a malformed shard count: ${JSON.stringify(n)}`);
  return n;
}

/**
 * The g0 index past which its applied state tells the shard count: the first entry after the founding
 * membership entries at the log's start, or the snapshot the log starts from (taken past them); undefined
 * while the log holds only founding membership entries.
 */
export function shardCountSettledAt(log: { firstIndex(): number; lastIndex(): number; entries(lo: number, hi: number, maxBytes: number): Entry[] }): number | undefined {
  const first = log.firstIndex();
  if (first > 1) return first - 1;
  for (let lo = first, last = log.lastIndex(); lo <= last; ) {
    const batch = log.entries(lo, Math.min(last, lo + 255) + 1, 1 << 20);
    const normal = batch.find((e) => e.type !== EntryType.ConfChange);
    if (normal) return normal.index;
    lo += batch.length;
  }
  return undefined;
}

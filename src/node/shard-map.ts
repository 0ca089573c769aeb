// How many shards a cluster has, decided by consensus: a cluster founded with S > 1 shards writes S into its
// metadata group (g0) as a committed entry right after the founding members, so every member — a node added
// later included — learns it from g0's log or snapshot, never from its own flags. A cluster of one shard
// writes nothing: its g0 is the one data shard, as in the versions before sharding.
//
// A node that joins learns the count from its own copy of g0 once it has applied the entry after the founding
// members (settledAt): the count's entry when S > 1, the first leader's empty entry when S = 1. Applied state
// is committed state, so no read of the leader is needed, and the node need not catch up to the end first.
//
// Where each shard lives is decided by consensus too: the shard map (epoch, R, and each shard's replicas,
// preferred leader first) is a second reserved key of g0, planned by planPlacement (src/shard) from g0's
// members. The founders write the first map in the same entry as the count; afterwards g0's leader plans a
// new one whenever g0's members differ from those the map was planned for (shard-placer.ts). A cluster
// founded before maps existed has none until its leader writes one: until then every member hosts every
// shard (defaultShardMap).
//
// Both are ordinary puts of reserved keys into g0's key-value state. With S > 1, g0's key-value state holds
// nothing else and no client reads it (every key belongs to a shard group), so the keys are never seen.

import { EntryType, type Entry } from '../raft/types.ts';
import type { KvStore } from '../storage/kv-store.ts';
import { RESERVED_KEY_PREFIX } from '../storage/kv-record.ts';
import { encodeCommand } from '../kv/commands.ts';
import { GROUP } from '../cluster/data-dir.ts';
import { planPlacement } from '../shard/placement.ts';

const SHARDS_KEY = new TextEncoder().encode(`${RESERVED_KEY_PREFIX}shards`);
export const SHARD_MAP_KEY = new TextEncoder().encode(`${RESERVED_KEY_PREFIX}shard-map`);

/** Which members hold each shard. */
export interface ShardMap {
  /** Raised by one with every new map. */
  epoch: number;
  /** R, fixed when the cluster was founded. */
  replicas: number;
  /** The members (g0's voters and learners) the map was planned for, sorted. */
  members: string[];
  /** Shard → its replicas, the preferred leader first. */
  shards: string[][];
}

/** The raft group of shard `i` of `count`: g0 itself when it is the only one. */
export function shardGroupId(i: number, count: number): string {
  return count === 1 ? GROUP : `s${i}`;
}

/** The entry that records the shard count and the first map, to follow the founding membership entries in g0's log. */
export function shardCountEntry(index: number, count: number, map: ShardMap): Entry {
  const value = new TextEncoder().encode(JSON.stringify({ shards: count }));
  const ops = [
    { t: 'put' as const, key: SHARDS_KEY, value },
    { t: 'put' as const, key: SHARD_MAP_KEY, value: encodeShardMap(map) },
  ];
  const data = encodeCommand({ n: '', s: 0, c: { t: 'batch', ops } });
  return { term: 1, index, type: EntryType.Normal, data };
}

export function encodeShardMap(map: ShardMap): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(map));
}

/** The map g0's applied state holds, with the revision of its key (for compare-and-swap); undefined if none. `known`: a previous answer, returned as it is if still current. */
export function appliedShardMap(meta: KvStore, known?: { map: ShardMap; revision: number }): { map: ShardMap; revision: number } | undefined {
  const r = meta.get(SHARD_MAP_KEY);
  if (!r) return undefined;
  // Read often (every few ticks, every status), written rarely: parsed again only when it changed.
  if (known?.revision === r.modRevision) return known;
  const map = JSON.parse(new TextDecoder().decode(r.value)) as ShardMap;
  if (!Number.isInteger(map.epoch) || !Array.isArray(map.shards) || !Array.isArray(map.members)) throw new Error('the metadata group holds a malformed shard map');
  return { map, revision: r.modRevision };
}

/** The map of a cluster that has written none (founded before maps existed): every member holds every shard. */
export function defaultShardMap(count: number, members: readonly string[], replicas: number): ShardMap {
  const sorted = [...members].sort();
  return { epoch: 0, replicas, members: sorted, shards: Array.from({ length: count }, () => [...sorted]) };
}

/**
 * The map for `members`, planned from `current` so that as few replicas move as balance allows; undefined
 * when `current` was planned for exactly these members already.
 */
export function nextShardMap(current: ShardMap, members: readonly string[]): ShardMap | undefined {
  const sorted = [...new Set(members)].sort();
  if (sorted.length === 0) return undefined;
  if (current.epoch > 0 && sorted.length === current.members.length && sorted.every((m, i) => m === current.members[i])) return undefined;
  const shards = planPlacement({ members: sorted, shards: current.shards.length, replicas: current.replicas, current: current.shards });
  return { epoch: current.epoch + 1, replicas: current.replicas, members: sorted, shards };
}

/**
 * The map for g0's `members`: the one g0 holds if it was planned for them, else the next one planned from it
 * (from defaultShardMap when g0 holds none). What g0's leader writes and what every node acts on meanwhile —
 * one function, so that they agree.
 */
export function plannedShardMap(stored: ShardMap | undefined, members: readonly string[], count: number, replicas: number): ShardMap {
  const base = stored ?? defaultShardMap(count, members, replicas);
  return nextShardMap(base, members) ?? base;
}

/** The first map of a new cluster. */
export function foundingShardMap(count: number, members: readonly string[], replicas: number): ShardMap {
  const sorted = [...members].sort();
  return { epoch: 1, replicas, members: sorted, shards: planPlacement({ members: sorted, shards: count, replicas }) };
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

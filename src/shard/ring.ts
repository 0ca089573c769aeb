// The consistent-hashing ring that placement starts from. Each member owns V points on a 32-bit ring,
// point i of member m at XXH32 (seed 0) of the UTF-8 bytes of `${m}#${i}`; shard s sits at
// ceil(s·2^32/S), the first hash of its key range (key-hash.ts), so the ring of shards and the ring of
// keys are one ring. Walking clockwise from a shard's point and taking each member the first time one
// of its points is passed gives that shard's preference order over all members; the ring rule places
// a shard's R replicas on the first R of it. Two members' points that collide are ordered by member
// id. Pure: the same members and V give the same ring whatever order the members come in.

import { xxh32 } from './key-hash.ts';

const utf8 = new TextEncoder();

/** Every shard's preference order, as flat S×N tables over member indices (members sorted by id). */
export interface Preferences {
  /** Member ids, sorted: index i in the tables below is members[i]. */
  readonly members: readonly string[];
  readonly shards: number;
  /** order[s·N + k]: the member at position k of shard s's clockwise walk. */
  readonly order: Int32Array;
  /** rank[s·N + m]: the position of member m in shard s's walk (0 = first). */
  readonly rank: Int32Array;
}

/** The position of `member` (an index into p.members) in shard `shard`'s clockwise walk; 0 is first. */
export const rankOf = (p: Preferences, shard: number, member: number): number => p.rank[shard * p.members.length + member];

/** The ring point of shard s of S: the first 32-bit hash that shardOfHash maps to s. */
export function shardPoint(shard: number, shards: number): number {
  return Math.ceil((shard * 4294967296) / shards);
}

/** The V points of every member, sorted clockwise; ties by member index. */
function ringPoints(members: readonly string[], vnodes: number): { points: Float64Array; owners: Int32Array } {
  const entries: { point: number; owner: number }[] = [];
  members.forEach((id, owner) => {
    for (let i = 0; i < vnodes; i++) entries.push({ point: xxh32(utf8.encode(`${id}#${i}`)), owner });
  });
  entries.sort((a, b) => a.point - b.point || a.owner - b.owner);
  return { points: Float64Array.from(entries, (e) => e.point), owners: Int32Array.from(entries, (e) => e.owner) };
}

/** Index of the first point ≥ `at`, or points.length when there is none (the walk then wraps to 0). */
function firstAtOrAfter(points: Float64Array, at: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The preference order of every shard over `members` (distinct ids, any order) with `vnodes` points
 * each. Costs O(N·V·log(N·V)) for the ring and about N·ln N points walked per shard.
 */
export function preferences(members: readonly string[], shards: number, vnodes: number): Preferences {
  const sorted = [...members].sort();
  const n = sorted.length;
  const { points, owners } = ringPoints(sorted, vnodes);
  const order = new Int32Array(shards * n);
  const rank = new Int32Array(shards * n).fill(-1);
  for (let s = 0; s < shards; s++) {
    const row = s * n;
    let seen = 0;
    for (let at = firstAtOrAfter(points, shardPoint(s, shards)); seen < n; at++) {
      const owner = owners[at % points.length];
      if (rank[row + owner] >= 0) continue;
      rank[row + owner] = seen;
      order[row + seen++] = owner;
    }
  }
  return { members: sorted, shards, order, rank };
}

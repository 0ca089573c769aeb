// Shards → members: the pure planning function the metadata leader will use to decide the shard map.
// No I/O, no clock, no randomness; the same input gives the same plan whatever order the members
// come in (they are sorted by id first, and every choice breaks ties by index).
//
// A plan starts from the current assignment, or for a new cluster from the ring rule (a shard's
// replicas are the first R distinct members clockwise from its point, ring.ts), and settles it
// (settle.ts): every member ends with ⌊T/N⌋ or ⌈T/N⌉ of the T = S·min(R, N) replicas, reached with as
// few replica copies as any balanced plan needs (but for a hole only a chain can fill), the ring
// choosing which replicas move. Plain consistent hashing alone is not balanced enough for small N and
// S (docs/sharding.md has the numbers): here the caps decide how many replicas a member holds, the
// ring only which.
//
// Preferred leaders are settled the same way over each shard's replicas: each member leads ⌊S/N⌋ or
// ⌈S/N⌉ shards, and a shard keeps its current leader where balance allows.

import { Matching } from './matching.ts';
import { preferences, rankOf, type Preferences } from './ring.ts';
import { settle } from './settle.ts';

export const DEFAULT_REPLICAS = 3;
/** Points per member on the ring; chosen by measurement (docs/sharding.md, "Choosing V"). */
export const DEFAULT_VNODES = 64;

/** shard → member ids; the first is the shard's preferred leader, the rest follow in ring order. */
export type Assignment = readonly (readonly string[])[];

export interface PlacementInput {
  /** Live member ids, distinct, in any order. */
  members: readonly string[];
  /** S, fixed when the cluster is created. */
  shards: number;
  /** R, replicas per shard (default 3); a shard gets min(R, N). */
  replicas?: number;
  /** V, ring points per member (default DEFAULT_VNODES). */
  vnodes?: number;
  /** The assignment in force, if any: the plan moves as little of it as balance allows. */
  current?: Assignment;
}

interface Context {
  readonly prefs: Preferences;
  readonly n: number;
  readonly shards: number;
  /** Replicas per shard: min(R, N). */
  readonly width: number;
}

/** Validates the input and builds the ring; throws RangeError on input no plan can satisfy. */
function context(input: PlacementInput): Context {
  const { members, shards, replicas = DEFAULT_REPLICAS, vnodes = DEFAULT_VNODES } = input;
  if (members.length === 0) throw new RangeError('placement needs at least one member');
  if (new Set(members).size !== members.length) throw new RangeError('member ids must be distinct');
  for (const [name, v] of [['shards', shards], ['replicas', replicas], ['vnodes', vnodes]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  const prefs = preferences(members, shards, vnodes);
  return { prefs, n: members.length, shards, width: Math.min(replicas, members.length) };
}

/** The ring rule, as member indices: shard → its first min(R, N) distinct members clockwise. */
function ringStart(c: Context): number[][] {
  return Array.from({ length: c.shards }, (_, s) => Array.from(c.prefs.order.subarray(s * c.n, s * c.n + c.width)));
}

/** The plain ring rule (what placement starts a new cluster from; not balanced), as member ids. */
export function ringRule(members: readonly string[], shards: number, replicas = DEFAULT_REPLICAS, vnodes = DEFAULT_VNODES): string[][] {
  const c = context({ members, shards, replicas, vnodes });
  return ringStart(c).map((held) => held.map((m) => c.prefs.members[m]));
}

/**
 * The current assignment as member indices: departed members dropped, duplicates dropped, and at most
 * `width` replicas kept (the listed leader, then the others earliest in ring order). Also returns each
 * shard's current leader, or -1 when it is gone.
 */
function fromCurrent(c: Context, current: Assignment): { start: number[][]; leaders: Int32Array } {
  if (current.length !== c.shards) throw new RangeError(`current assignment has ${current.length} shards, not ${c.shards}`);
  const index = new Map(c.prefs.members.map((id, i) => [id, i]));
  const leaders = new Int32Array(c.shards).fill(-1);
  const start = current.map((ids, s) => {
    const kept = [...new Set(ids.flatMap((id) => (index.has(id) ? [index.get(id)!] : [])))];
    if (ids.length > 0 && index.has(ids[0])) leaders[s] = index.get(ids[0])!;
    const [first, ...rest] = kept;
    if (kept.length <= c.width) return kept;
    return [first, ...rest.sort((a, b) => rankOf(c.prefs, s, a) - rankOf(c.prefs, s, b)).slice(0, c.width - 1)];
  });
  return { start, leaders };
}

/**
 * Preferred leaders: shard → member index, every member leading ⌊S/N⌋ or ⌈S/N⌉ shards. Settled like
 * replicas, with width 1 and a shard's leader one of its replicas, keeping current leaders where
 * balance allows. Such a plan always exists once replicas are balanced (docs/sharding.md gives the
 * argument), and the augmenting chains find it, so settle() does not throw here.
 */
function planLeaders(c: Context, replicas: Matching, current: Int32Array): Int32Array {
  const allowed = (s: number, member: number): boolean => replicas.holders[s].has(member);
  const lead = new Matching(c.shards, c.n, allowed);
  settle(c.prefs, lead, Array.from(current, (m, s) => (m >= 0 && allowed(s, m) ? [m] : [])), 1);
  return Int32Array.from(lead.holders, (h) => h.values().next().value!);
}

/**
 * The assignment for `members`: every shard on min(R, N) distinct members, each member holding
 * ⌊S·min(R,N)/N⌋ or ⌈S·min(R,N)/N⌉ replicas and leading ⌊S/N⌋ or ⌈S/N⌉ shards; from `current`, with
 * the fewest replica copies any such plan needs, except where a hole can only be filled by a chain.
 */
export function planPlacement(input: PlacementInput): string[][] {
  const c = context(input);
  const { start, leaders } = input.current
    ? fromCurrent(c, input.current)
    : { start: ringStart(c), leaders: new Int32Array(c.shards).fill(-1) };
  const replicas = new Matching(c.shards, c.n, () => true);
  settle(c.prefs, replicas, start, c.width);
  const leader = planLeaders(c, replicas, leaders);
  return replicas.holders.map((held, s) => {
    const rest = [...held].filter((m) => m !== leader[s]).sort((a, b) => rankOf(c.prefs, s, a) - rankOf(c.prefs, s, b));
    return [leader[s], ...rest].map((m) => c.prefs.members[m]);
  });
}

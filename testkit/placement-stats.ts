// Counting a shard placement (src/shard): replicas and preferred leaders per member, how far from balanced,
// how many replicas a change copies and the fewest any balanced plan could. Shared by the placement tests
// and bench/shard-placement.ts.
import type { Assignment } from '../src/shard/placement.ts';
import type { Rng } from '../src/util/prng.ts';

/** member → how many replicas it holds (every member listed, 0 included). */
export function replicaCounts(a: Assignment, members: readonly string[]): Map<string, number> {
  const counts = new Map(members.map((m) => [m, 0]));
  for (const replicas of a) for (const m of replicas) counts.set(m, (counts.get(m) ?? 0) + 1);
  return counts;
}

/** member → how many shards it is the preferred leader of (every member listed). */
export function leaderCounts(a: Assignment, members: readonly string[]): Map<string, number> {
  const counts = new Map(members.map((m) => [m, 0]));
  for (const replicas of a) counts.set(replicas[0], (counts.get(replicas[0]) ?? 0) + 1);
  return counts;
}

/** The replicas a plan holds in all: S · min(R, N). */
export const totalReplicas = (shards: number, replicas: number, members: number): number => shards * Math.min(replicas, members);

/** Largest |count − mean| / mean over the members. */
export function maxDeviation(counts: Map<string, number>, mean: number): number {
  return Math.max(...[...counts.values()].map((c) => Math.abs(c - mean) / mean));
}

/** Replicas copied going from `from` to `to`: members a shard gains. */
export function copies(from: Assignment, to: Assignment): number {
  return to.reduce((sum, replicas, s) => sum + replicas.filter((m) => !from[s].includes(m)).length, 0);
}

/**
 * The fewest replicas any plan for `members` that is balanced (every member ⌊T/N⌋ or ⌈T/N⌉) must
 * copy, starting from `from`: each member must gain max(0, target − what it keeps), and the targets
 * that ask least give the ⌈T/N⌉ to the members that keep the most.
 */
export function fewestCopies(from: Assignment, members: readonly string[], replicas: number): number {
  const total = totalReplicas(from.length, replicas, members.length);
  const kept = [...replicaCounts(from, members)].filter(([m]) => members.includes(m)).map(([, c]) => c);
  kept.sort((a, b) => b - a);
  const base = Math.floor(total / members.length);
  return kept.reduce((sum, c, i) => sum + Math.max(0, base + (i < total % members.length ? 1 : 0) - c), 0);
}

/** `count` distinct member ids drawn from `rng`, like the ids nodes get ("n" and 8 hex digits). */
export function randomMembers(rng: Rng, count: number): string[] {
  const ids = new Set<string>();
  while (ids.size < count) ids.add(`n${rng.int(0, 2 ** 32).toString(16).padStart(8, '0')}`);
  return [...ids];
}

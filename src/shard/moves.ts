// The difference between two assignments as replica moves, one replica at a time: what the metadata
// leader will execute, throttled, as "add the new replica (a learner, caught up, then promoted),
// then remove the old one". Pure.

import type { Assignment } from './placement.ts';

/**
 * One step for one shard: `add` gains a replica, then `remove` loses one. Either may be null when
 * the shard's replica count changes (more or fewer members than R, or R changed). `add` is never a
 * current replica of the shard and `remove` always is, so replicas stay distinct at every step.
 */
export interface Move {
  readonly shard: number;
  readonly add: string | null;
  readonly remove: string | null;
}

/**
 * The moves that turn `from` into `to` (replica sets; leader order is not a move), by shard; within a
 * shard the added members in `to`'s order are paired with the removed ones in `from`'s order. The
 * number of moves with an `add` is the number of replicas copied.
 */
export function diffAssignments(from: Assignment, to: Assignment): Move[] {
  if (from.length !== to.length) throw new RangeError(`assignments of ${from.length} and ${to.length} shards`);
  const moves: Move[] = [];
  for (let shard = 0; shard < to.length; shard++) {
    const before = new Set(from[shard]);
    const after = new Set(to[shard]);
    const added = [...after].filter((m) => !before.has(m));
    const removed = [...before].filter((m) => !after.has(m));
    for (let i = 0; i < Math.max(added.length, removed.length); i++) {
      moves.push({ shard, add: added[i] ?? null, remove: removed[i] ?? null });
    }
  }
  return moves;
}

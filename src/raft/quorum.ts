// Majority arithmetic over a voter set. Kept apart so that joint consensus could replace it
// (two majorities) without touching the state machine.

import type { NodeId } from './types.ts';

export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** The largest index that a majority of voters have reached (Raft §5.3 commit rule, before the term check). */
export function majorityIndex(voters: Iterable<NodeId>, indexOf: (id: NodeId) => number): number {
  const idx: number[] = [];
  for (const id of voters) idx.push(indexOf(id));
  if (idx.length === 0) return Infinity;
  idx.sort((a, b) => b - a);
  return idx[quorumSize(idx.length) - 1];
}

export type VoteResult = 'won' | 'lost' | 'pending';

export function tallyVotes(voters: Iterable<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0, rejected = 0, n = 0;
  for (const id of voters) {
    n++;
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(n);
  if (granted >= q) return 'won';
  if (n - rejected < q) return 'lost';
  return 'pending';
}

// Safety invariants checked after every step of a simulation (Raft paper Figure 3), plus the
// linearizability of reads. A violation throws with a description; the runner adds the replay command.

import type { Entry, NodeId } from '../../src/raft/types.ts';
import type { RawNode } from '../../src/raft/node.ts';

export class InvariantViolation extends Error {}

/** An entry's identity for comparisons: term, type and data. */
export function entryKey(e: Entry): string {
  return `${e.term}/${e.type}/${Buffer.from(e.data).toString('latin1')}`;
}

export class SafetyChecker {
  private leaderOfTerm = new Map<number, NodeId>();
  /** (index, term) -> identity of the entry and the term of the entry before it (Log Matching). */
  private seen = new Map<number, Map<number, { key: string; prevTerm: number }>>();
  /** Committed entries by index, as observed on any node (Leader Completeness). */
  readonly committed: string[] = [];
  commitIndex = 0;
  /** Entries applied by index, on any node (State Machine Safety). */
  private applied: string[] = [];

  /** Election Safety: at most one leader per term. */
  leaderElected(id: NodeId, term: number, node: RawNode): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== id) throw new InvariantViolation(`election safety: ${prev} and ${id} both leaders of term ${term}`);
    this.leaderOfTerm.set(term, id);
    // Leader Completeness: a leader holds every entry committed before its term.
    const log = node.raft.log;
    for (let i = log.firstIndex(); i <= this.commitIndex; i++) {
      const want = this.committed[i];
      const t = log.termOrUndefined(i);
      if (t === undefined) throw new InvariantViolation(`leader completeness: leader ${id} (term ${term}) lacks committed entry ${i}`);
      const [e] = log.slice(i, i + 1, Infinity);
      if (entryKey(e) !== want) {
        throw new InvariantViolation(`leader completeness: leader ${id} (term ${term}) has ${entryKey(e)} at ${i}, committed was ${want}`);
      }
    }
  }

  /** Log Matching: entries with the same index and term are identical, and so are their predecessors. */
  checkLog(id: NodeId, node: RawNode): void {
    const log = node.raft.log;
    let prevTerm = log.term(log.firstIndex() - 1);
    const last = log.lastIndex();
    if (last < log.firstIndex()) return;
    for (const e of log.slice(log.firstIndex(), last + 1, Infinity)) {
      let byTerm = this.seen.get(e.index);
      if (!byTerm) this.seen.set(e.index, (byTerm = new Map()));
      const key = entryKey(e);
      const rec = byTerm.get(e.term);
      if (!rec) byTerm.set(e.term, { key, prevTerm });
      else if (rec.key !== key || rec.prevTerm !== prevTerm) {
        throw new InvariantViolation(
          `log matching: ${id} has ${key} (prev term ${prevTerm}) at ${e.index}, seen before as ${rec.key} (prev term ${rec.prevTerm})`,
        );
      }
      prevTerm = e.term;
    }
  }

  /** Commits observed on a node (above `after`) must agree with every commit observed anywhere. */
  checkCommitted(id: NodeId, node: RawNode, after: number): void {
    const log = node.raft.log;
    const from = Math.max(log.firstIndex(), after + 1, 1);
    for (let i = from; i <= log.committed; i++) {
      const [e] = log.slice(i, i + 1, Infinity);
      const key = entryKey(e);
      const want = this.committed[i];
      if (want === undefined) this.committed[i] = key;
      else if (want !== key) throw new InvariantViolation(`commit safety: ${id} committed ${key} at ${i}, elsewhere ${want}`);
    }
    if (log.committed > this.commitIndex) this.commitIndex = log.committed;
  }

  /** State Machine Safety: no two nodes apply different entries at one index. */
  checkApplied(id: NodeId, e: Entry): void {
    const key = entryKey(e);
    const want = this.applied[e.index];
    if (want === undefined) this.applied[e.index] = key;
    else if (want !== key) throw new InvariantViolation(`state machine safety: ${id} applied ${key} at ${e.index}, another node applied ${want}`);
  }

  /** Applied-entry identity at an index, for checking a restored snapshot. */
  appliedAt(index: number): string | undefined {
    return this.applied[index];
  }
}

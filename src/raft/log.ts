// The Raft log as the core sees it: the host's stable Storage followed by an in-memory unstable
// tail (entries and possibly a snapshot not yet persisted). A Ready hands the host the part of the
// tail not yet handed out (it is then "in progress"); the host persists it, possibly while later
// Readies are handed out, and reports each Ready persisted in order (stableTo), which moves the
// boundary. Mirrors etcd's raftLog/unstable split with its offsetInProgress.

import { limitBytes, type Storage } from './storage.ts';
import { RaftError, type Entry, type Snapshot } from './types.ts';

export class RaftLog {
  /** A snapshot received from the leader and not yet persisted. */
  unstableSnapshot: Snapshot | undefined;
  /** Entries not yet persisted; unstable[0].index === unstableOffset. */
  unstable: Entry[] = [];
  unstableOffset: number;
  /** Unstable entries up to this index have been handed to the host to persist. */
  inProgress: number;
  /** The unstable snapshot has been handed to the host to persist. */
  snapshotInProgress = false;
  /** Highest index known committed. */
  committed: number;
  /** Highest index handed to the host for applying. */
  applied: number;

  constructor(readonly storage: Storage, applied = 0) {
    this.unstableOffset = storage.lastIndex() + 1;
    this.inProgress = storage.lastIndex();
    this.committed = storage.firstIndex() - 1;
    this.applied = Math.max(applied, storage.firstIndex() - 1);
  }

  firstIndex(): number {
    return this.unstableSnapshot ? this.unstableSnapshot.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.unstable[this.unstable.length - 1].index;
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term of entry i, or undefined if it is compacted or beyond the log. */
  termOrUndefined(i: number): number | undefined {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    if (i >= this.unstableOffset && this.unstable.length > 0) return this.unstable[i - this.unstableOffset].term;
    const snap = this.unstableSnapshot;
    if (snap && i === snap.meta.index) return snap.meta.term;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof RaftError) return undefined;
      throw e;
    }
  }

  term(i: number): number {
    const t = this.termOrUndefined(i);
    if (t === undefined) throw new RaftError('compacted', `term of ${i} unavailable (log is ${this.firstIndex()}..${this.lastIndex()})`);
    return t;
  }

  matchTerm(i: number, t: number): boolean {
    return this.termOrUndefined(i) === t;
  }

  /** Raft §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi) capped at maxBytes (at least one). Throws RaftError('compacted') below firstIndex. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError('compacted', `entry ${lo} is compacted`);
    if (hi > this.lastIndex() + 1) throw new Error(`slice [${lo},${hi}) beyond last index ${this.lastIndex()}`);
    if (lo >= hi) return [];
    let out: Entry[] = [];
    if (lo < this.unstableOffset) {
      out = this.storage.entries(lo, Math.min(hi, this.unstableOffset), maxBytes);
      // Storage returned fewer than asked: the byte cap was reached.
      if (out.length < Math.min(hi, this.unstableOffset) - lo) return out;
    }
    if (hi > this.unstableOffset) {
      const from = Math.max(lo, this.unstableOffset) - this.unstableOffset;
      const tail = this.unstable.slice(from, hi - this.unstableOffset);
      out = out.length > 0 ? out.concat(tail) : tail;
    }
    return limitBytes(out, maxBytes);
  }

  /** Append entries after truncating any conflicting unstable suffix (the caller has found the conflict). */
  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0].index - 1;
    if (after < this.committed) throw new Error(`appending after ${after} would overwrite committed ${this.committed}`);
    if (after + 1 === this.unstableOffset + this.unstable.length) {
      for (const e of entries) this.unstable.push(e);
    } else if (after + 1 <= this.unstableOffset) {
      // Replaces entries the host has already persisted: the host truncates them when it persists these.
      this.unstableOffset = after + 1;
      this.unstable = entries.slice();
    } else {
      this.unstable = this.unstable.slice(0, after + 1 - this.unstableOffset).concat(entries);
    }
    // Whatever replaced entries already handed out must be handed out again.
    if (this.inProgress > after) this.inProgress = after;
    return this.lastIndex();
  }

  /**
   * Raft Figure 2, AppendEntries receiver steps 3–5: if prev (index, logTerm) matches, drop entries we
   * already have, truncate at the first conflict, append the rest. Returns the new last index of the
   * leader's entries in our log, or undefined when prev does not match.
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) throw new Error(`entry ${conflict} conflicts with committed entry (commit ${this.committed})`);
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Index of the first entry whose term differs from ours or that we lack; 0 if we have all. */
  private findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking hint (etcd's findConflictByTerm): the largest index <= index whose term is
   * <= term. The leader can skip every entry of a term the follower does not have.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (; i >= this.firstIndex() - 1; i--) {
      const t = this.termOrUndefined(i);
      if (t === undefined) break;
      if (t <= term) return { index: i, term: t };
    }
    return { index: i, term: 0 };
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      if (index > this.lastIndex()) throw new Error(`commit ${index} beyond last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /** Last index the host has persisted (entries after it are unstable, in progress or not). */
  persistedIndex(): number {
    return this.unstableOffset - 1;
  }

  /**
   * Committed entries not yet handed to the host, capped at maxBytes. Only persisted ones: a state
   * machine that applied an entry its own log could still lose in a crash would restart ahead of
   * its log.
   */
  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = Math.min(this.committed, this.persistedIndex());
    if (hi < lo) return [];
    return this.slice(lo, hi + 1, maxBytes);
  }

  hasNextCommitted(): boolean {
    return Math.min(this.committed, this.persistedIndex()) > Math.max(this.applied, this.firstIndex() - 1);
  }

  /** Unstable entries not yet handed to the host. */
  unstableToPersist(): Entry[] {
    const from = Math.max(this.inProgress + 1, this.unstableOffset) - this.unstableOffset;
    return from === 0 ? this.unstable.slice() : this.unstable.slice(from);
  }

  hasUnstableToPersist(): boolean {
    return this.unstable.length > 0 && this.inProgress < this.unstableOffset + this.unstable.length - 1;
  }

  /** The host took everything unstable (a Ready was handed out): it is in progress now. */
  acceptInProgress(): void {
    if (this.unstable.length > 0) this.inProgress = this.unstable[this.unstable.length - 1].index;
    if (this.unstableSnapshot) this.snapshotInProgress = true;
  }

  appliedTo(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  /** The host has persisted everything up to (index, term): drop it from the unstable tail. */
  stableTo(index: number, term: number): void {
    if (this.unstable.length === 0) return;
    const at = index - this.unstableOffset;
    if (at < 0 || at >= this.unstable.length || this.unstable[at].term !== term) return;
    this.unstable = this.unstable.slice(at + 1);
    this.unstableOffset = index + 1;
    if (this.inProgress < index) this.inProgress = index;
  }

  stableSnapTo(index: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.meta.index === index) {
      this.unstableSnapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /** Reset the log to a snapshot received from the leader. */
  restore(snap: Snapshot): void {
    this.committed = snap.meta.index;
    this.unstableSnapshot = snap;
    this.snapshotInProgress = false;
    this.unstable = [];
    this.unstableOffset = snap.meta.index + 1;
    this.inProgress = snap.meta.index;
  }

  snapshot(): Snapshot {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }
}

// The stable log as raft/ reads it. Reads are synchronous so that a host can back it with LMDB
// (whose reads are synchronous memory-mapped lookups) as easily as with memory. Writes are the
// host's business: it appends what a Ready hands it, then tells raft/ through advance().

import { RaftError, type ConfState, type Entry, type HardState, type Snapshot } from './types.ts';

export interface Storage {
  /** The persisted hard state and the membership of the latest snapshot. */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at least one if any exist, capped at about maxBytes of data. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; i may be firstIndex()-1, the index of the latest snapshot. */
  term(i: number): number;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export function entryBytes(e: Entry): number {
  return e.data.byteLength + 16;
}

/** Take entries from the front of `ents` while they fit in maxBytes; always at least one. */
export function limitBytes(ents: Entry[], maxBytes: number): Entry[] {
  let size = 0;
  for (let i = 0; i < ents.length; i++) {
    size += entryBytes(ents[i]);
    if (size > maxBytes && i > 0) return ents.slice(0, i);
  }
  return ents;
}

/**
 * Storage in memory, as etcd's MemoryStorage: used by the simulator (where it stands for the disk
 * that survives a crash) and by benchmarks. ents[0] is a dummy holding the snapshot's index and term.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: '', commit: 0 };
  private snap: Snapshot;
  private ents: Entry[];

  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.snap = { meta: { index: 0, term: 0, confState: cloneConf(confState) }, data: new Uint8Array(0) };
    this.ents = [{ index: 0, term: 0, type: 0, data: new Uint8Array(0) }];
  }

  initialState() {
    return { hardState: { ...this.hardState }, confState: cloneConf(this.snap.meta.confState) };
  }

  /** Persist what a Ready asks for, in the order the host must: snapshot, entries, hard state. */
  save(rd: { hardState?: HardState; entries: Entry[]; snapshot?: Snapshot }): void {
    if (rd.snapshot) this.applySnapshot(rd.snapshot);
    this.append(rd.entries);
    if (rd.hardState) this.setHardState(rd.hardState);
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  private get offset(): number {
    return this.ents[0].index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  term(i: number): number {
    if (i < this.offset) throw new RaftError('compacted', `entry ${i} is compacted`);
    if (i > this.lastIndex()) throw new RaftError('unavailable', `entry ${i} is not in the log`);
    return this.ents[i - this.offset].term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.offset) throw new RaftError('compacted', `entry ${lo} is compacted`);
    if (hi > this.lastIndex() + 1) throw new RaftError('unavailable', `entries up to ${hi} not in the log`);
    return limitBytes(this.ents.slice(lo - this.offset, hi - this.offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Append entries, replacing any stored entries at or after the first new index. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    if (first <= this.offset) {
      // Entries already covered by the snapshot are dropped.
      entries = entries.filter((e) => e.index > this.offset);
      if (entries.length === 0) return;
    }
    const at = entries[0].index - this.offset;
    if (at > this.ents.length) throw new Error(`log gap: appending ${entries[0].index} after ${this.lastIndex()}`);
    this.ents.length = at;
    for (const e of entries) this.ents.push(e);
  }

  /** Replace the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) return;
    this.snap = snap;
    this.ents = [{ index: snap.meta.index, term: snap.meta.term, type: 0, data: new Uint8Array(0) }];
  }

  /** Record a snapshot of the state machine at `index` (which must be applied) without touching the log. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.meta.index) return this.snap;
    if (index > this.lastIndex()) throw new Error(`snapshot index ${index} beyond last index ${this.lastIndex()}`);
    this.snap = { meta: { index, term: this.term(index), confState: cloneConf(confState) }, data };
    return this.snap;
  }

  /** Discard entries before `index`; the entry at `index` becomes the dummy. */
  compact(index: number): void {
    if (index <= this.offset) return;
    if (index > this.lastIndex()) throw new Error(`compact ${index} beyond last index ${this.lastIndex()}`);
    const at = index - this.offset;
    const dummy = { index, term: this.ents[at].term, type: 0 as const, data: new Uint8Array(0) };
    this.ents = [dummy, ...this.ents.slice(at + 1)];
  }
}

export function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

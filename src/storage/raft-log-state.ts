// The rules of the persisted Raft log, separated from LMDB so that the same code both validates an
// operation when it is issued (a dry run over the state after all earlier operations) and performs
// it inside the LMDB write transaction later. Running one function twice is what keeps the two from
// disagreeing. The rules are MemoryStorage's (src/raft/storage.ts), operation for operation.

import { RaftError, type ConfState, type HardState, type SnapshotMeta } from '../raft/types.ts';
import { cloneConf } from '../raft/storage.ts';

/** A snapshot as recorded in LMDB: its meta and where its data is (inline, in a file, or empty). */
export interface StoredSnapshot {
  meta: SnapshotMeta;
  inline?: Uint8Array;
  /** File name inside the group's snapshot directory. */
  file?: string;
  /** CRC-32 and size of the data, wherever it is (absent: no data). */
  dataCrc?: number;
  dataSize?: number;
  /** Set in memory (never stored) once the data is found not to match dataCrc: see supersedes(). */
  corrupt?: string;
}

/**
 * Whether a snapshot at `index` replaces `current`. MemoryStorage's rule is "newer only"; a snapshot
 * whose data is corrupt may also be replaced at its own index, which is how the host repairs it
 * (createSnapshot from its state machine, or a snapshot from a peer) without waiting for a newer one.
 */
export function supersedes(index: number, current: StoredSnapshot): boolean {
  return index > current.meta.index || (index === current.meta.index && current.corrupt !== undefined);
}

export interface LogState {
  /** MemoryStorage's dummy entry: firstIndex() - 1 and its term. Stored as meta, never as an entry. */
  offset: { index: number; term: number };
  lastIndex: number;
  lastTerm: number;
  hardState: HardState;
  snapshot: StoredSnapshot;
}

/** An entry encoded when save() is called, so later mutation by the caller cannot change what is written. */
export interface EncodedEntry {
  index: number;
  term: number;
  /** The entry as the WAL stores it: term, type, data; without the data when `data` holds it. */
  bytes: Uint8Array;
  /** Large data, kept where it was rather than copied into `bytes` (raft-wal-format.ts). */
  data?: Uint8Array;
}

export type LogOp =
  | { kind: 'save'; hardState?: HardState; entries: EncodedEntry[]; snapshot?: StoredSnapshot }
  | { kind: 'createSnapshot'; index: number; confState: ConfState; inline?: Uint8Array; file?: string; dataCrc?: number; dataSize?: number }
  | { kind: 'compact'; index: number };

/** The side effects of a transition: LMDB writes inside a transaction, nothing in a dry run. */
export interface LogWriter {
  /** Term of entry `index`, which lies in [offset, lastIndex] of `state`. NaN if unknown (dry run). */
  termAt(state: LogState, index: number): number;
  putEntry(e: EncodedEntry): void;
  /** Delete stored entries from..to inclusive (nothing if from > to). */
  deleteEntries(from: number, to: number): void;
  putHardState(hs: HardState): void;
  putOffset(offset: { index: number; term: number }): void;
  putSnapshot(s: StoredSnapshot): void;
}

export const dryRun: LogWriter = {
  termAt: (s, i) => (i === s.offset.index ? s.offset.term : i === s.lastIndex ? s.lastTerm : NaN),
  putEntry: () => {},
  deleteEntries: () => {},
  putHardState: () => {},
  putOffset: () => {},
  putSnapshot: () => {},
};

export function emptyLogState(confState: ConfState): LogState {
  return {
    offset: { index: 0, term: 0 },
    lastIndex: 0,
    lastTerm: 0,
    hardState: { term: 0, vote: '', commit: 0 },
    snapshot: { meta: { index: 0, term: 0, confState: cloneConf(confState) } },
  };
}

/** Apply one operation; throws (before any write) if MemoryStorage would throw. */
export function transition(s: LogState, op: LogOp, w: LogWriter): LogState {
  switch (op.kind) {
    case 'save': {
      let next = s;
      // Order as MemoryStorage is driven by a Ready: snapshot, then entries, then hard state.
      if (op.snapshot && supersedes(op.snapshot.meta.index, s.snapshot)) next = installSnapshot(next, op.snapshot, w);
      next = append(next, op.entries, w);
      if (op.hardState) {
        const hardState = { term: op.hardState.term, vote: op.hardState.vote, commit: op.hardState.commit };
        w.putHardState(hardState);
        next = { ...next, hardState };
      }
      return next;
    }
    case 'createSnapshot': {
      if (!supersedes(op.index, s.snapshot)) return s;
      if (op.index > s.lastIndex) throw new Error(`snapshot index ${op.index} beyond last index ${s.lastIndex}`);
      if (op.index < s.offset.index) throw new RaftError('compacted', `entry ${op.index} is compacted`);
      const snapshot: StoredSnapshot = {
        meta: { index: op.index, term: w.termAt(s, op.index), confState: cloneConf(op.confState) },
        ...(op.inline ? { inline: op.inline } : {}),
        ...(op.file ? { file: op.file } : {}),
        ...(op.dataCrc !== undefined ? { dataCrc: op.dataCrc, dataSize: op.dataSize } : {}),
      };
      w.putSnapshot(snapshot);
      return { ...s, snapshot };
    }
    case 'compact': {
      if (op.index <= s.offset.index) return s;
      if (op.index > s.lastIndex) throw new Error(`compact ${op.index} beyond last index ${s.lastIndex}`);
      const offset = { index: op.index, term: w.termAt(s, op.index) };
      // The entry at op.index becomes the dummy, which lives in `offset`, so it is deleted too.
      w.deleteEntries(s.offset.index + 1, op.index);
      w.putOffset(offset);
      return { ...s, offset };
    }
  }
}

/** A snapshot from the leader replaces the whole log. */
function installSnapshot(s: LogState, snapshot: StoredSnapshot, w: LogWriter): LogState {
  const { index, term } = snapshot.meta;
  w.deleteEntries(s.offset.index + 1, s.lastIndex);
  w.putOffset({ index, term });
  w.putSnapshot(snapshot);
  return { ...s, offset: { index, term }, lastIndex: index, lastTerm: term, snapshot };
}

/** Append, replacing any stored entries at or after the first new index. */
function append(s: LogState, entries: EncodedEntry[], w: LogWriter): LogState {
  // Entries already covered by the snapshot (or compaction) are dropped, as MemoryStorage does.
  const fresh = entries[0] && entries[0].index <= s.offset.index ? entries.filter((e) => e.index > s.offset.index) : entries;
  if (fresh.length === 0) return s;
  for (let i = 1; i < fresh.length; i++) {
    if (fresh[i].index !== fresh[i - 1].index + 1) throw new Error(`entries not contiguous at ${fresh[i].index}`);
  }
  const first = fresh[0];
  const last = fresh[fresh.length - 1];
  if (first.index > s.lastIndex + 1) throw new Error(`log gap: appending ${first.index} after ${s.lastIndex}`);
  // Entries up to last.index are overwritten by the puts; only a longer old suffix must go.
  w.deleteEntries(last.index + 1, s.lastIndex);
  for (const e of fresh) w.putEntry(e);
  return { ...s, lastIndex: last.index, lastTerm: last.term };
}

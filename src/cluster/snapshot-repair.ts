// Replacing a snapshot whose data failed its checksum, before Raft starts (storage never hands corrupt
// data out, and Raft would need it to restore a state machine or to send it to a follower).
//
// Two cases, decided by how far the local state machine got:
//  - it has applied at least up to the snapshot: take a fresh snapshot from it; no peer is needed;
//  - it is behind the snapshot (its files were lost or rolled back, and the log before the snapshot is
//    compacted): the entries it would need exist only in other nodes' snapshots, so fetch one at or past
//    the corrupt snapshot's index from a peer and install it.
// The Raft log after the snapshot and the hard state (term, vote) are kept either way: they may be part
// of a quorum that committed entries or elected a leader, and dropping them could undo that.

import type { Logger } from 'pino';
import { decodeConfChange } from '../raft/conf-change.ts';
import { EntryType, type ConfState, type Snapshot } from '../raft/types.ts';
import type { RaftWalStore } from '../storage/raft-wal-store.ts';
import type { KvStore } from '../storage/kv-store.ts';

/** The snapshot is corrupt and the state machine is behind it: what it needs to get from a peer. */
export interface SnapshotWanted {
  /** A peer's snapshot must be at or past this index. */
  index: number;
}

/**
 * Repairs a corrupt snapshot from the local state machine if it can; otherwise returns the index a
 * peer's snapshot must reach (then call installPeerSnapshot with one).
 */
export async function repairFromStateMachine(storage: RaftWalStore, store: KvStore, log: Logger): Promise<SnapshotWanted | undefined> {
  const corrupt = storage.snapshot().meta;
  if (store.appliedIndex() < corrupt.index) {
    log.error(
      { corruptIndex: corrupt.index, applied: store.appliedIndex() },
      'the snapshot is corrupt and the state machine is behind it: fetching a snapshot from a peer before starting Raft',
    );
    return { index: corrupt.index };
  }
  const { appliedIndex, data } = await store.exportSnapshotBytes();
  await storage.createSnapshot(appliedIndex, confStateAt(storage, corrupt.confState, corrupt.index, appliedIndex), data);
  log.warn({ corruptIndex: corrupt.index, index: appliedIndex }, 'replaced a corrupt snapshot with one taken from the local state machine');
  return undefined;
}

/**
 * Installs a snapshot from a peer in place of the corrupt one. A peer's snapshot is of applied, hence
 * committed, state. If the local log holds the snapshot's last entry (same index and term), the log
 * matches the cluster's up to there: the entries after it are kept and the commit index moves up to
 * the snapshot. Otherwise the snapshot replaces the whole log, as one from the leader does (what
 * follows a conflicting entry cannot have been committed).
 */
export async function installPeerSnapshot(storage: RaftWalStore, snap: Snapshot, log: Logger): Promise<void> {
  const { index, term } = snap.meta;
  const hs = storage.initialState().hardState;
  const hardState = { ...hs, commit: Math.max(hs.commit, index) };
  const holdsLastEntry = index >= storage.firstIndex() - 1 && index <= storage.lastIndex() && storage.term(index) === term;
  if (holdsLastEntry) {
    await storage.createSnapshot(index, snap.meta.confState, snap.data);
    await storage.save({ hardState, entries: [] });
  } else {
    await storage.save({ snapshot: snap, hardState, entries: [] });
  }
  log.warn({ index, keptLog: holdsLastEntry }, 'installed a snapshot fetched from a peer in place of the corrupt one');
}

/** Membership at `to`: the snapshot's, carried forward through the conf changes in the log after `from`. */
function confStateAt(storage: RaftWalStore, base: ConfState, from: number, to: number): ConfState {
  const voters = new Set(base.voters), learners = new Set(base.learners);
  for (const e of to > from ? storage.entries(from + 1, to + 1, Infinity) : []) {
    if (e.type !== EntryType.ConfChange) continue;
    const cc = decodeConfChange(e.data);
    if (cc.type === 'update') continue;
    voters.delete(cc.node);
    learners.delete(cc.node);
    if (cc.type === 'addVoter') voters.add(cc.node);
    else if (cc.type === 'addLearner') learners.add(cc.node);
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

// Opening one group's Raft log: read its state and check it before raft/ may trust it.
//
// LMDB commits are atomic (copy-on-write B-tree), so a crash never leaves a half-written entry; what
// checksums catch is bit rot, a disk that lied about fsync, and tampering. At open:
//  - every meta record (hard state, offset, snapshot) must match its checksum, or the group refuses
//    to open: a wrong term or vote could make this node vote twice in a term;
//  - the snapshot's data (inline or file) is checked against its checksum; corrupt data is flagged
//    (LmdbRaftStorage.snapshotStatus()), not trusted and not fatal, since the host can replace it;
//  - every key from the offset on must be contiguous, and the newest `verifyEntries` entries (all by
//    default) must match their checksums. A corrupt run reaching the end of the log is a bad tail:
//    the log is truncated to the last valid entry and the commit index clamped to it, with one warn
//    line. A corrupt entry followed by an intact one is damage inside the log: refused (see below).
//
// Why only a tail may be cut: an entry followed by later, intact entries was certainly persisted and
// acknowledged long ago, and may be committed on a majority that counts this node's copy; dropping it
// silently would lose committed data. The tail is what a crash or a lying disk cache damages, and the
// leader resends it. (A tail entry may have been acknowledged too: that is the risk this repair takes,
// as etcd's WAL repair does; the warn line says what was cut.) Entries at or below the snapshot index
// are known committed and applied, so a bad run reaching down to them is refused as well. A refused
// log needs this node rebuilt from a peer (remove it, add it back with an empty data directory).

import type { Database, RootDatabase } from 'lmdb';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { cloneConf } from '../raft/storage.ts';
import type { ConfState, HardState } from '../raft/types.ts';
import { crc32, crc32OfFile } from './checksum.ts';
import type { CommitView } from './commit-view.ts';
import { plainBytes } from './lmdb-env.ts';
import {
  checkRecord,
  CorruptLogError,
  decodeEntryTerm,
  entryProblem,
  LOG_FORMAT,
  sealHardState,
  sealOffset,
  sealSnapshot,
  snapshotDataProblem,
  upgradeEntry,
} from './raft-log-codec.ts';
import { emptyLogState, type LogState, type StoredSnapshot } from './raft-log-state.ts';

export type LogKey = [string, number];
export type MetaKey = [string, string];
export type StorageLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

const LAST_POSSIBLE_INDEX = Number.MAX_SAFE_INTEGER;

let fallbackLogger: StorageLogger | undefined;
/** Without a logger from the host, storage logs to stderr: a repaired or refused log must never go unreported. */
export function defaultStorageLogger(): StorageLogger {
  return (fallbackLogger ??= pino({ name: 'concord-storage' }, pino.destination(2)));
}

export interface OpenArgs {
  group: string;
  root: RootDatabase;
  log: Database<Buffer, LogKey>;
  meta: Database<unknown, MetaKey>;
  view: CommitView;
  /** The group's snapshot directory. */
  dir: string;
  initialConfState: ConfState;
  /** Checksum the newest this many entries (Infinity: all). Contiguity is always checked in full. */
  verifyEntries: number;
  logger: StorageLogger;
}

/** The checked (and, for a bad tail, repaired) state, and whether the format marker is on disk yet. */
export function openLog(a: OpenArgs): { state: LogState; formatWritten: boolean } {
  const marker = a.meta.get([a.group, 'format'], a.view.readOptions);
  let formatWritten = marker !== undefined;
  if (marker !== undefined && marker !== LOG_FORMAT) {
    throw new Error(`raft log of group ${a.group} is in format ${String(marker)}; this version reads format ${LOG_FORMAT}`);
  }
  if (!formatWritten && hasAnyState(a)) {
    migrate(a);
    formatWritten = true;
  }
  const state = readState(a);
  const bootstrap = a.initialConfState.voters.length + a.initialConfState.learners.length > 0;
  if (bootstrap && a.meta.get([a.group, 'snapshot'], a.view.readOptions) === undefined) {
    // Persist the bootstrap membership so that a reopen without the option sees the same state.
    a.root.transactionSync(() => {
      void a.meta.put([a.group, 'snapshot'], sealSnapshot(state.snapshot));
      void a.meta.put([a.group, 'format'], LOG_FORMAT);
    });
    formatWritten = true;
  }
  checkSnapshotData(a, state.snapshot);
  checkEntries(a, state);
  return { state, formatWritten };
}

function hasAnyState(a: OpenArgs): boolean {
  const g = a.group;
  const read = a.view.readOptions;
  const fields = ['hardState', 'offset', 'snapshot'].some((f) => a.meta.get([g, f], read) !== undefined);
  return fields || [...a.log.getKeys({ start: [g, 0], end: [g, LAST_POSSIBLE_INDEX], limit: 1, ...read })].length > 0;
}

/** Rewrite a format 1 group (no checksums) in format 2, in one transaction. */
function migrate(a: OpenArgs): void {
  const g = a.group;
  const read = a.view.readOptions;
  let entries = 0;
  a.root.transactionSync(() => {
    // Reads come from the pinned read transaction, writes go to this one: no cursor sees its own writes.
    for (const { key, value } of a.log.getRange({ start: [g, 0], end: [g, LAST_POSSIBLE_INDEX], ...read })) {
      void a.log.put(key, upgradeEntry(key[1], value).bytes as Buffer);
      entries++;
    }
    const hs = a.meta.get([g, 'hardState'], read) as HardState | undefined;
    if (hs) void a.meta.put([g, 'hardState'], sealHardState(hs));
    const offset = a.meta.get([g, 'offset'], read) as { index: number; term: number } | undefined;
    if (offset) void a.meta.put([g, 'offset'], sealOffset(offset));
    const snap = a.meta.get([g, 'snapshot'], read) as StoredSnapshot | undefined;
    if (snap) {
      // The data gets the checksum of what is there now: format 1 had none to compare with.
      let actual = { crc: 0, size: -1 }; // a missing file: flagged corrupt by checkSnapshotData
      try {
        actual = snap.file ? crc32OfFile(path.join(a.dir, snap.file)) : { crc: crc32(snap.inline ?? new Uint8Array(0)), size: snap.inline?.byteLength ?? 0 };
      } catch {
        // keep size -1
      }
      void a.meta.put([g, 'snapshot'], sealSnapshot({ ...snap, dataCrc: actual.crc, dataSize: actual.size }));
    }
    void a.meta.put([g, 'format'], LOG_FORMAT);
  });
  a.view.refresh();
  a.logger.info({ group: g, entries }, `raft log of group ${g} rewritten in the checksummed format ${LOG_FORMAT} (${entries} entries)`);
}

function readState(a: OpenArgs): LogState {
  const g = a.group;
  const read = a.view.readOptions;
  const state = emptyLogState(a.initialConfState);
  const hs = a.meta.get([g, 'hardState'], read) as HardState | undefined;
  const offset = a.meta.get([g, 'offset'], read) as LogState['offset'] | undefined;
  const snap = a.meta.get([g, 'snapshot'], read) as StoredSnapshot | undefined;
  if (hs !== undefined) {
    checkRecord(g, 'hardState', hs);
    state.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }
  if (offset !== undefined) {
    checkRecord(g, 'offset', offset);
    state.offset = { index: offset.index, term: offset.term };
  }
  if (snap !== undefined) {
    checkRecord(g, 'snapshot', snap);
    state.snapshot = {
      meta: { index: snap.meta.index, term: snap.meta.term, confState: cloneConf(snap.meta.confState) },
      dataCrc: snap.dataCrc,
      dataSize: snap.dataSize,
    };
    if (snap.inline) state.snapshot.inline = plainBytes(snap.inline);
    if (snap.file) state.snapshot.file = snap.file;
  }
  state.lastIndex = state.offset.index;
  state.lastTerm = state.offset.term;
  return state;
}

/** Read all of the snapshot's data (a file in 1 MiB pieces): a corrupt snapshot must be known before raft/ hands it out. */
function checkSnapshotData(a: OpenArgs, snap: StoredSnapshot): void {
  let actual: { crc: number; size: number };
  try {
    actual = snap.file ? crc32OfFile(path.join(a.dir, snap.file)) : { crc: crc32(snap.inline ?? new Uint8Array(0)), size: snap.inline?.byteLength ?? 0 };
  } catch (err) {
    snap.corrupt = `unreadable: ${(err as Error).message}`;
    actual = { crc: 0, size: 0 };
  }
  snap.corrupt ??= snapshotDataProblem(snap, actual);
  if (snap.corrupt === undefined) return;
  a.logger.error(
    { group: a.group, snapshotIndex: snap.meta.index, file: snap.file, problem: snap.corrupt },
    `snapshot data of raft group ${a.group} at index ${snap.meta.index} is corrupt (${snap.corrupt}); it will not be used ` +
      `until replaced by a new snapshot from the state machine or from a peer`,
  );
}

/** Contiguity of all keys, checksums of the newest entries; truncate a bad tail (see the top of the file). */
function checkEntries(a: OpenArgs, state: LogState): void {
  const g = a.group;
  const read = a.view.readOptions;
  const from = state.offset.index + 1;
  if ([...a.log.getKeys({ start: [g, 0], end: [g, from], limit: 1, ...read })].length > 0) {
    throw new CorruptLogError(g, `raft log of group ${g} is not contiguous: entries at or below the compaction point ${from - 1} remain`);
  }
  let newest = state.offset.index;
  for (const key of a.log.getKeys({ start: [g, LAST_POSSIBLE_INDEX], end: [g, state.offset.index], reverse: true, limit: 1, ...read })) newest = key[1];
  const verifyFrom = Math.max(from, newest - a.verifyEntries + 1);
  let expect = from;
  let bad: { from: number; count: number; problem: string } | undefined;
  let intactAfterBad: number | undefined;
  for (const { key, value } of a.log.getRange({ start: [g, from], end: [g, LAST_POSSIBLE_INDEX], ...read })) {
    const i = key[1];
    if (i !== expect) throw new CorruptLogError(g, `raft log of group ${g} is not contiguous: entry ${expect} is missing, ${i} follows`);
    expect++;
    const problem = i >= verifyFrom ? entryProblem(i, value) : undefined;
    if (problem !== undefined) {
      if (bad) bad.count++;
      else bad = { from: i, count: 1, problem };
    } else if (bad) {
      intactAfterBad ??= i;
    } else {
      state.lastIndex = i;
      state.lastTerm = decodeEntryTerm(value);
    }
  }
  if (bad && intactAfterBad !== undefined) {
    throw new CorruptLogError(
      g,
      `raft log of group ${g}: entry ${bad.from} is corrupt (${bad.problem}) but entry ${intactAfterBad} after it is intact: ` +
        `damage inside the log, not a torn tail; refusing to drop acknowledged entries (rebuild this node from a peer)`,
    );
  }
  if (bad && bad.from <= state.snapshot.meta.index) {
    throw new CorruptLogError(
      g,
      `raft log of group ${g}: entries from ${bad.from} are corrupt (${bad.problem}), at or below the snapshot index ` +
        `${state.snapshot.meta.index}: committed and applied entries cannot be dropped (rebuild this node from a peer)`,
    );
  }
  if (!bad) return;
  // The commit index is clamped only here: a stored commit beyond the last index without a cut tail is
  // left as written (MemoryStorage accepts it; raft/ never writes it).
  const commitBefore = state.hardState.commit;
  const clamp = commitBefore > state.lastIndex;
  if (clamp) state.hardState = { ...state.hardState, commit: state.lastIndex };
  a.root.transactionSync(() => {
    for (let i = bad.from; i < expect; i++) void a.log.remove([g, i]);
    if (clamp) void a.meta.put([g, 'hardState'], sealHardState(state.hardState));
  });
  a.view.refresh();
  const range = bad.count === 1 ? `entry ${bad.from} fails` : `entries ${bad.from}..${expect - 1} fail`;
  const clamped = clamp ? `; commit index clamped from ${commitBefore} to ${state.lastIndex}` : '';
  a.logger.warn(
    { group: g, corruptFrom: bad.from, corruptTo: expect - 1, problem: bad.problem, lastIndex: state.lastIndex, commitBefore, commitAfter: state.hardState.commit },
    `raft log of group ${g}: corrupt tail: ${range} their checksum (first: ${bad.problem}); truncated the log to ${state.lastIndex}${clamped}`,
  );
}

// The Raft log of one group in LMDB: the Storage that raft/ reads synchronously, plus the durable
// writes the host performs for each Ready. Many groups share one environment (and so share fsyncs):
// entries live in one 'raft-log' database under keys [group, index] (ordered-binary sorts the
// numbers numerically), and hard state, log offset and snapshot meta in 'raft-meta' under
// [group, field].
//
// Three views of the state are kept, because writes are asynchronous and batched:
//  - `pending`: after every accepted operation; new operations are validated against it, so a
//    rejected operation never reaches LMDB and an accepted one cannot fail later;
//  - `txState`: advanced inside the LMDB write transaction as lmdb-js runs our callbacks;
//  - `committed`: what reads return, advanced together with the CommitView's read transaction.

import type { Database, RootDatabase } from 'lmdb';
import path from 'node:path';
import { RaftError, type ConfState, type Entry, type HardState, type Snapshot } from '../raft/types.ts';
import { cloneConf, entryBytes, type Storage } from '../raft/storage.ts';
import { CommitView, type ViewSubscriber } from './commit-view.ts';
import { assertDurableCommits, assertGroupId, openRaftLogEnv, plainBytes } from './lmdb-env.ts';
import {
  decodeEntry,
  decodeEntryTerm,
  dryRun,
  emptyLogState,
  encodeEntry,
  transition,
  type LogOp,
  type LogState,
  type LogWriter,
  type StoredSnapshot,
} from './raft-log-state.ts';
import {
  ensureDirDurably,
  readSnapshotFile,
  removeSnapshotFile,
  snapshotFileName,
  sweepSnapshotDir,
  writeFileDurably,
} from './snapshot-files.ts';

export interface LmdbRaftStorageOptions {
  /** An environment from openRaftLogEnv (shared by groups), or a path to open one at (closed by close()). */
  env: RootDatabase | string;
  group: string;
  /** Directory for snapshot files; this group uses the subdirectory named after it. */
  snapshotDir: string;
  /** Membership of a group with no persisted state yet (MemoryStorage's constructor argument). */
  initialConfState?: ConfState;
  /** Snapshot data up to this size is kept inside LMDB; larger data goes to a file. Default 1 MiB. */
  inlineSnapshotMaxBytes?: number;
}

export interface ReadyToSave {
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
}

type LogKey = [string, number];
type MetaKey = [string, string];
type ReadOptions = { transaction: CommitView['readOptions']['transaction'] };
type FastReader = { getBinaryFast(key: LogKey, options?: ReadOptions): Buffer | undefined };

const LAST_POSSIBLE_INDEX = Number.MAX_SAFE_INTEGER;

export class LmdbRaftStorage implements Storage, ViewSubscriber {
  readonly group: string;
  private readonly root: RootDatabase;
  private readonly ownsRoot: boolean;
  private readonly log: Database<Buffer, LogKey>;
  private readonly meta: Database<unknown, MetaKey>;
  private readonly view: CommitView;
  private readonly dir: string;
  private readonly inlineMax: number;

  private committed: LogState;
  private pending: LogState;
  private txState: LogState;
  /** States produced by our callbacks in transactions not yet visible through the view. */
  private readonly uncommitted: { txnId: number; state: LogState }[] = [];
  /** Set while a snapshot file is being written: later operations queue behind it to keep order. */
  private gate: Promise<void> | undefined;
  private lastOp: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  private materialized: { stored: StoredSnapshot; snap: Snapshot } | undefined;
  /** Data we already hold in memory for file-backed snapshots, so reading them back is rarely needed. */
  private readonly knownData = new Map<string, WeakRef<Uint8Array>>();
  /** The file of the snapshot replaced last: kept so a Snapshot handed out just before can still load. */
  private retiredFile: string | undefined;

  constructor(options: LmdbRaftStorageOptions) {
    assertGroupId(options.group);
    this.group = options.group;
    this.ownsRoot = typeof options.env === 'string';
    this.root = typeof options.env === 'string' ? openRaftLogEnv(options.env) : options.env;
    assertDurableCommits(this.root);
    this.log = this.root.openDB<Buffer, LogKey>('raft-log', { encoding: 'binary' });
    this.meta = this.root.openDB<unknown, MetaKey>('raft-meta', {});
    this.dir = path.join(options.snapshotDir, options.group);
    this.inlineMax = options.inlineSnapshotMaxBytes ?? 1 << 20;
    ensureDirDurably(this.dir);
    this.view = CommitView.of(this.root);
    // Writes made since the view last moved (e.g. by a store of this group closed just now) must be seen.
    this.view.refresh();
    this.committed = this.pending = this.txState = this.load(options.initialConfState ?? { voters: [], learners: [] });
    sweepSnapshotDir(this.dir, new Set(this.committed.snapshot.file ? [this.committed.snapshot.file] : []));
    this.view.subscribe(this);
  }

  // ---- Storage: synchronous reads of the committed state ----

  initialState(): { hardState: HardState; confState: ConfState } {
    this.assertOpen();
    return { hardState: { ...this.committed.hardState }, confState: cloneConf(this.committed.snapshot.meta.confState) };
  }

  firstIndex(): number {
    return this.committed.offset.index + 1;
  }

  lastIndex(): number {
    return this.committed.lastIndex;
  }

  term(i: number): number {
    this.assertOpen();
    const s = this.committed;
    if (i < s.offset.index) throw new RaftError('compacted', `entry ${i} is compacted`);
    if (i > s.lastIndex) throw new RaftError('unavailable', `entry ${i} is not in the log`);
    if (i === s.offset.index) return s.offset.term;
    if (i === s.lastIndex) return s.lastTerm;
    const b = (this.log as unknown as FastReader).getBinaryFast([this.group, i], this.view.readOptions);
    if (!b) throw new Error(`raft log of group ${this.group} is missing entry ${i}`);
    return decodeEntryTerm(b);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    this.assertOpen();
    const s = this.committed;
    if (lo <= s.offset.index) throw new RaftError('compacted', `entry ${lo} is compacted`);
    if (hi > s.lastIndex + 1) throw new RaftError('unavailable', `entries up to ${hi} not in the log`);
    const out: Entry[] = [];
    if (lo >= hi) return out;
    let size = 0;
    let overBudget = false;
    const range = this.log.getRange({ start: [this.group, lo], end: [this.group, hi], ...this.view.readOptions });
    for (const { key, value } of range) {
      const e = decodeEntry(key[1], value);
      // limitBytes' rule: stop once over budget, but always return at least one entry.
      size += entryBytes(e);
      if (size > maxBytes && out.length > 0) {
        overBudget = true;
        break;
      }
      if (e.index !== lo + out.length) throw new Error(`raft log of group ${this.group} is missing entry ${lo + out.length}`);
      out.push(e);
    }
    if (!overBudget && out.length !== hi - lo) {
      throw new Error(`raft log of group ${this.group} is missing entries in [${lo}, ${hi})`);
    }
    return out;
  }

  snapshot(): Snapshot {
    this.assertOpen();
    const stored = this.committed.snapshot;
    if (this.materialized?.stored !== stored) this.materialized = { stored, snap: this.materialize(stored) };
    return this.materialized.snap;
  }

  /** Path of the current snapshot's data file, for streaming it instead of loading it (undefined if inline). */
  snapshotFilePath(): string | undefined {
    const file = this.committed.snapshot.file;
    return file ? path.join(this.dir, file) : undefined;
  }

  // ---- Durable writes ----

  /**
   * Persist a Ready's snapshot, entries and hard state in one LMDB transaction; resolves once it is
   * fsynced. Calls issued together share one transaction and one fsync.
   */
  save(rd: ReadyToSave): Promise<void> {
    let snapshot: StoredSnapshot | undefined;
    let writeFile: (() => Promise<void>) | undefined;
    if (rd.snapshot && rd.snapshot.meta.index > this.pending.snapshot.meta.index) {
      const { meta, data } = rd.snapshot;
      const placed = this.placeSnapshotData(meta.index, data);
      snapshot = { meta: { index: meta.index, term: meta.term, confState: cloneConf(meta.confState) }, ...placed.where };
      writeFile = placed.write;
    }
    const op: LogOp = {
      kind: 'save',
      entries: rd.entries.map(encodeEntry),
      ...(rd.hardState ? { hardState: { ...rd.hardState } } : {}),
      ...(snapshot ? { snapshot } : {}),
    };
    return this.enqueue(op, writeFile).then(() => undefined);
  }

  /** Record a snapshot of the state machine at `index` (applied, still in the log) without touching the log. */
  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    const willReplace = index > this.pending.snapshot.meta.index && index <= this.pending.lastIndex;
    const placed = willReplace ? this.placeSnapshotData(index, data) : { where: {}, write: undefined };
    const state = await this.enqueue({ kind: 'createSnapshot', index, confState: cloneConf(confState), ...placed.where }, placed.write);
    return state.snapshot === this.committed.snapshot ? this.snapshot() : this.materialize(state.snapshot);
  }

  /** Durably discard entries before `index`; the entry at `index` becomes the dummy. */
  async compact(index: number): Promise<void> {
    await this.enqueue({ kind: 'compact', index });
  }

  /** Wait for outstanding writes, then detach (and close the environment if we opened it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lastOp.catch(() => {});
    this.view.unsubscribe(this);
    this.view.release();
    if (this.ownsRoot) await this.root.close();
  }

  // ---- ViewSubscriber ----

  hasWritesIn(afterId: number, upToId: number): boolean {
    return this.uncommitted.some((u) => u.txnId > afterId && u.txnId <= upToId);
  }

  advanceTo(txnId: number): void {
    let next: LogState | undefined;
    while (this.uncommitted.length > 0 && this.uncommitted[0].txnId <= txnId) next = this.uncommitted.shift()!.state;
    if (!next) return;
    const replaced = this.committed.snapshot.file;
    this.committed = next;
    if (replaced && replaced !== next.snapshot.file) {
      if (this.retiredFile && this.retiredFile !== next.snapshot.file) {
        removeSnapshotFile(this.dir, this.retiredFile);
        this.knownData.delete(this.retiredFile);
      }
      this.retiredFile = replaced;
    }
  }

  // ---- internals ----

  private enqueue(op: LogOp, writeFile?: () => Promise<void>): Promise<LogState> {
    if (this.closed) return Promise.reject(new Error(`raft storage of group ${this.group} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    try {
      this.pending = transition(this.pending, op, dryRun);
    } catch (err) {
      return Promise.reject(err);
    }
    let result: Promise<LogState>;
    if (!writeFile && !this.gate) {
      result = this.submit(op);
    } else {
      // Submit in issue order: after every earlier operation has been handed to lmdb-js, and after
      // our own snapshot file is durable (its write starts now, alongside earlier ones).
      const prior = this.gate ?? Promise.resolve();
      let committed: Promise<LogState> | undefined;
      const submitted = Promise.all([prior, writeFile?.()]).then(
        () => {
          committed = this.submit(op);
        },
        (err: Error) => {
          this.fail(err);
          throw err;
        },
      );
      this.gate = submitted;
      const clear = () => {
        if (this.gate === submitted) this.gate = undefined;
      };
      submitted.then(clear, clear);
      result = submitted.then(() => committed!);
    }
    this.lastOp = result;
    return result;
  }

  private submit(op: LogOp): Promise<LogState> {
    const tx = this.root.transaction(() => {
      const state = transition(this.txState, op, this.txnWriter);
      this.txState = state;
      const txnId = this.root.getWriteTxnId();
      const last = this.uncommitted[this.uncommitted.length - 1];
      if (last && last.txnId === txnId) last.state = state;
      else this.uncommitted.push({ txnId, state });
      return state;
    });
    return tx.catch((err: Error) => {
      this.fail(err);
      throw err;
    });
  }

  /** A failed commit leaves `pending` and `txState` ahead of the disk: refuse all further writes. */
  private fail(err: Error): void {
    this.failure ??= err;
    this.uncommitted.length = 0;
  }

  private readonly txnWriter: LogWriter = {
    termAt: (s, i) => {
      if (i === s.offset.index) return s.offset.term;
      if (i === s.lastIndex) return s.lastTerm;
      // Inside the write transaction lmdb-js reads the transaction's own (uncommitted) data.
      const b = (this.log as unknown as FastReader).getBinaryFast([this.group, i]);
      if (!b) throw new Error(`raft log of group ${this.group} is missing entry ${i}`);
      return decodeEntryTerm(b);
    },
    putEntry: (e) => void this.log.put([this.group, e.index], e.bytes as Buffer),
    deleteEntries: (from, to) => {
      for (let i = from; i <= to; i++) void this.log.remove([this.group, i]);
    },
    putHardState: (hs) => void this.meta.put([this.group, 'hardState'], hs),
    putOffset: (offset) => void this.meta.put([this.group, 'offset'], offset),
    putSnapshot: (s) => void this.meta.put([this.group, 'snapshot'], s),
  };

  private placeSnapshotData(index: number, data: Uint8Array): { where: { inline?: Uint8Array; file?: string }; write?: () => Promise<void> } {
    if (data.byteLength <= this.inlineMax) return { where: { inline: data } };
    const file = snapshotFileName(index);
    this.knownData.set(file, new WeakRef(data));
    return { where: { file }, write: () => writeFileDurably(this.dir, file, data) };
  }

  private materialize(stored: StoredSnapshot): Snapshot {
    const meta = { index: stored.meta.index, term: stored.meta.term, confState: cloneConf(stored.meta.confState) };
    if (!stored.file) return { meta, data: stored.inline ?? new Uint8Array(0) };
    const file = stored.file;
    const snap = { meta } as Snapshot;
    // Loaded on first use: raft/ often wants only the meta, and the data may be hundreds of MB.
    Object.defineProperty(snap, 'data', {
      enumerable: true,
      get: () => {
        let data = this.knownData.get(file)?.deref();
        if (!data) {
          data = readSnapshotFile(this.dir, file);
          this.knownData.set(file, new WeakRef(data));
        }
        return data;
      },
    });
    return snap;
  }

  private load(initialConfState: ConfState): LogState {
    const g = this.group;
    const read = this.view.readOptions;
    const state = emptyLogState(initialConfState);
    const hs = this.meta.get([g, 'hardState'], read) as HardState | undefined;
    const offset = this.meta.get([g, 'offset'], read) as LogState['offset'] | undefined;
    const snap = this.meta.get([g, 'snapshot'], read) as StoredSnapshot | undefined;
    if (hs) state.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
    if (offset) state.offset = { index: offset.index, term: offset.term };
    if (snap) {
      state.snapshot = { meta: { index: snap.meta.index, term: snap.meta.term, confState: cloneConf(snap.meta.confState) } };
      if (snap.inline) state.snapshot.inline = plainBytes(snap.inline);
      if (snap.file) state.snapshot.file = snap.file;
    } else if (initialConfState.voters.length + initialConfState.learners.length > 0) {
      // Persist the bootstrap membership so that a reopen without the option sees the same state.
      this.meta.putSync([g, 'snapshot'], state.snapshot);
    }
    state.lastIndex = state.offset.index;
    state.lastTerm = state.offset.term;
    const range = { start: [g, state.offset.index + 1] as LogKey, end: [g, LAST_POSSIBLE_INDEX] as LogKey, ...read };
    const newestFirst = { start: range.end, end: [g, state.offset.index] as LogKey, reverse: true, limit: 1, ...read };
    for (const { key, value } of this.log.getRange(newestFirst)) {
      state.lastIndex = key[1];
      state.lastTerm = decodeEntryTerm(value);
    }
    // A contiguous log is the invariant every read relies on: check it once, here.
    const count = this.log.getCount(range);
    const below = this.log.getCount({ start: [g, 0], end: [g, state.offset.index + 1], ...read });
    if (count !== state.lastIndex - state.offset.index || below !== 0) {
      throw new Error(`raft log of group ${g} is not contiguous: ${count} entries in (${state.offset.index}, ${state.lastIndex}], ${below} below`);
    }
    return state;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`raft storage of group ${this.group} is closed`);
  }
}

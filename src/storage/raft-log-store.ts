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
//
// Every record carries a CRC-32 (raft-log-codec.ts). Opening checks them and cuts a corrupt tail or
// refuses a damaged log (raft-log-open.ts); entries() verifies what it returns; snapshot data that
// fails its checksum is flagged (snapshotStatus()) and never handed out (raft-snapshot-data.ts).

import type { Database, RootDatabase } from 'lmdb';
import path from 'node:path';
import { RaftError, type ConfState, type Entry, type HardState, type Snapshot } from '../raft/types.ts';
import { cloneConf, entryBytes, limitBytes, type Storage } from '../raft/storage.ts';
import { CommitView, type ViewSubscriber } from './commit-view.ts';
import { assertDurableCommits, assertGroupId, openRaftLogEnv } from './lmdb-env.ts';
import { decodeEntry, decodeEntryTerm, encodeEntry, entryView, LOG_FORMAT, sealHardState, sealOffset, sealSnapshot } from './raft-log-codec.ts';
import { EntryCache } from './entry-cache.ts';
import { defaultStorageLogger, openLog, type LogKey, type MetaKey, type StorageLogger } from './raft-log-open.ts';
import { dryRun, supersedes, transition, type LogOp, type LogState, type LogWriter, type StoredSnapshot } from './raft-log-state.ts';
import { SnapshotData, type PlacedData } from './raft-snapshot-data.ts';
import { ensureDirDurably, removeSnapshotFile, sweepSnapshotDir } from './snapshot-files.ts';

export { CorruptLogError, CorruptSnapshotError } from './raft-log-codec.ts';
export type { StorageLogger } from './raft-log-open.ts';

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
  /** Where a repaired log tail or a corrupt snapshot is reported (a pino logger). Default: pino to stderr. */
  logger?: StorageLogger;
  /**
   * Checksum the newest this many entries at open (default: all). Key contiguity is always checked in
   * full; entries outside the window are still verified whenever entries() reads them.
   */
  verifyEntriesOnOpen?: number;
  /** Bytes of the newest entries kept in memory for reads (default 16 MiB; 0 turns the cache off). */
  entryCacheBytes?: number;
}

const DEFAULT_ENTRY_CACHE_BYTES = 16 << 20;

export interface ReadyToSave {
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
}

type ReadOptions = { transaction: CommitView['readOptions']['transaction'] };
type FastReader = { getBinaryFast(key: LogKey, options?: ReadOptions): Buffer | undefined };

export class LmdbRaftStorage implements Storage, ViewSubscriber {
  readonly group: string;
  private readonly root: RootDatabase;
  private readonly ownsRoot: boolean;
  private readonly log: Database<Buffer, LogKey>;
  private readonly meta: Database<unknown, MetaKey>;
  private readonly view: CommitView;
  private readonly dir: string;
  private readonly data: SnapshotData;
  /** Whether `[group, 'format']` is on disk; if not, the first write transaction adds it. */
  private formatWritten: boolean;

  private committed: LogState;
  private pending: LogState;
  private txState: LogState;
  /** States produced by our callbacks in transactions not yet visible through the view. */
  private readonly uncommitted: { txnId: number; state: LogState; ops: LogOp[] }[] = [];
  /** The newest committed entries, kept in step with `committed` (advanceTo). */
  private readonly cache: EntryCache;
  /** Set while a snapshot file is being written: later operations queue behind it to keep order. */
  private gate: Promise<void> | undefined;
  /** What waits behind the gate: only createSnapshot operations (up to maxIndex), or anything else too. */
  private gated = { onlySnapshots: true, maxIndex: 0 };
  private lastOp: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  private materialized: { stored: StoredSnapshot; snap: Snapshot } | undefined;
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
    const logger = options.logger ?? defaultStorageLogger();
    this.data = new SnapshotData(this.group, this.dir, options.inlineSnapshotMaxBytes ?? 1 << 20, logger, (s) => this.flagCorrupt(s));
    ensureDirDurably(this.dir);
    this.view = CommitView.of(this.root);
    this.cache = new EntryCache(options.entryCacheBytes ?? DEFAULT_ENTRY_CACHE_BYTES);
    // Writes made since the view last moved (e.g. by a store of this group closed just now) must be seen.
    this.view.refresh();
    let opened: ReturnType<typeof openLog>;
    try {
      opened = openLog({
        group: this.group,
        root: this.root,
        log: this.log,
        meta: this.meta,
        view: this.view,
        dir: this.dir,
        initialConfState: options.initialConfState ?? { voters: [], learners: [] },
        verifyEntries: options.verifyEntriesOnOpen ?? Infinity,
        logger,
      });
    } catch (err) {
      // A refused log (CorruptLogError) must not leave the view's read transaction or our environment open.
      this.view.release();
      if (this.ownsRoot) void this.root.close().catch(() => {});
      throw err;
    }
    this.formatWritten = opened.formatWritten;
    this.committed = this.pending = this.txState = opened.state;
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
    const cached = this.cache.get(i);
    if (cached) return cached.term;
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
    const cached = this.cache.slice(lo, hi);
    if (cached) return limitBytes(cached, maxBytes);
    let size = 0;
    let overBudget = false;
    const range = this.log.getRange({ start: [this.group, lo], end: [this.group, hi], ...this.view.readOptions });
    for (const { key, value } of range) {
      const e = decodeEntry(this.group, key[1], value);
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

  /**
   * The snapshot as raft/ reads it. If its data is corrupt (snapshotStatus()), the meta is still
   * returned, since raft/ needs it to know where the log starts, but reading `data` throws
   * CorruptSnapshotError: corrupt data is never handed out.
   */
  snapshot(): Snapshot {
    this.assertOpen();
    const stored = this.committed.snapshot;
    if (this.materialized?.stored !== stored) this.materialized = { stored, snap: this.data.materialize(stored) };
    return this.materialized.snap;
  }

  /**
   * 'corrupt' if the current snapshot's data failed its checksum (at open, or when its file was read).
   * The host repairs it with createSnapshot at an index >= snapshot().meta.index from its state
   * machine if that has applied that far, or else with a snapshot fetched from a peer given to
   * save(): a corrupt snapshot may be replaced at its own index, not only by a newer one.
   */
  snapshotStatus(): 'ok' | 'corrupt' {
    return this.committed.snapshot.corrupt === undefined ? 'ok' : 'corrupt';
  }

  /** CRC-32 and size of the current snapshot's data, e.g. for a host streaming snapshotFilePath() to check the copy. */
  snapshotChecksum(): { crc32: number; size: number } {
    return { crc32: this.committed.snapshot.dataCrc ?? 0, size: this.committed.snapshot.dataSize ?? 0 };
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
    if (rd.snapshot && supersedes(rd.snapshot.meta.index, this.pending.snapshot)) {
      const { meta, data } = rd.snapshot;
      const placed = this.data.place(meta.index, data);
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
    const willReplace = supersedes(index, this.pending.snapshot) && index <= this.pending.lastIndex;
    const placed: Partial<PlacedData> = willReplace ? this.data.place(index, data) : {};
    const state = await this.enqueue({ kind: 'createSnapshot', index, confState: cloneConf(confState), ...placed.where }, placed.write);
    return state.snapshot === this.committed.snapshot ? this.snapshot() : this.data.materialize(state.snapshot);
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
    while (this.uncommitted.length > 0 && this.uncommitted[0].txnId <= txnId) {
      const u = this.uncommitted.shift()!;
      for (const op of u.ops) this.cacheOp(op);
      next = u.state;
    }
    if (!next) return;
    this.cache.dropBefore(next.offset.index + 1);
    const replaced = this.committed.snapshot.file;
    this.committed = next;
    if (replaced && replaced !== next.snapshot.file) {
      if (this.retiredFile && this.retiredFile !== next.snapshot.file) {
        removeSnapshotFile(this.dir, this.retiredFile);
        this.data.forget(this.retiredFile);
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
    if ((!writeFile && !this.gate) || this.commutesWithGated(op)) {
      result = this.submit(op);
    } else {
      if (!this.gate) this.gated = { onlySnapshots: true, maxIndex: 0 };
      if (op.kind === 'createSnapshot') this.gated.maxIndex = Math.max(this.gated.maxIndex, op.index);
      else this.gated.onlySnapshots = false;
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
    // An operation submitted ahead of the gate may finish before earlier ones: wait for all of them.
    const settled = () => undefined;
    this.lastOp = Promise.allSettled([this.lastOp, result]).then(settled);
    return result;
  }

  /**
   * Whether `op` may be submitted ahead of the operations waiting behind the gate. A snapshot of the
   * state machine writes its data file first (fsync included), and Raft's saves issued meanwhile must
   * not wait for it: they showed as ~100 ms stalls in the put p99 at every snapshot. A save without a
   * snapshot whose entries all lie after every waiting snapshot's index commutes with those snapshots
   * (neither reads nor changes what the other does), so the final state is the one issue order gives.
   */
  private commutesWithGated(op: LogOp): boolean {
    if (!this.gate || !this.gated.onlySnapshots || op.kind !== 'save' || op.snapshot) return false;
    return op.entries.length === 0 || op.entries[0].index > this.gated.maxIndex;
  }

  private submit(op: LogOp): Promise<LogState> {
    const tx = this.root.transaction(() => {
      if (!this.formatWritten) {
        // A group's first write also says which format it is in (see raft-log-codec.ts).
        void this.meta.put([this.group, 'format'], LOG_FORMAT);
        this.formatWritten = true;
      }
      const state = transition(this.txState, op, this.txnWriter);
      this.txState = state;
      const txnId = this.root.getWriteTxnId();
      const last = this.uncommitted[this.uncommitted.length - 1];
      if (last && last.txnId === txnId) {
        last.state = state;
        last.ops.push(op);
      } else this.uncommitted.push({ txnId, state, ops: [op] });
      return state;
    });
    return tx.catch((err: Error) => {
      this.fail(err);
      throw err;
    });
  }

  /** What a committed operation did to the log, done to the cache (as transition() does it to LMDB). */
  private cacheOp(op: LogOp): void {
    if (op.kind === 'compact') return; // advanceTo drops what the new offset leaves out
    if (op.kind === 'save') {
      if (op.snapshot) this.cache.clear();
      this.cache.append(op.entries.map((e) => entryView(e.index, e.bytes)));
    }
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
    putHardState: (hs) => void this.meta.put([this.group, 'hardState'], sealHardState(hs)),
    putOffset: (offset) => void this.meta.put([this.group, 'offset'], sealOffset(offset)),
    putSnapshot: (s) => void this.meta.put([this.group, 'snapshot'], sealSnapshot(s)),
  };

  /** Data found corrupt after open: flag every state that holds the same snapshot, so that it may be replaced. */
  private flagCorrupt(stored: StoredSnapshot): void {
    for (const s of [this.committed, this.pending, this.txState, ...this.uncommitted.map((u) => u.state)]) {
      if (s.snapshot.meta.index === stored.meta.index && s.snapshot.file === stored.file) s.snapshot.corrupt ??= stored.corrupt;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`raft storage of group ${this.group} is closed`);
  }
}

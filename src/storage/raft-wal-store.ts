// The Raft log of one group: its records in the node's write-ahead log (node-wal.ts), shared with the
// node's other groups, and the log itself in memory, as etcd pairs its WAL with MemoryStorage. raft/
// reads synchronously from memory; the host's writes (save, createSnapshot, compact) are records handed
// to the node's WAL, which writes every group's records of one event-loop turn in one O_DSYNC write, so a
// write that resolves is durable, with no per-entry work beyond copying the entry into the record (large
// entries are not copied: raft-wal-format.ts).
//
// Why not LMDB, which held the log before (docs/architecture.md has the figures): a B-tree insert per
// entry, two fsyncs per commit (data, then meta page), a JavaScript callback inside every write
// transaction and a read transaction to renew after it cost ~20 µs of CPU per entry on every node
// and ~3 ms per save under load; this costs a few µs and a share of one fdatasync-equivalent.
//
// The group's records start with a BASE (its whole state); when the node's WAL starts a new segment it
// asks every group for a new BASE there (a checkpoint), which lets the older segments go. Compaction is
// a small record: the discarded entries leave memory at once and the disk with their segment.
//
// Writes are validated when issued, against the state after every earlier write (raft-log-state.ts's
// transition(), as MemoryStorage would apply them), so a refused one never reaches the file and an
// accepted one cannot fail later except by an I/O error, after which the store refuses further
// writes. What reads return advances only when a write is durable, in issue order.
//
// Integrity: every record carries a CRC-32 (node-wal.ts cuts a torn tail and refuses damage inside
// the log). Snapshot data keeps its own checksum (raft-snapshot-data.ts).

import fsp from 'node:fs/promises';
import path from 'node:path';
import { RaftError, type ConfState, type Entry, type HardState, type Snapshot } from '../raft/types.ts';
import { cloneConf, limitBytes, type Storage } from '../raft/storage.ts';
import { defaultStorageLogger, type StorageLogger } from './logger.ts';
import { dryRun, emptyLogState, supersedes, transition, type LogOp, type LogState, type StoredSnapshot } from './raft-log-state.ts';
import { encodeBase, encodeCompact, encodeCreateSnapshot, encodeSave, groupTag } from './raft-wal-format.ts';
import { SnapshotData, verifyStoredSnapshot, type PlacedData } from './raft-snapshot-data.ts';
import { ensureDirDurably, removeSnapshotFile, sweepSnapshotDir } from './snapshot-files.ts';
import { assertGroupId } from './group-id.ts';
import { NodeWal } from './node-wal.ts';
import { WalLog } from './wal-log.ts';

export { CorruptLogError, CorruptSnapshotError } from './errors.ts';
export type { StorageLogger } from './logger.ts';

export interface RaftWalStoreOptions {
  /** The node's WAL, which this group's records go to (the store does not close it). */
  wal?: NodeWal;
  /** Without `wal`: the directory of a WAL of the store's own, opened here and closed with the store. */
  dir?: string;
  group: string;
  /** Directory for snapshot files; this group uses the subdirectory named after it. */
  snapshotDir: string;
  /** Membership of a group with no persisted state yet (MemoryStorage's constructor argument). */
  initialConfState?: ConfState;
  /**
   * Snapshot data up to this size is kept inside the WAL record; larger data goes to a file. Default
   * 0: every snapshot is a file, so a checkpoint never copies snapshot data, and the snapshot's own
   * checksum (not the WAL's) is what guards it.
   */
  inlineSnapshotMaxBytes?: number;
  /** Where a repaired log tail or a corrupt snapshot is reported (a pino logger). Default: pino to stderr. */
  logger?: StorageLogger;
}

export interface ReadyToSave {
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
}

/**
 * A write waiting to be handed to the WAL: an operation, or a checkpoint (the group's BASE, composed
 * from the durable state when its turn comes). `ready` is false while a snapshot's data file is being
 * written or a checksum computed.
 */
interface Queued {
  op?: LogOp;
  /** The record (buffers in order); none for an operation that changes nothing. */
  record?: Buffer[];
  ready: boolean;
  resolve: (state: LogState) => void;
  reject: (err: Error) => void;
  /** A checkpoint's settling, shared by every request it serves. */
  done?: Promise<void>;
}

export class RaftWalStore implements Storage {
  readonly group: string;
  private readonly tag: Buffer;
  private readonly wal: NodeWal;
  private readonly ownsWal: boolean;
  private readonly snapDir: string;
  private readonly logger: StorageLogger;
  private readonly data: SnapshotData;
  /** The durable state and its entries. */
  private readonly log: WalLog;
  /** The state after every write issued so far (new writes are validated against it). */
  private pending: LogState;
  private readonly queue: Queued[] = [];
  /** Writes handed to the WAL and not yet durable. */
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private failure: Error | undefined;
  private closed = false;
  private materialized: { stored: StoredSnapshot; snap: Snapshot } | undefined;
  /** The file of the snapshot replaced last: kept so a Snapshot handed out just before can still load. */
  private retiredFile: string | undefined;

  constructor(options: RaftWalStoreOptions) {
    assertGroupId(options.group);
    this.group = options.group;
    this.tag = groupTag(options.group);
    this.snapDir = path.join(options.snapshotDir, options.group);
    this.logger = options.logger ?? defaultStorageLogger();
    if (!options.wal && !options.dir) throw new Error('RaftWalStore needs the node WAL or a directory');
    this.ownsWal = !options.wal;
    this.wal = options.wal ?? new NodeWal({ dir: options.dir!, logger: this.logger });
    this.data = new SnapshotData(this.group, this.snapDir, options.inlineSnapshotMaxBytes ?? 0, this.logger, (s) => this.flagCorrupt(s));
    ensureDirDurably(this.snapDir);
    const found = this.wal.take(this.group);
    if (found) {
      this.log = WalLog.replay(this.group, found.base, found.ops);
      const commitBefore = found.tornTail ? this.log.clampCommit() : undefined;
      if (commitBefore !== undefined) {
        this.logger.warn({ group: this.group, commitBefore, commitAfter: this.log.state.hardState.commit }, `raft log of group ${this.group}: its commit index passed its log's end after a torn tail was cut`);
      }
    } else {
      this.log = new WalLog(this.group, emptyLogState(options.initialConfState ?? { voters: [], learners: [] }));
    }
    this.pending = this.log.state;
    this.wal.attach(this.group, () => void this.checkpoint().catch(() => {}));
    // A new log's first record is its BASE: its membership is persisted before anything else.
    if (!found) this.checkpoint().catch(() => {}); // a failed write fails the store: its next write reports it
    verifyStoredSnapshot(this.group, this.snapDir, this.committed.snapshot, this.logger);
    sweepSnapshotDir(this.snapDir, new Set(this.committed.snapshot.file ? [this.committed.snapshot.file] : []));
  }

  private get committed(): LogState {
    return this.log.state;
  }

  // ---- Storage: synchronous reads of the durable state ----

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

  /** What the log's entries take in memory (an estimate: their data and a fixed cost each, wal-log.ts). */
  memoryBytes(): number {
    return this.log.bytes;
  }

  /** Index of the current snapshot (0 before the first): what snapshot().meta.index says, without materializing it. */
  snapshotIndex(): number {
    return this.committed.snapshot.meta.index;
  }

  term(i: number): number {
    this.assertOpen();
    const s = this.committed;
    if (i < s.offset.index) throw new RaftError('compacted', `entry ${i} is compacted`);
    if (i > s.lastIndex) throw new RaftError('unavailable', `entry ${i} is not in the log`);
    return this.log.term(i);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    this.assertOpen();
    const s = this.committed;
    if (lo <= s.offset.index) throw new RaftError('compacted', `entry ${lo} is compacted`);
    if (hi > s.lastIndex + 1) throw new RaftError('unavailable', `entries up to ${hi} not in the log`);
    if (lo >= hi) return [];
    return limitBytes(this.log.entries.slice(lo - s.offset.index - 1, hi - s.offset.index - 1), maxBytes);
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
    return file ? path.join(this.snapDir, file) : undefined;
  }

  // ---- durable writes ----

  /** Persist a Ready's snapshot, entries and hard state; resolves once durable. Saves issued together share one write. */
  save(rd: ReadyToSave): Promise<void> {
    let snapshot: StoredSnapshot | undefined;
    let placed: PlacedData | undefined;
    if (rd.snapshot && supersedes(rd.snapshot.meta.index, this.pending.snapshot)) {
      const { meta, data } = rd.snapshot;
      placed = this.data.place(meta.index, data);
      snapshot = { meta: { index: meta.index, term: meta.term, confState: cloneConf(meta.confState) }, ...placed.where };
    }
    let encoded: ReturnType<typeof encodeSave>;
    try {
      const replacesCorrupt = snapshot !== undefined && snapshot.meta.index === this.pending.snapshot.meta.index;
      encoded = encodeSave(this.tag, { entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}), ...(snapshot ? { snapshot } : {}) }, replacesCorrupt);
    } catch (err) {
      return Promise.reject(err);
    }
    const seal = encoded.record.seal;
    const prepare = placed?.write && seal ? () => Promise.all([placed.write!(), seal()]).then(() => undefined) : (placed?.write ?? seal);
    return this.enqueue(encoded.op, encoded.record.parts, prepare).then(() => undefined);
  }

  /**
   * Record a snapshot of the state machine at `index` (applied, still in the log) without touching the
   * log. `data` may be given as pieces to concatenate; `dataCrc`, if given, must be the CRC-32 of the
   * data (computed where it was built, so that large data is not checksummed here in one step).
   */
  async createSnapshot(index: number, confState: ConfState, data: Uint8Array | readonly Uint8Array[], dataCrc?: number): Promise<Snapshot> {
    const willReplace = supersedes(index, this.pending.snapshot) && index <= this.pending.lastIndex;
    const placed: Partial<PlacedData> = willReplace ? this.data.place(index, data, dataCrc) : {};
    const op: Extract<LogOp, { kind: 'createSnapshot' }> = { kind: 'createSnapshot', index, confState: cloneConf(confState), ...placed.where };
    // A snapshot that replaces nothing needs no record (it would be a no-op at replay too).
    const record = willReplace ? encodeCreateSnapshot(this.tag, op, index === this.pending.snapshot.meta.index) : undefined;
    const state = await this.enqueue(op, record, placed.write);
    return state.snapshot === this.committed.snapshot ? this.snapshot() : this.data.materialize(state.snapshot);
  }

  /**
   * Durably discard entries before `index`; the entry at `index` becomes the dummy. If the group's BASE is
   * in an older segment of the WAL, a checkpoint follows (and is awaited): the log is at its smallest now.
   */
  async compact(index: number): Promise<void> {
    const compacts = index > this.pending.offset.index;
    const done = this.enqueue({ kind: 'compact', index }, compacts ? encodeCompact(this.tag, index) : undefined);
    const checkpoint = compacts && this.wal.behind(this.group) ? this.checkpoint() : undefined;
    await done;
    await checkpoint;
  }

  /** Wait for outstanding writes, then leave the WAL (closing it if it is the store's own). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.leave();
    if (this.ownsWal) await this.wal.close();
  }

  /**
   * Close the store and delete the group's log for good: its DROP record in the WAL (after which an open
   * finds nothing of the group), then its snapshot files.
   */
  async destroy(): Promise<void> {
    if (this.closed) throw new Error(`raft storage of group ${this.group} is closed`);
    await this.leave();
    await this.wal.drop(this.group);
    await fsp.rm(this.snapDir, { recursive: true, force: true });
    if (this.ownsWal) await this.wal.close();
  }

  /** Stop taking writes, wait for those outstanding, and leave the WAL. */
  private async leave(): Promise<void> {
    this.closed = true;
    if (this.inFlight > 0 || this.queue.length > 0) await new Promise<void>((r) => (this.drained = r));
    this.wal.detach(this.group);
  }

  // ---- the write queue ----

  /** `prepare`: what must be done before the record is written (a snapshot's data file, a checksum). */
  private enqueue(op: LogOp, record?: Buffer[], prepare?: () => Promise<void>): Promise<LogState> {
    if (this.closed) return Promise.reject(new Error(`raft storage of group ${this.group} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    try {
      this.pending = transition(this.pending, op, dryRun);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<LogState>((resolve, reject) => {
      const item: Queued = { op, record, ready: prepare === undefined, resolve, reject };
      const ahead = this.commutingPosition(op);
      if (ahead !== undefined) this.queue.splice(ahead, 0, item);
      else this.queue.push(item);
      prepare?.().then(
        () => {
          item.ready = true;
          this.pump();
        },
        (err: Error) => this.fail(err),
      );
      this.pump();
    });
  }

  /**
   * Write the group's BASE again, when the node's WAL asks or the group compacts (or a new log's first);
   * resolves once it is durable. A checkpoint not yet composed serves every request made meanwhile.
   */
  private checkpoint(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const waiting = this.queue.find((q) => !q.op && !q.record);
    if (waiting) return waiting.done!;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    this.queue.push({ ready: true, resolve: () => resolve(), reject, done });
    this.pump();
    return done;
  }

  /**
   * Where a save may go ahead of snapshots whose data files are still being written, or undefined.
   * A snapshot of the state machine writes its data file first (fsync included), and Raft's saves
   * issued meanwhile must not wait for it: they showed as ~100 ms stalls in the put p99 at every
   * snapshot. A save without a snapshot whose entries all lie after the index of every snapshot
   * waiting from the first unwritten one on commutes with them (neither reads nor changes what the
   * other does), so the final state is the one issue order gives.
   */
  private commutingPosition(op: LogOp): number | undefined {
    const first = this.queue.findIndex((q) => !q.ready);
    if (first < 0 || op.kind !== 'save' || op.snapshot) return undefined;
    let maxIndex = 0;
    for (let i = first; i < this.queue.length; i++) {
      const q = this.queue[i].op;
      if (q?.kind !== 'createSnapshot') return undefined;
      maxIndex = Math.max(maxIndex, q.index);
    }
    return op.entries.length === 0 || op.entries[0].index > maxIndex ? first : undefined;
  }

  /**
   * Hand what is ready at the head of the queue to the WAL: operations together as one write, a
   * checkpoint alone and only once nothing is in flight (it is composed from the durable state).
   */
  private pump(): void {
    if (this.failure) return;
    for (let head = this.queue[0]; head?.ready; head = this.queue[0]) {
      if (head.op) {
        const batch: Queued[] = [];
        while (this.queue[0]?.ready && this.queue[0].op) batch.push(this.queue.shift()!);
        this.submit(batch, false);
      } else if (head.record) {
        this.submit([this.queue.shift()!], true);
      } else {
        if (this.inFlight > 0) return;
        const base = encodeBase(this.tag, this.committed, this.log.entries);
        head.record = base.parts;
        if (base.seal) {
          head.ready = false;
          base.seal().then(
            () => {
              head.ready = true;
              this.pump();
            },
            (err: Error) => this.fail(err),
          );
        }
      }
    }
    this.settle();
  }

  /** Wakes close() once nothing is queued or in flight. */
  private settle(): void {
    if (this.queue.length === 0 && this.inFlight === 0) this.drained?.();
  }

  private submit(batch: Queued[], checkpoint: boolean): void {
    this.inFlight++;
    this.wal.append(batch.flatMap((q) => q.record ?? []), checkpoint).then(
      (seq) => {
        this.inFlight--;
        for (const q of batch) {
          if (q.op) this.applyDurable(q.op);
          q.resolve(this.committed);
        }
        if (checkpoint) this.wal.pinned(this.group, seq);
        this.pump();
      },
      (err: Error) => {
        this.inFlight--;
        for (const q of batch) q.reject(err);
        this.fail(err);
        this.settle();
      },
    );
  }

  /** An operation is durable: it becomes what reads see. */
  private applyDurable(op: LogOp): void {
    const before = this.committed.snapshot.file;
    this.log.apply(op);
    const replaced = before !== this.committed.snapshot.file ? before : undefined;
    if (replaced) {
      if (this.retiredFile && this.retiredFile !== this.committed.snapshot.file) {
        removeSnapshotFile(this.snapDir, this.retiredFile);
        this.data.forget(this.retiredFile);
      }
      this.retiredFile = replaced;
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const waiting = this.queue.splice(0);
    for (const q of waiting) q.reject(err);
    this.logger.error({ group: this.group, err }, `raft log of group ${this.group}: write failed; refusing further writes`);
    this.settle();
  }

  /** Data found corrupt after open: flag every state that holds the same snapshot, so that it may be replaced. */
  private flagCorrupt(stored: StoredSnapshot): void {
    for (const s of [this.committed, this.pending]) {
      if (s.snapshot.meta.index === stored.meta.index && s.snapshot.file === stored.file) s.snapshot.corrupt ??= stored.corrupt;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`raft storage of group ${this.group} is closed`);
  }
}

// The Raft log of one group: an append-only write-ahead log on disk and the log itself in memory, as
// etcd pairs its WAL with MemoryStorage. raft/ reads synchronously from memory; the host's writes
// (save, createSnapshot, compact) are records appended to the current segment file, which is opened
// with O_DSYNC, so a write that returns is durable: one system call and one event-loop hop per group
// of writes, and no per-entry work beyond copying the entry into the record (large entries are not
// copied: raft-wal-format.ts).
//
// Why not LMDB, which held the log before (docs/architecture.md has the figures): a B-tree insert per
// entry, two fsyncs per commit (data, then meta page), a JavaScript callback inside every write
// transaction and a read transaction to renew after it cost ~20 µs of CPU per entry on every node
// and ~3 ms per save under load; this costs a few µs and one fdatasync-equivalent.
//
// Layout: <dir>/<seq>.wal, format in raft-wal-format.ts. Each segment starts with a BASE record, the
// whole state at that point, followed by the operations after it. Compaction writes a new segment
// whose base no longer holds the discarded entries (temp file, then rename, then fsync of the
// directory), switches to it and deletes the old one: one segment remains, and a crash anywhere in
// between leaves the old segment or the new one, both complete. The segment holds what was written
// since the last compaction, which the snapshot policy bounds.
//
// Writes are validated when issued, against the state after every earlier write (raft-log-state.ts's
// transition(), as MemoryStorage would apply them), so a refused one never reaches the file and an
// accepted one cannot fail later except by an I/O error, after which the store refuses further
// writes. What reads return advances only when a write is durable, in issue order.
//
// Integrity: every record carries a CRC-32. At open, a damaged final record is a torn write and is
// cut off (one warn line); damage with intact data after it is refused (CorruptLogError): those
// records were acknowledged long ago and may be committed on a quorum that counts this copy.
// Snapshot data keeps its own checksum (raft-snapshot-data.ts).

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { RaftError, type ConfState, type Entry, type HardState, type Snapshot } from '../raft/types.ts';
import { cloneConf, limitBytes, type Storage } from '../raft/storage.ts';
import { CorruptLogError } from './errors.ts';
import { defaultStorageLogger, type StorageLogger } from './logger.ts';
import { dryRun, emptyLogState, supersedes, transition, type LogOp, type LogState, type LogWriter, type StoredSnapshot } from './raft-log-state.ts';
import { encodeBase, encodeCreateSnapshot, encodeSave, RecordKind, scanSegment, walEntry } from './raft-wal-format.ts';
import { SnapshotData, verifyStoredSnapshot, type PlacedData } from './raft-snapshot-data.ts';
import { ensureDirDurably, fsyncDirSync, removeSnapshotFile, sweepSnapshotDir, writeFileDurably, writeFileDurablySync } from './snapshot-files.ts';
import { assertGroupId } from './group-id.ts';

export { CorruptLogError, CorruptSnapshotError } from './errors.ts';
export type { StorageLogger } from './logger.ts';

export interface RaftWalStoreOptions {
  /** This group's WAL directory (created if missing). */
  dir: string;
  group: string;
  /** Directory for snapshot files; this group uses the subdirectory named after it. */
  snapshotDir: string;
  /** Membership of a group with no persisted state yet (MemoryStorage's constructor argument). */
  initialConfState?: ConfState;
  /**
   * Snapshot data up to this size is kept inside the WAL record; larger data goes to a file. Default
   * 0: every snapshot is a file, so a compaction's new segment never copies snapshot data, and the
   * snapshot's own checksum (not the WAL's) is what guards it.
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

/** An operation waiting to be written; `ready` is false while its snapshot data file is being written or its checksum computed. */
interface Queued {
  op: LogOp;
  /** The record to append (buffers in order); none for a compaction (it starts a new segment) or an operation that changes nothing. */
  record?: Buffer[];
  ready: boolean;
  resolve: (state: LogState) => void;
  reject: (err: Error) => void;
}

const SEGMENT = /^(\d{16})\.wal$/;
const segmentName = (seq: number) => `${String(seq).padStart(16, '0')}.wal`;

export class RaftWalStore implements Storage {
  readonly group: string;
  private readonly dir: string;
  private readonly snapDir: string;
  private readonly logger: StorageLogger;
  private readonly data: SnapshotData;
  /** The durable state, and the log it describes: log[i] is the entry at committed.offset.index + 1 + i. */
  private committed: LogState;
  private log: Entry[] = [];
  /** The state after every write issued so far (new writes are validated against it). */
  private pending: LogState;
  private segment: { seq: number; fd: number };
  private readonly queue: Queued[] = [];
  private writing = false;
  private drained: (() => void) | undefined;
  private failure: Error | undefined;
  private closed = false;
  private materialized: { stored: StoredSnapshot; snap: Snapshot } | undefined;
  /** The file of the snapshot replaced last: kept so a Snapshot handed out just before can still load. */
  private retiredFile: string | undefined;
  /** The deletion of the segment the last compaction replaced, if it is still running. */
  private removingOld: Promise<void> | undefined;
  /** The offset of the log as the in-memory writer has it mid-operation (transition() moves it). */
  private memOffset = 0;

  constructor(options: RaftWalStoreOptions) {
    assertGroupId(options.group);
    this.group = options.group;
    this.dir = options.dir;
    this.snapDir = path.join(options.snapshotDir, options.group);
    this.logger = options.logger ?? defaultStorageLogger();
    this.data = new SnapshotData(this.group, this.snapDir, options.inlineSnapshotMaxBytes ?? 0, this.logger, (s) => this.flagCorrupt(s));
    ensureDirDurably(this.dir);
    ensureDirDurably(this.snapDir);
    const opened = this.open(options.initialConfState ?? { voters: [], learners: [] });
    this.committed = this.pending = opened.state;
    this.segment = opened.segment;
    verifyStoredSnapshot(this.group, this.snapDir, this.committed.snapshot, this.logger);
    sweepSnapshotDir(this.snapDir, new Set(this.committed.snapshot.file ? [this.committed.snapshot.file] : []));
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

  /** Index of the current snapshot (0 before the first): what snapshot().meta.index says, without materializing it. */
  snapshotIndex(): number {
    return this.committed.snapshot.meta.index;
  }

  term(i: number): number {
    this.assertOpen();
    const s = this.committed;
    if (i < s.offset.index) throw new RaftError('compacted', `entry ${i} is compacted`);
    if (i > s.lastIndex) throw new RaftError('unavailable', `entry ${i} is not in the log`);
    return i === s.offset.index ? s.offset.term : this.log[i - s.offset.index - 1].term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    this.assertOpen();
    const s = this.committed;
    if (lo <= s.offset.index) throw new RaftError('compacted', `entry ${lo} is compacted`);
    if (hi > s.lastIndex + 1) throw new RaftError('unavailable', `entries up to ${hi} not in the log`);
    if (lo >= hi) return [];
    return limitBytes(this.log.slice(lo - s.offset.index - 1, hi - s.offset.index - 1), maxBytes);
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
      encoded = encodeSave({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}), ...(snapshot ? { snapshot } : {}) }, replacesCorrupt);
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
    const record = willReplace ? encodeCreateSnapshot(op, index === this.pending.snapshot.meta.index) : undefined;
    const state = await this.enqueue(op, record, placed.write);
    return state.snapshot === this.committed.snapshot ? this.snapshot() : this.data.materialize(state.snapshot);
  }

  /** Durably discard entries before `index`; the entry at `index` becomes the dummy. Starts a new segment. */
  async compact(index: number): Promise<void> {
    await this.enqueue({ kind: 'compact', index });
  }

  /** Wait for outstanding writes, then close the segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writing || this.queue.length > 0) await new Promise<void>((r) => (this.drained = r));
    await this.removingOld;
    fs.closeSync(this.segment.fd);
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
      if (q.kind !== 'createSnapshot') return undefined;
      maxIndex = Math.max(maxIndex, q.index);
    }
    return op.entries.length === 0 || op.entries[0].index > maxIndex ? first : undefined;
  }

  /** Write what is ready at the head of the queue: appends together in one write, a compaction alone. */
  private pump(): void {
    if (this.writing || this.failure) return;
    const head = this.queue[0];
    if (!head?.ready) {
      if (this.queue.length === 0) this.drained?.();
      return;
    }
    this.writing = true;
    const batch: Queued[] = [];
    if (head.op.kind === 'compact') batch.push(this.queue.shift()!);
    else while (this.queue[0]?.ready && this.queue[0].op.kind !== 'compact') batch.push(this.queue.shift()!);
    const records = batch.flatMap((q) => q.record ?? []);
    const done = head.op.kind === 'compact' ? this.rotate(head.op) : records.length > 0 ? writeAll(this.segment.fd, records) : Promise.resolve();
    done.then(
      () => {
        for (const q of batch) {
          if (q.op.kind !== 'compact') this.applyDurable(q.op);
          q.resolve(this.committed);
        }
        this.writing = false;
        this.pump();
      },
      (err: Error) => {
        for (const q of batch) q.reject(err);
        this.writing = false;
        this.fail(err);
      },
    );
  }

  /** An operation is durable: it becomes what reads see. */
  private applyDurable(op: LogOp): void {
    const before = this.committed.snapshot.file;
    this.memOffset = this.committed.offset.index;
    this.committed = transition(this.committed, op, this.memoryWriter);
    const replaced = before !== this.committed.snapshot.file ? before : undefined;
    if (replaced) {
      if (this.retiredFile && this.retiredFile !== this.committed.snapshot.file) {
        removeSnapshotFile(this.snapDir, this.retiredFile);
        this.data.forget(this.retiredFile);
      }
      this.retiredFile = replaced;
    }
  }

  /**
   * Compaction: the state without the discarded entries becomes the base of a new segment, written
   * to a temporary file, fsynced and renamed into place; then the old segment goes.
   */
  private async rotate(op: Extract<LogOp, { kind: 'compact' }>): Promise<void> {
    await this.removingOld;
    const before = this.committed;
    const beforeLog = this.log;
    this.applyDurable(op);
    if (this.committed === before) return; // nothing to discard
    try {
      const seq = this.segment.seq + 1;
      const file = path.join(this.dir, segmentName(seq));
      const base = encodeBase(this.group, this.committed, this.log);
      await base.seal?.();
      await writeFileDurably(this.dir, segmentName(seq), base.parts);
      const fd = openForAppend(file);
      const old = this.segment;
      this.segment = { seq, fd };
      fs.closeSync(old.fd);
      // The new segment is durable and in place, so the writes queued behind this one may go on: the
      // old segment is a leftover now, which open() deletes if it is still there. Removing it in the
      // queue held every append back for two more file-system round trips (compactions took 19-63 ms
      // under puts, and on a leader every commit waited for them).
      this.removingOld = this.removeSegment(old.seq);
    } catch (err) {
      // Not durable: reads keep the uncompacted state (the write failure stops the store anyway).
      this.committed = before;
      this.log = beforeLog;
      throw err;
    }
  }

  /** Delete a segment that a compaction replaced (never throws: a failure leaves it for open() to delete). */
  private async removeSegment(seq: number): Promise<void> {
    try {
      await fsp.rm(path.join(this.dir, segmentName(seq)), { force: true });
    } catch (err) {
      this.logger.warn({ group: this.group, err }, `raft log of group ${this.group}: could not delete the replaced segment ${segmentName(seq)}; it is deleted at the next start`);
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const waiting = this.queue.splice(0);
    for (const q of waiting) q.reject(err);
    this.logger.error({ group: this.group, err }, `raft log of group ${this.group}: write failed; refusing further writes`);
    this.drained?.();
  }

  /** transition()'s side effects on the in-memory log, as it applies a durable operation. */
  private readonly memoryWriter: LogWriter = {
    termAt: (s, i) => (i === s.offset.index ? s.offset.term : this.log[i - this.memOffset - 1].term),
    putEntry: (e) => {
      const at = e.index - this.memOffset - 1;
      if (at === this.log.length) this.log.push(walEntry(e));
      else if (at >= 0 && at < this.log.length) this.log[at] = walEntry(e);
      else throw new Error(`raft log of group ${this.group}: entry ${e.index} does not follow ${this.memOffset + this.log.length}`);
    },
    deleteEntries: (from, to) => {
      if (from > to) return;
      const lo = from - this.memOffset - 1;
      const hi = to - this.memOffset - 1;
      if (hi >= this.log.length - 1) this.log.length = Math.max(0, lo);
      else if (lo <= 0) this.log = this.log.slice(hi + 1);
      else throw new Error(`raft log of group ${this.group}: cannot delete entries ${from}..${to} from the middle`);
    },
    putOffset: (offset) => {
      this.memOffset = offset.index;
    },
    putHardState: () => {},
    putSnapshot: () => {},
  };

  // ---- opening ----

  private open(initialConfState: ConfState): { state: LogState; segment: { seq: number; fd: number } } {
    const names = fs.readdirSync(this.dir);
    for (const n of names) if (n.endsWith('.tmp')) fs.rmSync(path.join(this.dir, n), { force: true });
    const seqs = names.flatMap((n) => (SEGMENT.test(n) ? [Number(SEGMENT.exec(n)![1])] : [])).sort((a, b) => a - b);
    if (seqs.length === 0) {
      // A new log: its membership is persisted at once, so a reopen without the option sees the same state.
      const state = emptyLogState(initialConfState);
      const file = path.join(this.dir, segmentName(1));
      writeFileDurablySync(this.dir, segmentName(1), Buffer.concat(encodeBase(this.group, state, []).parts));
      return { state, segment: { seq: 1, fd: openForAppend(file) } };
    }
    const seq = seqs[seqs.length - 1];
    const file = path.join(this.dir, segmentName(seq));
    const state = this.replay(file);
    // Older segments are leftovers of a compaction that stopped before deleting them.
    for (const old of seqs.slice(0, -1)) fs.rmSync(path.join(this.dir, segmentName(old)), { force: true });
    if (seqs.length > 1) fsyncDirSync(this.dir);
    return { state, segment: { seq, fd: openForAppend(file) } };
  }

  /** Rebuild the state and the in-memory log from a segment, cutting a torn final record. */
  private replay(file: string): LogState {
    const bytes = fs.readFileSync(file);
    const scan = scanSegment(bytes);
    const [base, ...ops] = scan.records;
    if (!base || base.kind !== RecordKind.Base) {
      throw new CorruptLogError(this.group, `raft log of group ${this.group}: segment ${path.basename(file)} does not start with an intact base record (${scan.ok ? 'no base' : scan.problem}); this node's Raft state cannot be trusted and must be rebuilt from a peer (remove the node from the cluster and add it back with an empty data directory)`);
    }
    if (base.group !== this.group) throw new CorruptLogError(this.group, `segment ${file} belongs to group ${base.group}, not ${this.group}`);
    let state = base.state;
    this.memOffset = state.offset.index;
    this.log = base.entries.map(walEntry);
    for (const r of ops) {
      if (r.kind === RecordKind.Base) throw new CorruptLogError(this.group, `raft log of group ${this.group}: a second base record in ${path.basename(file)}`);
      if (r.replacesCorrupt) state = { ...state, snapshot: { ...state.snapshot, corrupt: 'replaced by a later record' } };
      this.memOffset = state.offset.index;
      state = transition(state, r.op, this.memoryWriter);
    }
    if (scan.ok) return state;
    if (!scan.tail) {
      throw new CorruptLogError(
        this.group,
        `raft log of group ${this.group}: ${path.basename(file)} is damaged at byte ${scan.end} (${scan.problem}) and intact data follows: ` +
          `damage inside the log, not a torn tail; refusing to drop acknowledged entries (rebuild this node from a peer)`,
      );
    }
    // A torn final write: nothing after it was ever acknowledged, and the record itself may not have been.
    fs.truncateSync(file, scan.end);
    const commitBefore = state.hardState.commit;
    if (commitBefore > state.lastIndex) state = { ...state, hardState: { ...state.hardState, commit: state.lastIndex } };
    this.logger.warn(
      { group: this.group, segment: path.basename(file), cutFromByte: scan.end, cutBytes: bytes.byteLength - scan.end, problem: scan.problem, lastIndex: state.lastIndex, commitBefore, commitAfter: state.hardState.commit },
      `raft log of group ${this.group}: torn final record (${scan.problem}); cut ${bytes.byteLength - scan.end} bytes, the log now ends at ${state.lastIndex}`,
    );
    return state;
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

function openForAppend(file: string): number {
  return fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_DSYNC);
}

/** Every byte of `bufs`, appended in order (a short write continues where it stopped). */
function writeAll(fd: number, bufs: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (rest: Buffer[]) => {
      fs.writev(fd, rest, (err, written) => {
        if (err) return reject(err);
        let left = written;
        while (rest.length > 0 && left >= rest[0].byteLength) left -= rest.shift()!.byteLength;
        if (rest.length === 0) return resolve();
        rest[0] = rest[0].subarray(left);
        step(rest);
      });
    };
    step(bufs.slice());
  });
}

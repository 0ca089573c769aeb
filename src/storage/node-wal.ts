// The node's write-ahead log, shared by every Raft group it hosts (TiKV's raft-engine idea): each
// group's storage (raft-wal-store.ts) hands it records tagged with the group, and what is handed in
// during one event-loop turn goes to disk in one write on a segment file opened with O_DSYNC. With
// S shards on a node, a turn's Readies of every shard cost one durable write, not S.
//
// Layout: <dir>/<seq>.wal, format in raft-wal-format.ts. Records are written in the order they are
// handed in and settle in that order; a failed write fails the WAL for good (the file's end is then
// unknown), and with it every group's storage.
//
// Space: the current segment grows until it holds `segmentBytes` of new records, then the WAL starts the
// next one. A segment is deleted once every group's latest BASE (its whole state) lies in a later one.
// A group writes a new BASE (a checkpoint) when it compacts its log and its BASE is in an older segment
// than the current one: right after a compaction its log is smallest, so an active group moves forward
// almost for free. When more than `maxSegments` remain, the groups whose BASE is in the oldest are asked
// for a checkpoint (a group idle since it last compacted), so the WAL on disk stays near `maxSegments`
// segments. A group's records that come before its first BASE in the oldest segment are the tail of a
// history whose start was deleted with an older segment, after that BASE was durable; replay skips them.
//
// Opening reads every segment: the last one may end in a torn write, which is cut (one warn line);
// damage anywhere else is refused (CorruptLogError), since those records were acknowledged.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { CorruptLogError } from './errors.ts';
import { defaultStorageLogger, type StorageLogger } from './logger.ts';
import { encodeDrop, encodeHeader, groupTag, RecordKind, scanSegment, WAL_FORMAT, type BaseRecord, type OpRecord } from './raft-wal-format.ts';
import { ensureDirDurably, writeFileDurably, writeFileDurablySync } from './snapshot-files.ts';
import { migrateLegacyWal } from './legacy-wal.ts';

export interface NodeWalOptions {
  dir: string;
  /** New record bytes a segment takes before the next one starts. Default 32 MiB. */
  segmentBytes?: number;
  /** Segments kept before the groups holding the oldest are asked for a checkpoint. Default 4. */
  maxSegments?: number;
  logger?: StorageLogger;
}

/** A group's records found at open: its latest BASE and the operations after it. */
export interface GroupRecords {
  base: BaseRecord;
  ops: OpRecord[];
  /** Whether the last segment ended in a torn write that was cut (the group's last records may be gone). */
  tornTail: boolean;
}

interface Pending {
  parts: Buffer[];
  checkpoint: boolean;
  resolve: (seq: number) => void;
  reject: (err: Error) => void;
}

/** What a group's storage does when the WAL asks it to: write its BASE again, so older segments can go. */
export type CheckpointRequest = () => void;

const SEGMENT = /^(\d{16})\.wal$/;
const segmentName = (seq: number) => `${String(seq).padStart(16, '0')}.wal`;
const DEFAULT_SEGMENT_BYTES = 32 << 20;
const DEFAULT_MAX_SEGMENTS = 4;
/** The node-wide damage CorruptLogError names when no one group is to blame. */
const ANY_GROUP = '*';

export class NodeWal {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly maxSegments: number;
  private readonly logger: StorageLogger;
  /** Live segments, oldest first; the last is the one written. */
  private readonly segments: number[];
  private fd: number;
  /** New record bytes (checkpoints not counted) in the current segment. */
  private fresh: number;
  private readonly found = new Map<string, GroupRecords>();
  /** The segment of each group's latest durable BASE: segments before the oldest of them can go. */
  private readonly pins = new Map<string, number>();
  private readonly members = new Map<string, CheckpointRequest>();
  /** Groups asked for a checkpoint that has not landed yet. */
  private readonly asked = new Set<string>();
  private pending: Pending[] = [];
  private scheduled = false;
  private writing = false;
  private failure: Error | undefined;
  private closed = false;
  private idle: (() => void) | undefined;
  private removing: Promise<void> = Promise.resolve();
  /** Counters since open: durable writes, and segments started. */
  readonly stats = { writes: 0, segmentsStarted: 0 };

  constructor(options: NodeWalOptions) {
    this.dir = options.dir;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.maxSegments = Math.max(2, options.maxSegments ?? DEFAULT_MAX_SEGMENTS);
    this.logger = options.logger ?? defaultStorageLogger();
    ensureDirDurably(this.dir);
    migrateLegacyWal(this.dir, this.logger);
    const names = fs.readdirSync(this.dir);
    for (const n of names) if (n.endsWith('.tmp')) fs.rmSync(path.join(this.dir, n), { force: true });
    this.segments = names.flatMap((n) => (SEGMENT.test(n) ? [Number(SEGMENT.exec(n)![1])] : [])).sort((a, b) => a - b);
    if (this.segments.length === 0) {
      writeFileDurablySync(this.dir, segmentName(1), encodeHeader());
      this.segments.push(1);
    }
    this.fresh = this.replay();
    this.fd = openForAppend(this.file(this.current));
    this.collect();
  }

  private get current(): number {
    return this.segments[this.segments.length - 1];
  }

  private file(seq: number): string {
    return path.join(this.dir, segmentName(seq));
  }

  /**
   * The records `group` had at open, handed out once (its storage replays them); undefined for a group
   * with none, whose storage must then write a BASE before anything else.
   */
  take(group: string): GroupRecords | undefined {
    const r = this.found.get(group);
    this.found.delete(group);
    return r;
  }

  /** The groups that had records at open and whose storage has not taken them yet. */
  groupsFound(): string[] {
    return [...this.found.keys()];
  }

  /** A group's storage joins: `checkpoint` is called when the WAL wants its BASE written again. */
  attach(group: string, checkpoint: CheckpointRequest): void {
    if (this.members.has(group)) throw new Error(`raft log of group ${group} is open already`);
    this.members.set(group, checkpoint);
    this.asked.delete(group);
  }

  /** The group's storage is closed; its records stay (its last BASE keeps its segment). */
  detach(group: string): void {
    this.members.delete(group);
    this.asked.delete(group);
  }

  /** A BASE of `group` is durable in segment `seq`. */
  pinned(group: string, seq: number): void {
    this.pins.set(group, seq);
    this.asked.delete(group);
    this.collect();
  }

  /**
   * Delete `group` for good: once its DROP record is durable, nothing of it is read at open, and it holds
   * no segment. Its storage must be closed first (detach); a group of that id may be created again.
   */
  async drop(group: string): Promise<void> {
    if (this.members.has(group)) throw new Error(`raft log of group ${group} is open; close it before dropping it`);
    await this.append(encodeDrop(groupTag(group)));
    this.found.delete(group);
    this.pins.delete(group);
    this.collect();
  }

  /** Whether the group's latest BASE is in an older segment than the one being written. */
  behind(group: string): boolean {
    return (this.pins.get(group) ?? 0) < this.current;
  }

  /**
   * Append a record (its buffers, in order); resolves with the segment it went to once it is durable.
   * Records handed in during one event-loop turn share one write. `checkpoint`: a group's BASE, which does
   * not count toward the segment's size (so the checkpoints a new segment leads to cannot start another).
   */
  append(parts: Buffer[], checkpoint = false): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the raft log is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ parts, checkpoint, resolve, reject });
      this.schedule();
    });
  }

  /** Wait for every write handed in, then close the segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writing || this.pending.length > 0) await new Promise<void>((r) => (this.idle = r));
    await this.removing;
    fs.closeSync(this.fd);
  }

  /** Segments on disk, oldest first (for tests and status). */
  segmentFiles(): string[] {
    return this.segments.map(segmentName);
  }

  // ---- writing ----

  /**
   * Write at the end of the turn, not at once: then every group's Ready of this turn (their loops run
   * from setImmediate too) is in the write.
   */
  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.writing || this.failure || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.writing = true;
    this.write(batch).then(
      (seq) => {
        this.writing = false;
        for (const p of batch) p.resolve(seq);
        this.next();
      },
      (err: Error) => {
        this.writing = false;
        this.fail(err, batch);
      },
    );
  };

  private next(): void {
    if (this.pending.length > 0) this.schedule();
    else this.idle?.();
  }

  private async write(batch: Pending[]): Promise<number> {
    const parts: Buffer[] = [];
    let fresh = 0;
    for (const p of batch) {
      for (const b of p.parts) {
        parts.push(b);
        if (!p.checkpoint) fresh += b.byteLength;
      }
    }
    // Only new records start a segment: checkpoints alone never do, so the checkpoints a new segment
    // asked for cannot start another.
    if (fresh > 0 && this.fresh >= this.segmentBytes) await this.rotate();
    this.fresh += fresh;
    if (parts.length > 0) {
      await writeAll(this.fd, parts);
      this.stats.writes++;
    }
    return this.current;
  }

  /** Start the next segment. */
  private async rotate(): Promise<void> {
    const seq = this.current + 1;
    await writeFileDurably(this.dir, segmentName(seq), encodeHeader());
    const fd = openForAppend(this.file(seq));
    fs.closeSync(this.fd);
    this.fd = fd;
    this.segments.push(seq);
    this.fresh = 0;
    this.stats.segmentsStarted++;
    this.collect();
  }

  /**
   * Delete the segments that no group's latest BASE needs any more; with more than `maxSegments` left,
   * ask the groups holding the oldest for a checkpoint.
   */
  private collect(): void {
    let keepFrom = this.current;
    for (const seq of this.pins.values()) keepFrom = Math.min(keepFrom, seq);
    while (this.segments[0] < keepFrom) {
      const seq = this.segments.shift()!;
      this.removing = this.removing.then(() =>
        fsp.rm(this.file(seq), { force: true }).catch((err: unknown) => {
          this.logger.warn({ err }, `raft log: could not delete segment ${segmentName(seq)}, which no group needs; it is deleted at the next start`);
        }),
      );
    }
    if (this.segments.length <= this.maxSegments) return;
    for (const [group, seq] of this.pins) {
      const checkpoint = this.members.get(group);
      if (seq !== keepFrom || !checkpoint || this.asked.has(group)) continue;
      this.asked.add(group);
      checkpoint();
    }
  }

  private fail(err: Error, batch: Pending[]): void {
    this.failure = err;
    for (const p of [...batch, ...this.pending.splice(0)]) p.reject(err);
    this.logger.error({ err }, 'raft log: write failed; refusing further writes');
    this.idle?.();
  }

  // ---- opening ----

  /** Read every segment into `found` and `pins`; returns the new record bytes of the last one. */
  private replay(): number {
    let fresh = 0;
    for (const seq of this.segments) {
      const last = seq === this.current;
      const file = this.file(seq);
      const bytes = fs.readFileSync(file);
      const scan = scanSegment(bytes);
      const [header, ...records] = scan.records;
      // A segment is created whole with its header (temporary file, then rename), so no header is damage.
      if (header?.kind !== RecordKind.Header) {
        throw new CorruptLogError(ANY_GROUP, `raft log: segment ${segmentName(seq)} does not start with an intact header (${scan.ok ? 'no header' : scan.problem}); ${REBUILD}`);
      }
      if (header.format !== WAL_FORMAT) {
        throw new CorruptLogError(ANY_GROUP, `raft log: segment ${segmentName(seq)} is in format ${header.format}; this version reads format ${WAL_FORMAT}`);
      }
      for (const r of records) {
        if (r.kind === RecordKind.Header) throw new CorruptLogError(ANY_GROUP, `raft log: a second header in ${segmentName(seq)}; ${REBUILD}`);
        if (r.kind === RecordKind.Base) {
          this.found.set(r.group, { base: r, ops: [], tornTail: false });
          this.pins.set(r.group, seq);
        } else if (r.kind === RecordKind.Drop) {
          this.found.delete(r.group);
          this.pins.delete(r.group);
        } else {
          // Before the group's first BASE: what remains of a history whose start is deleted (see the top).
          this.found.get(r.group)?.ops.push(r);
        }
      }
      if (!scan.ok) {
        if (!last || !scan.tail) {
          throw new CorruptLogError(
            ANY_GROUP,
            `raft log: ${segmentName(seq)} is damaged at byte ${scan.end} (${scan.problem}) and intact data follows: damage inside the log, not a torn tail; refusing to drop acknowledged entries (${REBUILD})`,
          );
        }
        this.cutTornTail(file, bytes.byteLength, scan.end, scan.problem);
      }
      if (last) fresh = Math.min(scan.end, bytes.byteLength);
    }
    return fresh;
  }

  /** A torn final write: nothing after it was ever acknowledged, and the record itself may not have been. */
  private cutTornTail(file: string, size: number, end: number, problem: string): void {
    fs.truncateSync(file, end);
    for (const g of this.found.values()) g.tornTail = true;
    this.logger.warn(
      { segment: path.basename(file), cutFromByte: end, cutBytes: size - end, problem },
      `raft log: torn final record in ${path.basename(file)} (${problem}); cut ${size - end} bytes`,
    );
  }
}

const REBUILD = "this node's Raft state cannot be trusted and must be rebuilt from a peer (remove the node from the cluster and add it back with an empty data directory)";

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


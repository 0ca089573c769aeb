// The bytes of the node's Raft WAL (node-wal.ts): segment files, each a sequence of records that
// belong to the node's Raft groups, interleaved as they were written.
//
//   record  = u32 LE body length | u32 LE CRC-32 of the body | body
//   body    = u8 kind | str group | payload         (HEADER: u8 kind | u8 format)
//
// A segment starts with a HEADER naming the format. A group's records start with a BASE: its whole log
// state at that point (offset, hard state, snapshot meta, every entry after the offset). Every later
// record of the group is one storage operation (raft-log-state.ts's LogOp) exactly as it was issued;
// replaying a group is folding transition() over its records from its latest BASE. Operations are
// validated before they are written, so replay cannot fail on intact records.
//
//   HEADER          u8 format
//   BASE            f64 offset.index | f64 offset.term | hardState | snapshot | entries
//   SAVE            u8 flags (1: hard state, 2: snapshot, 4: it replaces a corrupt snapshot) | [hardState] | [snapshot] | entries
//   CREATE_SNAPSHOT f64 index | u32 length | msgpack of { confState, inline?, file?, dataCrc?, dataSize?, replacesCorrupt? }
//   COMPACT         f64 index
//   DROP            (nothing: the group is deleted, and its records before this one mean nothing)
//   hardState       f64 term | f64 commit | str vote
//   snapshot        u32 length | msgpack of the StoredSnapshot without `corrupt`
//   entries         f64 first index | u32 count | count × (u32 data length | f64 term | u8 type | data)
//   str             u16 length | UTF-8
//
// Format 1 (one WAL per group, in wal/<group>/) had no HEADER and no group in the body, its BASE began
// with u8 format | str group, and a compaction started a new segment instead of writing COMPACT. It is
// read once, to move it into the node's WAL (node-wal.ts, `legacy`).

import { Packr } from 'msgpackr';
import type { ConfState, Entry, EntryType, HardState } from '../raft/types.ts';
import { crc32, crc32InSlices } from './checksum.ts';
import { ByteReader, ByteWriter } from '../util/byte-cursor.ts';
import type { EncodedEntry, LogOp, LogState, StoredSnapshot } from './raft-log-state.ts';

export const WAL_FORMAT = 2;
const LEGACY_FORMAT = 1;
/** Plain msgpack maps (no record extension): the rare, small meta payloads stay readable by any msgpack decoder. */
const packr = new Packr({ useRecords: false, moreTypes: false });
const pack = (v: unknown) => packr.pack(v);
const unpack = (b: Uint8Array) => packr.unpack(b);
export const RECORD_HEADER_BYTES = 8;
/** A record claiming more than this is damage, not data (entries of one Ready are far smaller). */
export const MAX_RECORD_BYTES = 1 << 30;

export const enum RecordKind {
  Base = 1,
  Save = 2,
  CreateSnapshot = 3,
  Compact = 4,
  Header = 5,
  Drop = 6,
}

const HAS_HARD_STATE = 1;
const HAS_SNAPSHOT = 2;
/** The snapshot replaces a corrupt one at the same index (which supersedes() allows only while that one is flagged). */
const REPLACES_CORRUPT = 4;
/** Per entry in an `entries` block: u32 data length, f64 term, u8 type. */
const ENTRY_HEADER = 13;

/** The start of a segment. */
export interface HeaderRecord {
  kind: RecordKind.Header;
  format: number;
}

/** A group's base: what its log holds at this point. */
export interface BaseRecord {
  kind: RecordKind.Base;
  group: string;
  state: LogState;
  entries: EncodedEntry[];
}

/**
 * An operation, and whether it replaces a snapshot found corrupt at the same index: that flag lives
 * in memory only, so replay must be told, or it would skip the replacement as a same-index no-op.
 */
export type OpRecord = { kind: RecordKind.Save | RecordKind.CreateSnapshot | RecordKind.Compact; group: string; op: LogOp; replacesCorrupt: boolean };

/** A group deleted: its earlier records mean nothing; a later BASE would start a new group of that id. */
export interface DropRecord {
  kind: RecordKind.Drop;
  group: string;
}

export type WalRecord = HeaderRecord | BaseRecord | OpRecord | DropRecord;

/** A group's id as records carry it (encoded once per group). */
export function groupTag(group: string): Buffer {
  return utf8(group);
}

// ---- writing ----

/**
 * Entry data from this size on is not copied into the record: the record is written as several
 * buffers around it, and the in-memory log keeps the caller's bytes: copying a 64 MiB entry into
 * fresh memory blocks the event loop long enough to delay heartbeats (docs/architecture.md).
 */
export const LARGE_ENTRY_BYTES = 1 << 20;

/**
 * Writes one record into a buffer of exactly its size less its large entry data, which stays in the
 * caller's buffers (external()); finish() returns the record as the list of buffers to write in order.
 */
class RecordWriter extends ByteWriter {
  private readonly externals: Array<{ at: number; data: Uint8Array }> = [];
  private externalBytes = 0;

  /**
   * `payloadBytes`: the payload's size without what will be passed to external(). The buffer is its own
   * allocation, never a slice of Node's shared pool: the in-memory log keeps views of it for as long as the
   * entries live, and a pooled record would keep its whole 8 KiB slab alive with it (measured: 100,000
   * entries of 150 bytes held 78 MiB of buffers, against 16 MiB so).
   */
  constructor(kind: RecordKind, tag: Buffer, payloadBytes: number) {
    super(Buffer.allocUnsafeSlow(RECORD_HEADER_BYTES + 3 + tag.byteLength + payloadBytes), RECORD_HEADER_BYTES);
    this.u8(kind);
    this.str(tag);
  }
  str(v: Buffer): void {
    this.u16(v.byteLength);
    this.bytes(v);
  }
  /** `data` belongs here in the record, but is written from where it is. */
  external(data: Uint8Array): void {
    this.externals.push({ at: this.at, data });
    this.externalBytes += data.byteLength;
  }
  /**
   * Length and checksum into the header; the record is complete. With large entry data, the checksum
   * is left to the record's seal(), which computes it a slice per event-loop turn.
   */
  finish(): EncodedRecord {
    if (this.at !== this.b.byteLength) throw new Error(`WAL record size mismatch: wrote ${this.at} of ${this.b.byteLength} bytes`);
    const parts: Buffer[] = [];
    let from = 0;
    for (const x of this.externals) {
      parts.push(this.b.subarray(from, x.at), Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength));
      from = x.at;
    }
    parts.push(this.b.subarray(from));
    this.b.writeUInt32LE(this.b.byteLength + this.externalBytes - RECORD_HEADER_BYTES, 0);
    const record = { parts: parts.filter((p) => p.byteLength > 0) };
    if (this.externals.length === 0) {
      this.b.writeUInt32LE(crc32(parts[0], 0, RECORD_HEADER_BYTES), 4);
      return record;
    }
    const seal = async () => {
      let crc = crc32(parts[0], 0, RECORD_HEADER_BYTES);
      for (let i = 1; i < parts.length; i++) crc = await crc32InSlices(parts[i], crc);
      this.b.writeUInt32LE(crc, 4);
    };
    return { ...record, seal };
  }
}

/** A record as buffers to write in order; if `seal` is there, it must resolve before they are written. */
export interface EncodedRecord {
  parts: Buffer[];
  seal?: () => Promise<void>;
}

function utf8(v: string): Buffer {
  const s = Buffer.from(v, 'utf8');
  if (s.byteLength > 0xffff) throw new RangeError(`string of ${s.byteLength} bytes is too long for the WAL`);
  return s;
}

const hardStateBytes = (vote: Buffer) => 16 + 2 + vote.byteLength;

function writeHardState(w: RecordWriter, hs: HardState, vote: Buffer): void {
  w.f64(hs.term);
  w.f64(hs.commit);
  w.str(vote);
}

function packSnapshot(s: StoredSnapshot): Buffer {
  const { corrupt: _corrupt, ...stored } = s;
  return pack(stored);
}

const isLarge = (data: Uint8Array) => data.byteLength >= LARGE_ENTRY_BYTES;

/** Bytes of an entries block that are copied into the record (large entry data is not). */
function entriesBytes(entries: readonly Entry[]): number {
  let n = 12;
  for (const e of entries) n += ENTRY_HEADER + (isLarge(e.data) ? 0 : e.data.byteLength);
  return n;
}

/**
 * Writes an entries block; returns the entries as views of what was written (the op's entries), or
 * for large data, of the caller's bytes.
 */
function writeEntries(w: RecordWriter, first: number, entries: readonly Entry[]): EncodedEntry[] {
  w.f64(first);
  w.u32(entries.length);
  const out: EncodedEntry[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    w.u32(e.data.byteLength);
    const start = w.at;
    w.f64(e.term);
    w.u8(e.type);
    if (isLarge(e.data)) {
      w.external(e.data);
      out[i] = { index: e.index, term: e.term, bytes: w.b.subarray(start, w.at), data: e.data };
    } else {
      w.bytes(e.data);
      out[i] = { index: e.index, term: e.term, bytes: w.b.subarray(start, w.at) };
    }
  }
  return out;
}

/**
 * A save as a record (buffers to write in order), and the operation to apply once it is durable: its
 * entries are views into the record (the data is copied once, here), so neither the file nor the
 * in-memory log can see later changes to the caller's buffers; except large entry data
 * (LARGE_ENTRY_BYTES), which is written and kept from the caller's buffers, which must therefore not
 * change (Raft entries never do: they are a proposal's command or a received frame).
 */
export function encodeSave(tag: Buffer, rd: { hardState?: HardState; entries: readonly Entry[]; snapshot?: StoredSnapshot }, replacesCorrupt = false): { record: EncodedRecord; op: LogOp } {
  const vote = rd.hardState ? utf8(rd.hardState.vote) : undefined;
  const snap = rd.snapshot ? packSnapshot(rd.snapshot) : undefined;
  const w = new RecordWriter(RecordKind.Save, tag, 1 + (vote ? hardStateBytes(vote) : 0) + (snap ? 4 + snap.byteLength : 0) + entriesBytes(rd.entries));
  w.u8((rd.hardState ? HAS_HARD_STATE : 0) | (rd.snapshot ? HAS_SNAPSHOT : 0) | (replacesCorrupt ? REPLACES_CORRUPT : 0));
  if (rd.hardState) writeHardState(w, rd.hardState, vote!);
  if (snap) {
    w.u32(snap.byteLength);
    w.bytes(snap);
  }
  const entries = writeEntries(w, rd.entries[0]?.index ?? 0, rd.entries);
  const record = w.finish();
  const op: LogOp = {
    kind: 'save',
    entries,
    ...(rd.hardState ? { hardState: { term: rd.hardState.term, vote: rd.hardState.vote, commit: rd.hardState.commit } } : {}),
    ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
  };
  return { record, op };
}

export function encodeCreateSnapshot(tag: Buffer, op: Extract<LogOp, { kind: 'createSnapshot' }>, replacesCorrupt = false): Buffer[] {
  const { kind: _kind, index, ...rest } = op;
  const b = pack(replacesCorrupt ? { ...rest, replacesCorrupt } : rest);
  const w = new RecordWriter(RecordKind.CreateSnapshot, tag, 8 + 4 + b.byteLength);
  w.f64(index);
  w.u32(b.byteLength);
  w.bytes(b);
  return w.finish().parts; // no entries: sealed already
}

export function encodeCompact(tag: Buffer, index: number): Buffer[] {
  const w = new RecordWriter(RecordKind.Compact, tag, 8);
  w.f64(index);
  return w.finish().parts;
}

export function encodeDrop(tag: Buffer): Buffer[] {
  return new RecordWriter(RecordKind.Drop, tag, 0).finish().parts;
}

/** A group's base record, as buffers to write in order (large entry data is not copied). */
export function encodeBase(tag: Buffer, state: LogState, entries: readonly Entry[]): EncodedRecord {
  const vote = utf8(state.hardState.vote);
  const snap = packSnapshot(state.snapshot);
  const w = new RecordWriter(RecordKind.Base, tag, 16 + hardStateBytes(vote) + 4 + snap.byteLength + entriesBytes(entries));
  w.f64(state.offset.index);
  w.f64(state.offset.term);
  writeHardState(w, state.hardState, vote);
  w.u32(snap.byteLength);
  w.bytes(snap);
  writeEntries(w, state.offset.index + 1, entries);
  return w.finish();
}

/** The first record of a segment. */
export function encodeHeader(): Buffer {
  const b = Buffer.alloc(RECORD_HEADER_BYTES + 2);
  b.writeUInt32LE(2, 0);
  b[RECORD_HEADER_BYTES] = RecordKind.Header;
  b[RECORD_HEADER_BYTES + 1] = WAL_FORMAT;
  b.writeUInt32LE(crc32(b, 0, RECORD_HEADER_BYTES), 4);
  return b;
}

// ---- reading ----

/** Thrown for a record whose body does not parse (its CRC matched: written by a different format or a bug). */
export class MalformedRecordError extends Error {}

class Reader extends ByteReader {
  constructor(b: Buffer, start: number, end: number) {
    super(b, start, end, () => new MalformedRecordError('record body ends early'));
  }
  str(): string {
    return this.view(this.u16()).toString('utf8');
  }
}

function readHardState(r: Reader): HardState {
  const term = r.f64();
  const commit = r.f64();
  return { term, vote: r.str(), commit };
}

function readSnapshot(r: Reader): StoredSnapshot {
  const s = unpack(r.view(r.u32())) as StoredSnapshot;
  const meta = { index: s.meta.index, term: s.meta.term, confState: { voters: [...s.meta.confState.voters], learners: [...s.meta.confState.learners] } };
  return { meta, ...(s.inline ? { inline: plain(s.inline) } : {}), ...(s.file ? { file: s.file } : {}), ...(s.dataCrc !== undefined ? { dataCrc: s.dataCrc, dataSize: s.dataSize } : {}) };
}

function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Entries of an `entries` block at `at` in `b`, as EncodedEntry views (bytes = term, type, data). */
function entryViews(b: Buffer, at: number, end = b.byteLength): { entries: EncodedEntry[]; end: number } {
  const r = new Reader(b, at, end);
  const first = r.f64();
  const count = r.u32();
  const entries: EncodedEntry[] = [];
  for (let i = 0; i < count; i++) {
    const len = r.u32();
    const bytes = r.view(ENTRY_HEADER - 4 + len);
    entries.push({ index: first + i, term: bytes.readDoubleLE(0), bytes });
  }
  return { entries, end: r.at };
}

/** The Entry an EncodedEntry of this format describes (its data is a view). */
export function walEntry(e: EncodedEntry): Entry {
  const b = e.bytes;
  if (e.data) return { index: e.index, term: e.term, type: b[8] as EntryType, data: e.data };
  return { index: e.index, term: e.term, type: b[8] as EntryType, data: new Uint8Array(b.buffer, b.byteOffset + 9, b.byteLength - 9) };
}

/** Parse a body whose CRC matched; `legacy`: a record of format 1 (see the top of this file). */
export function decodeRecord(b: Buffer, start: number, end: number, legacy = false): WalRecord {
  const r = new Reader(b, start, end);
  const kind = r.u8();
  if (kind === RecordKind.Header && !legacy) return { kind, format: r.u8() };
  let group = legacy ? '' : r.str();
  switch (kind) {
    case RecordKind.Base: {
      if (legacy) {
        const format = r.u8();
        if (format !== LEGACY_FORMAT) throw new MalformedRecordError(`WAL format ${format} in a per-group WAL, which only format ${LEGACY_FORMAT} had`);
        group = r.str();
      }
      const offset = { index: r.f64(), term: r.f64() };
      const hardState = readHardState(r);
      const snapshot = readSnapshot(r);
      const { entries } = entryViews(b, r.at, end);
      const last = entries[entries.length - 1];
      const state: LogState = { offset, hardState, snapshot, lastIndex: last?.index ?? offset.index, lastTerm: last?.term ?? offset.term };
      return { kind, group, state, entries };
    }
    case RecordKind.Save: {
      const flags = r.u8();
      const hardState = flags & HAS_HARD_STATE ? readHardState(r) : undefined;
      const snapshot = flags & HAS_SNAPSHOT ? readSnapshot(r) : undefined;
      const { entries } = entryViews(b, r.at, end);
      return { kind, group, op: { kind: 'save', entries, ...(hardState ? { hardState } : {}), ...(snapshot ? { snapshot } : {}) }, replacesCorrupt: (flags & REPLACES_CORRUPT) !== 0 };
    }
    case RecordKind.CreateSnapshot: {
      const index = r.f64();
      const rest = unpack(r.view(r.u32())) as { confState: ConfState; inline?: Uint8Array; file?: string; dataCrc?: number; dataSize?: number; replacesCorrupt?: boolean };
      return {
        kind,
        group,
        op: {
          kind: 'createSnapshot',
          index,
          confState: { voters: [...rest.confState.voters], learners: [...rest.confState.learners] },
          ...(rest.inline ? { inline: plain(rest.inline) } : {}),
          ...(rest.file ? { file: rest.file } : {}),
          ...(rest.dataCrc !== undefined ? { dataCrc: rest.dataCrc, dataSize: rest.dataSize } : {}),
        },
        replacesCorrupt: rest.replacesCorrupt === true,
      };
    }
    case RecordKind.Compact:
      if (legacy) break;
      return { kind, group, op: { kind: 'compact', index: r.f64() }, replacesCorrupt: false };
    case RecordKind.Drop:
      if (legacy) break;
      return { kind, group };
  }
  throw new MalformedRecordError(`unknown record kind ${kind}`);
}

export type ScanResult =
  | { ok: true; records: WalRecord[]; end: number }
  | { ok: false; records: WalRecord[]; end: number; problem: string; tail: boolean };

/**
 * Every record of a segment, stopping at the first that fails its length, checksum or parse.
 * `tail` says whether that damage can be a torn final write: the bad record runs to the end of the
 * file (or past it), or nothing but zero bytes follows its start. Anything else is damage inside
 * the log.
 */
export function scanSegment(b: Buffer, legacy = false): ScanResult {
  const records: WalRecord[] = [];
  let at = 0;
  while (at < b.byteLength) {
    const problem = recordProblem(b, at);
    if (problem) return { ok: false, records, end: at, problem: problem.what, tail: problem.tornWrite || zerosFrom(b, at) };
    const len = b.readUInt32LE(at);
    const bodyStart = at + RECORD_HEADER_BYTES;
    try {
      records.push(decodeRecord(b, bodyStart, bodyStart + len, legacy));
    } catch (err) {
      return { ok: false, records, end: at, problem: (err as Error).message, tail: false };
    }
    at = bodyStart + len;
  }
  return { ok: true, records, end: at };
}

function recordProblem(b: Buffer, at: number): { what: string; tornWrite: boolean } | undefined {
  if (b.byteLength - at < RECORD_HEADER_BYTES) return { what: `${b.byteLength - at} bytes, shorter than a record header`, tornWrite: true };
  const len = b.readUInt32LE(at);
  if (len === 0 || len > MAX_RECORD_BYTES) return { what: `record length ${len}`, tornWrite: false };
  const end = at + RECORD_HEADER_BYTES + len;
  if (end > b.byteLength) return { what: `record of ${len} bytes runs past the end of the file`, tornWrite: true };
  const stored = b.readUInt32LE(at + 4);
  const actual = crc32(b, 0, at + RECORD_HEADER_BYTES, end);
  if (stored !== actual) return { what: `checksum mismatch at byte ${at}`, tornWrite: end === b.byteLength };
  return undefined;
}

function zerosFrom(b: Buffer, at: number): boolean {
  for (let i = at; i < b.byteLength; i++) if (b[i] !== 0) return false;
  return true;
}

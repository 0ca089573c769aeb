// How the Raft log's records are laid out in LMDB, each with a CRC-32 so that bit rot or tampering
// is detected instead of being replicated, applied or voted on.
//
// Format 2 (this one; `[group, 'format']` = 2 in raft-meta says a group is written in it):
//   entry      value = u32 LE crc | f64 LE term | u8 type | data
//              crc = CRC-32(index as f64 LE ++ value[4..]): the index is covered too, so an entry
//              found under another key (a copy, a rotted key) fails as well
//   hardState  { term, vote, commit, crc }
//   offset     { index, term, crc }
//   snapshot   { meta, inline?, file?, dataCrc, dataSize, crc }: dataCrc/dataSize describe the data
//              wherever it is; crc covers meta, file, dataCrc and dataSize (not the inline bytes,
//              which dataCrc covers)
// Format 1 (groups without the marker) had entry = f64 term | u8 type | data and no checksums; it is
// rewritten in format 2 when such a group is opened (raft-log-open.ts).

import type { ConfState, Entry, EntryType, HardState } from '../raft/types.ts';
import { crc32, crc32OfFields } from './checksum.ts';
import type { EncodedEntry, StoredSnapshot } from './raft-log-state.ts';

export const LOG_FORMAT = 2;

/** The log or its meta records fail their checksums in a way that cannot be repaired by dropping an unacknowledged tail. */
export class CorruptLogError extends Error {
  constructor(
    readonly group: string,
    message: string,
  ) {
    super(message);
    this.name = 'CorruptLogError';
  }
}

/** The stored snapshot's data does not match its checksum: it must be replaced, never used. */
export class CorruptSnapshotError extends Error {
  constructor(
    readonly group: string,
    readonly index: number,
    readonly reason: string,
  ) {
    super(`snapshot data of raft group ${group} at index ${index} is corrupt (${reason}); it must be replaced from the state machine or a peer`);
    this.name = 'CorruptSnapshotError';
  }
}

// ---- entries ----

const CRC = 4;
const HEADER = CRC + 9;
const indexScratch = Buffer.alloc(8);

function entryCrc(index: number, value: Uint8Array): number {
  indexScratch.writeDoubleLE(index, 0);
  return crc32(value, crc32(indexScratch), CRC);
}

export function encodeEntry(e: Entry): EncodedEntry {
  const bytes = Buffer.allocUnsafe(HEADER + e.data.byteLength);
  bytes.writeDoubleLE(e.term, CRC);
  bytes[CRC + 8] = e.type;
  bytes.set(e.data, HEADER);
  bytes.writeUInt32LE(entryCrc(e.index, bytes), 0);
  return { index: e.index, term: e.term, bytes };
}

/** Why the stored value of entry `index` is not a valid entry, or undefined if it is one. */
export function entryProblem(index: number, b: Uint8Array): string | undefined {
  if (b.byteLength < HEADER) return `value is ${b.byteLength} bytes, shorter than an entry header`;
  const stored = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0; // no DataView: this runs for every entry read
  const actual = entryCrc(index, b);
  return stored === actual ? undefined : `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`;
}

/** Decode a stored entry, verifying its checksum: corrupt data must not reach followers or the state machine. */
export function decodeEntry(group: string, index: number, b: Uint8Array): Entry {
  const problem = entryProblem(index, b);
  if (problem) throw new CorruptLogError(group, `raft log of group ${group}: entry ${index} is corrupt: ${problem}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    term: view.getFloat64(CRC, true),
    index,
    type: b[CRC + 8] as EntryType,
    data: new Uint8Array(b.buffer, b.byteOffset + HEADER, b.byteLength - HEADER),
  };
}

/** An entry just encoded by encodeEntry, without verifying it again: its data is a view of `b`. */
export function entryView(index: number, b: Uint8Array): Entry {
  return {
    term: new DataView(b.buffer, b.byteOffset + CRC, 8).getFloat64(0, true),
    index,
    type: b[CRC + 8] as EntryType,
    data: new Uint8Array(b.buffer, b.byteOffset + HEADER, b.byteLength - HEADER),
  };
}

/**
 * The term alone, unverified: term() is on raft/'s hot path and reads 8 bytes, where verifying would
 * read the whole entry. Entries are verified at open (raft-log-open.ts) and whenever read in full.
 */
export function decodeEntryTerm(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset + CRC, 8).getFloat64(0, true);
}

/** A format 1 entry (f64 term | u8 type | data), re-encoded in format 2. */
export function upgradeEntry(index: number, b: Uint8Array): EncodedEntry {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const data = new Uint8Array(b.buffer, b.byteOffset + 9, b.byteLength - 9);
  return encodeEntry({ index, term: view.getFloat64(0, true), type: b[8] as EntryType, data });
}

// ---- meta records ----

const confFields = (c: ConfState) => [c.voters, c.learners];

export function sealHardState(hs: HardState): HardState & { crc: number } {
  return { term: hs.term, vote: hs.vote, commit: hs.commit, crc: crc32OfFields(['hs', hs.term, hs.vote, hs.commit]) };
}

export function sealOffset(o: { index: number; term: number }): { index: number; term: number; crc: number } {
  return { index: o.index, term: o.term, crc: crc32OfFields(['offset', o.index, o.term]) };
}

/** The record stored for a snapshot; `corrupt` (known in memory only) is not part of it. */
export function sealSnapshot(s: StoredSnapshot): StoredSnapshot & { crc: number } {
  const { index, term, confState } = s.meta;
  const dataCrc = s.dataCrc ?? 0;
  const dataSize = s.dataSize ?? 0;
  const crc = crc32OfFields(['snap', index, term, confFields(confState), s.file ?? null, dataCrc, dataSize]);
  return {
    meta: { index, term, confState: { voters: [...confState.voters], learners: [...confState.learners] } },
    ...(s.inline ? { inline: s.inline } : {}),
    ...(s.file ? { file: s.file } : {}),
    dataCrc,
    dataSize,
    crc,
  };
}

type Sealed = Record<string, unknown> & { crc?: unknown };

/** Check a stored meta record against its checksum; throws CorruptLogError (the record cannot be trusted). */
export function checkRecord(group: string, field: 'hardState' | 'offset' | 'snapshot', record: unknown): void {
  const r = record as Sealed | null;
  let expected: number | undefined;
  try {
    if (field === 'hardState') expected = sealHardState(r as unknown as HardState).crc;
    else if (field === 'offset') expected = sealOffset(r as unknown as { index: number; term: number }).crc;
    else expected = sealSnapshot(r as unknown as StoredSnapshot).crc;
  } catch {
    // A record too damaged to even read its fields.
  }
  if (typeof r?.crc !== 'number' || expected !== r.crc) {
    throw new CorruptLogError(
      group,
      `raft log of group ${group}: the ${field} record fails its checksum; this node's Raft state cannot be trusted ` +
        `and must be rebuilt from a peer (remove the node from the cluster and add it back with an empty data directory)`,
    );
  }
}

/** Why snapshot data does not match its record, or undefined if it does. */
export function snapshotDataProblem(s: StoredSnapshot, actual: { crc: number; size: number }): string | undefined {
  const size = s.dataSize ?? 0;
  const crc = s.dataCrc ?? 0;
  if (actual.size !== size) return `${actual.size} bytes, ${size} expected`;
  if (actual.crc !== crc) return `checksum mismatch (stored ${hex(crc)}, computed ${hex(actual.crc)})`;
  return undefined;
}

const hex = (n: number) => n.toString(16).padStart(8, '0');

// The image of a KV state machine, as exported for Raft snapshots: the 4 bytes 'CKV' 0x02, then a
// sequence of frames, each a 4-byte big-endian length, a 4-byte big-endian CRC-32 and a msgpack
// document. Length framing lets the importer accept chunks split anywhere (e.g. by a network
// stream), and the concatenation of all chunks is itself a valid image, which is what raft/ carries
// as Snapshot.data.
//
//   { format: 'concord-kv', version: 4, appliedIndex }        exactly once, first
//   { leases: [id, ttlMs, expiresAt, id, ...] }               at most once, second (lease-table.ts)
//   { stored: [lmdbKey, lmdbValue, lmdbKey, lmdbValue, ...] }  any number
//   { end: true, count }                                        exactly once, last (detects truncation)
//
// Version 4 carries the records as LMDB holds them (layout in kv-record.ts, which is therefore part
// of this format: a change there is a new version here), so that an export copies bytes instead of
// decoding and re-encoding every record: 10,000 records went from ~50 to ~20 ms of CPU, and a
// snapshot's export is CPU the leader's thread does not have (bench/README.md). The importer checks
// each record's layout and key (isStoredRecord) before it goes into LMDB as is.
//
// The CRCs are chained: a frame's is the CRC-32 of every document so far, its own included. A frame
// corrupted on disk or in transit fails its own check before it is decoded, and a frame dropped,
// repeated or reordered breaks the chain, so the end frame's CRC vouches for the whole image.
//
// Older versions are still read: images taken before, e.g. an older Raft snapshot or a backup file,
// must stay importable. Version 3 is version 4 without leases (no leases frame, no record naming one), and is
// still what a store without leases writes (kv-snapshot.ts), so that a node of the version before leases reads it.
// Version 2 had the same frames but decoded records,
//   { records: [[key, value, createRev, modRev, version, expiresAt | null], ...] }
// and version 1 had those without the magic, with 4-byte headers and no CRC. Its first byte is 0
// (the high byte of a small length), which 'C' never is.

import { Packr } from 'msgpackr';
import { crc32, crc32InSlices } from './checksum.ts';
import { packOutOfBand } from '../util/msgpack-out-of-band.ts';
import type { KvRecord } from './kv-record.ts';

export const FORMAT = 'concord-kv';
export const FORMAT_VERSION = 4;
export const READABLE_VERSIONS: readonly number[] = [1, 2, 3, 4];
const MAGIC = Buffer.from([0x43, 0x4b, 0x56, 0x02]);

/** The image fails its checksums: corrupted on disk or in transit; fetch it again. */
export class CorruptKvSnapshotError extends Error {
  override name = 'CorruptKvSnapshotError';
}

// Plain maps and Uint8Arrays only: images must be readable by any msgpack implementation.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** A record in a version 1 or 2 image. */
export type RecordTuple = [Uint8Array, Uint8Array, number, number, number, number | null];

export type Frame =
  | { format: string; version: number; appliedIndex: number }
  | { leases: number[] }
  | { stored: Uint8Array[] }
  | { records: RecordTuple[] }
  | { end: true; count: number };

/** Encodes one image's frames in order (the CRC chain runs through them); the first carries the magic. */
export class FrameEncoder {
  private chain = 0;
  private started = false;

  encode(frame: Frame): Uint8Array {
    const body = packr.pack(frame);
    const lead = this.started ? 0 : MAGIC.byteLength;
    this.started = true;
    this.chain = crc32(body, this.chain);
    const out = Buffer.allocUnsafe(lead + 8 + body.byteLength);
    MAGIC.copy(out, 0, 0, lead);
    out.writeUInt32BE(body.byteLength, lead);
    out.writeUInt32BE(this.chain, lead + 4);
    out.set(body, lead + 8);
    return out;
  }

  /**
   * encode(), as buffers whose concatenation is what it returns, without copying byte arrays of
   * LARGE_FIELD_BYTES or more (they are among the buffers) and checksumming them a slice per
   * event-loop turn. For records holding large values.
   */
  async encodeParts(frame: Frame): Promise<Uint8Array[]> {
    const body = packOutOfBand((v) => packr.pack(v), frame, LARGE_FIELD_BYTES);
    if (!body) return [this.encode(frame)];
    const lead = this.started ? 0 : MAGIC.byteLength;
    this.started = true;
    let length = 0;
    for (const b of body) {
      this.chain = await crc32InSlices(b, this.chain);
      length += b.byteLength;
    }
    const head = Buffer.allocUnsafe(lead + 8);
    MAGIC.copy(head, 0, 0, lead);
    head.writeUInt32BE(length, lead);
    head.writeUInt32BE(this.chain, lead + 4);
    return [head, ...body];
  }
}

/** Byte arrays from this size on are not copied into a frame by encodeParts(). */
export const LARGE_FIELD_BYTES = 1 << 20;

export function fromTuple(t: RecordTuple): KvRecord {
  if (!Array.isArray(t) || t.length !== 6 || !(t[0] instanceof Uint8Array) || !(t[1] instanceof Uint8Array)) {
    throw new Error('malformed record in KV snapshot');
  }
  const r: KvRecord = { key: t[0], value: t[1], createRevision: t[2], modRevision: t[3], version: t[4] };
  if (t[5] !== null) r.expiresAt = t[5];
  return r;
}

/**
 * Decode frames from chunks split at arbitrary byte boundaries, verifying each frame's CRC before
 * decoding it. Throws CorruptKvSnapshotError on a checksum failure.
 */
export async function* readFrames(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Frame> {
  // Chunks are only joined once a whole frame is there, so a 64 MiB value arriving in 64 KiB
  // pieces is copied once rather than once per piece.
  let parts: Uint8Array[] = [];
  let total = 0;
  let needed = 4;
  let header = 0; // bytes before a frame's document: 4 (version 1) or 8 (version 2); 0 until known
  let chain = 0;
  let frames = 0;
  for await (const chunk of chunks) {
    parts.push(chunk);
    total += chunk.byteLength;
    if (total < needed) continue;
    const buf = parts.length === 1 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat(parts, total);
    let at = 0;
    if (header === 0) {
      header = buf[0] === 0 ? 4 : 8;
      if (header === 8 && !buf.subarray(0, 4).equals(MAGIC)) throw new Error('not a Concord KV snapshot');
      if (header === 8) at = MAGIC.byteLength;
    }
    needed = header;
    while (buf.byteLength - at >= header) {
      const len = buf.readUInt32BE(at);
      if (buf.byteLength - at - header < len) {
        needed = header + len;
        break;
      }
      const body = buf.subarray(at + header, at + header + len);
      if (header === 8) {
        chain = crc32(body, chain);
        if (buf.readUInt32BE(at + 4) !== chain) {
          throw new CorruptKvSnapshotError(`KV snapshot frame ${frames} fails its checksum: the image is corrupt (or frames are missing or out of order)`);
        }
      }
      frames++;
      yield checkFrame(packr.unpack(body));
      at += header + len;
    }
    parts = at < buf.byteLength ? [buf.subarray(at)] : [];
    total = buf.byteLength - at;
  }
  if (total > 0) throw new Error('KV snapshot ends inside a frame');
}

function checkFrame(value: unknown): Frame {
  const ok =
    typeof value === 'object' &&
    value !== null &&
    (('format' in value && 'appliedIndex' in value) ||
      ('leases' in value && Array.isArray(value.leases)) ||
      ('stored' in value && Array.isArray(value.stored)) ||
      ('records' in value && Array.isArray(value.records)) ||
      ('end' in value && 'count' in value));
  if (!ok) throw new Error('malformed KV snapshot frame');
  return value as Frame;
}

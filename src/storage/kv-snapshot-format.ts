// The image of a KV state machine, as exported for Raft snapshots: a sequence of frames, each a
// 4-byte big-endian length followed by a msgpack document. Length framing lets the importer accept
// chunks split anywhere (e.g. by a network stream), and the concatenation of all chunks is itself
// a valid image, which is what raft/ carries as Snapshot.data.
//
//   { format: 'concord-kv', version: 1, appliedIndex }        exactly once, first
//   { records: [[key, value, createRev, modRev, version, expiresAt | null], ...] }   any number
//   { end: true, count }                                        exactly once, last (detects truncation)

import { Packr } from 'msgpackr';
import type { KvRecord } from './kv-record.ts';

export const FORMAT = 'concord-kv';
export const FORMAT_VERSION = 1;

// Plain maps and Uint8Arrays only: images must be readable by any msgpack implementation.
const packr = new Packr({ useRecords: false, moreTypes: false });

export type RecordTuple = [Uint8Array, Uint8Array, number, number, number, number | null];

export type Frame =
  | { format: string; version: number; appliedIndex: number }
  | { records: RecordTuple[] }
  | { end: true; count: number };

export function encodeFrame(frame: Frame): Uint8Array {
  const body = packr.pack(frame);
  const out = Buffer.allocUnsafe(4 + body.byteLength);
  out.writeUInt32BE(body.byteLength, 0);
  out.set(body, 4);
  return out;
}

export function toTuple(r: KvRecord): RecordTuple {
  return [r.key, r.value, r.createRevision, r.modRevision, r.version, r.expiresAt ?? null];
}

export function fromTuple(t: RecordTuple): KvRecord {
  if (!Array.isArray(t) || t.length !== 6 || !(t[0] instanceof Uint8Array) || !(t[1] instanceof Uint8Array)) {
    throw new Error('malformed record in KV snapshot');
  }
  const r: KvRecord = { key: t[0], value: t[1], createRevision: t[2], modRevision: t[3], version: t[4] };
  if (t[5] !== null) r.expiresAt = t[5];
  return r;
}

/** Decode frames from chunks split at arbitrary byte boundaries. */
export async function* readFrames(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Frame> {
  // Chunks are only joined once a whole frame is there, so a 64 MiB value arriving in 64 KiB
  // pieces is copied once rather than once per piece.
  let parts: Uint8Array[] = [];
  let total = 0;
  let needed = 4;
  for await (const chunk of chunks) {
    parts.push(chunk);
    total += chunk.byteLength;
    if (total < needed) continue;
    const buf = parts.length === 1 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat(parts, total);
    let at = 0;
    needed = 4;
    while (buf.byteLength - at >= 4) {
      const len = buf.readUInt32BE(at);
      if (buf.byteLength - at - 4 < len) {
        needed = 4 + len;
        break;
      }
      yield checkFrame(packr.unpack(buf.subarray(at + 4, at + 4 + len)));
      at += 4 + len;
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
    (('format' in value && 'appliedIndex' in value) || ('records' in value && Array.isArray(value.records)) || ('end' in value && 'count' in value));
  if (!ok) throw new Error('malformed KV snapshot frame');
  return value as Frame;
}

// How KV keys and records are laid out in LMDB.
//
// Keys: LMDB keys are at most 1978 bytes with lmdb-js's build (4026 with 8 KiB pages, its ceiling),
// but Concord keys may be up to 8 KiB. A key of at most DIRECT_KEY_MAX bytes is stored as itself; a
// longer key is stored as its first DIRECT_KEY_MAX bytes followed by its SHA-256, and the full key
// is kept in the record. Byte order is preserved except among long keys that share their first
// DIRECT_KEY_MAX bytes (those sort by hash); range() re-sorts such runs, so listings stay exactly
// ordered at the cost of buffering a run. Both constants are part of the on-disk format.

import { createHash } from 'node:crypto';

/** Keys the node itself keeps in a group's state (the metadata group's shard count and map): never evicted. */
export const RESERVED_KEY_PREFIX = '\u0000concord:';

export const MAX_KEY_BYTES = 8192;
export const DIRECT_KEY_MAX = 1900;
const HASH_BYTES = 32;
export const HASHED_KEY_BYTES = DIRECT_KEY_MAX + HASH_BYTES;

export interface KvRecord {
  key: Uint8Array;
  /** Empty when listed with keysOnly. */
  value: Uint8Array;
  /** Revision (Raft index) of the put that created the key since it last did not exist. */
  createRevision: number;
  /** Revision of the last put. */
  modRevision: number;
  /** Number of puts since creation: 1 after the first. */
  version: number;
  /** Milliseconds since the epoch after which the key is to be treated as absent (enforced by the caller). */
  expiresAt?: number;
  /** The lease the key is attached to (lease-table.ts): revoking or expiring it deletes the key. */
  lease?: number;
}

export function checkKey(key: Uint8Array): void {
  if (key.byteLength === 0) throw new RangeError('empty key');
  if (key.byteLength > MAX_KEY_BYTES) throw new RangeError(`key of ${key.byteLength} bytes exceeds ${MAX_KEY_BYTES}`);
}

/** The LMDB key for `key`: always a fresh copy, so later changes to the caller's buffer cannot reach LMDB. */
export function storedKey(key: Uint8Array): Buffer {
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (k.byteLength <= DIRECT_KEY_MAX) return Buffer.from(k);
  const hash = createHash('sha256').update(k).digest();
  return Buffer.concat([k.subarray(0, DIRECT_KEY_MAX), hash]);
}

export function isHashedKey(stored: Uint8Array): boolean {
  return stored.byteLength === HASHED_KEY_BYTES;
}

/**
 * Bounds in stored-key space that hold every stored key of a key in [lo, hi): a long key is stored under its
 * first DIRECT_KEY_MAX bytes and a hash, so the bounds are cut there (and widened past every such key at hi).
 */
export function storedBounds(lo: Uint8Array | undefined, hi: Uint8Array | undefined): { start?: Buffer; end?: Buffer } {
  const storedLo = lo && (lo.byteLength <= DIRECT_KEY_MAX ? lo : lo.subarray(0, DIRECT_KEY_MAX));
  const storedHi = hi && (hi.byteLength <= DIRECT_KEY_MAX ? hi : prefixEnd(hi.subarray(0, DIRECT_KEY_MAX)));
  return {
    ...(storedLo ? { start: Buffer.from(storedLo.buffer, storedLo.byteOffset, storedLo.byteLength) } : {}),
    ...(storedHi ? { end: Buffer.from(storedHi.buffer, storedHi.byteOffset, storedHi.byteLength) } : {}),
  };
}

/** The smallest key greater than every key starting with `prefix`; undefined if there is none. */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  let n = prefix.byteLength;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return undefined;
  const end = Uint8Array.from(prefix.subarray(0, n));
  end[n - 1]++;
  return end;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

// Record layout: u8 flags | f64 createRevision | f64 modRevision | f64 version
//   | f64 expiresAt (if FLAG_EXPIRES) | f64 lease (if FLAG_LEASE) | u32 key length + key (if FLAG_FULL_KEY) | value bytes.
const FLAG_EXPIRES = 1;
const FLAG_FULL_KEY = 2;
const FLAG_LEASE = 4;
const FIXED = 25;

export function encodeRecord(r: KvRecord, withFullKey: boolean): Buffer {
  const { bytes, valueAt } = encodeRecordHead(r, withFullKey);
  bytes.set(r.value, valueAt);
  return bytes;
}

/**
 * A record's buffer with everything but the value written; the value belongs at `valueAt`, to the
 * end. For a caller that copies a large value in pieces (kv-store.ts).
 */
export function encodeRecordHead(r: KvRecord, withFullKey: boolean): { bytes: Buffer; valueAt: number } {
  const expires = r.expiresAt !== undefined;
  const leased = r.lease !== undefined;
  const size = FIXED + (expires ? 8 : 0) + (leased ? 8 : 0) + (withFullKey ? 4 + r.key.byteLength : 0) + r.value.byteLength;
  const b = Buffer.allocUnsafe(size);
  b[0] = (expires ? FLAG_EXPIRES : 0) | (withFullKey ? FLAG_FULL_KEY : 0) | (leased ? FLAG_LEASE : 0);
  b.writeDoubleLE(r.createRevision, 1);
  b.writeDoubleLE(r.modRevision, 9);
  b.writeDoubleLE(r.version, 17);
  let at = FIXED;
  if (expires) {
    b.writeDoubleLE(r.expiresAt!, at);
    at += 8;
  }
  if (leased) {
    b.writeDoubleLE(r.lease!, at);
    at += 8;
  }
  if (withFullKey) {
    b.writeUInt32LE(r.key.byteLength, at);
    b.set(r.key, at + 4);
    at += 4 + r.key.byteLength;
  }
  return { bytes: b, valueAt: at };
}

/** Where the value starts in a record's bytes `b`. */
export function valueOffset(b: Uint8Array): number {
  const flags = b[0];
  let at = FIXED + (flags & FLAG_EXPIRES ? 8 : 0) + (flags & FLAG_LEASE ? 8 : 0);
  if (flags & FLAG_FULL_KEY) at += 4 + new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
  return at;
}

/** Decode a record read under `stored`; the value is a view into `b`, which must not be reused. */
export function decodeRecord(stored: Uint8Array, b: Uint8Array, keysOnly = false): KvRecord {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const flags = b[0];
  let at = FIXED;
  let expiresAt: number | undefined;
  if (flags & FLAG_EXPIRES) {
    expiresAt = view.getFloat64(at, true);
    at += 8;
  }
  let lease: number | undefined;
  if (flags & FLAG_LEASE) {
    lease = view.getFloat64(at, true);
    at += 8;
  }
  let key: Uint8Array;
  if (flags & FLAG_FULL_KEY) {
    const len = view.getUint32(at, true);
    key = new Uint8Array(b.buffer, b.byteOffset + at + 4, len);
    // Listing keys only must not keep a large value alive through a view of its buffer.
    if (keysOnly) key = Uint8Array.from(key);
    at += 4 + len;
  } else {
    key = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
  }
  const record: KvRecord = {
    key,
    value: keysOnly ? new Uint8Array(0) : new Uint8Array(b.buffer, b.byteOffset + at, b.byteLength - at),
    createRevision: view.getFloat64(1, true),
    modRevision: view.getFloat64(9, true),
    version: view.getFloat64(17, true),
  };
  if (expiresAt !== undefined) record.expiresAt = expiresAt;
  if (lease !== undefined) record.lease = lease;
  return record;
}

/**
 * Whether `b` is a record as encodeRecord writes it and `stored` the LMDB key it belongs under: what
 * an image (kv-snapshot-format.ts, version 3 or later) must hold before its records go into LMDB unchanged.
 * The image's checksums catch damage; this catches a well-formed image with records no node wrote.
 */
export function isStoredRecord(stored: Uint8Array, b: Uint8Array): boolean {
  if (b.byteLength < FIXED || (b[0] & ~(FLAG_EXPIRES | FLAG_FULL_KEY | FLAG_LEASE)) !== 0) return false;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const counts = [view.getFloat64(1, true), view.getFloat64(9, true), view.getFloat64(17, true)];
  if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0)) return false;
  let at = FIXED;
  if (b[0] & FLAG_EXPIRES) {
    if (b.byteLength < at + 8 || !Number.isFinite(view.getFloat64(at, true))) return false;
    at += 8;
  }
  if (b[0] & FLAG_LEASE) {
    if (b.byteLength < at + 8 || !isLeaseId(view.getFloat64(at, true))) return false;
    at += 8;
  }
  if (!(b[0] & FLAG_FULL_KEY)) return stored.byteLength > 0 && stored.byteLength <= DIRECT_KEY_MAX;
  if (b.byteLength < at + 4) return false;
  const len = view.getUint32(at, true);
  if (len <= DIRECT_KEY_MAX || len > MAX_KEY_BYTES || b.byteLength < at + 4 + len) return false;
  return storedKey(b.subarray(at + 4, at + 4 + len)).equals(stored);
}

/** Lease ids are 1 to 2^53 - 1: numbers that JSON carries exactly. */
export function isLeaseId(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
}

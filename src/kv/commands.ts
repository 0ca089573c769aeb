// Write commands as they travel in the Raft log. Each carries the id of the request that proposed it
// (node id + sequence), so the node that proposed it can answer its client when it applies the entry.
// Preconditions are evaluated at apply time, identically on every replica.
//
// Encoding (every node encodes or decodes each command once per write, so it is a fixed binary
// layout rather than msgpack: 1.3 -> ~0.3 µs to encode a put, ~1.3 -> ~0.2 µs to decode it):
//
//   u8 0xc1 (a byte msgpack never uses) | u8 version 1 | str node | f64 seq | u8 kind | kind's fields
//   put    u8 flags (1 ifMatch, 2 ifNoneMatch, 4 expiresAt, 8 ttl, 16 lease) | [f64 ifMatch] | [f64 expiresAt]
//          | [f64 ttlMs | f64 now] | [f64 lease] | bytes key | bytes value
//   del    u8 flags (1 ifMatch) | [f64 ifMatch] | bytes key
//   batch  u32 count | count × (u8 kind: 1 put, 2 del, 3 put with a TTL, 4 put with a lease | bytes key | [bytes value]
//          for a put | [f64 ttlMs | f64 now] for a put with a TTL | [f64 lease] for a put with a lease)
//   clock  f64 now
//   grant  f64 lease | f64 ttlMs | f64 now;   keepalive  f64 lease | f64 now;   revoke  f64 lease;   promote  f64 now
//   evict  u32 count × (bytes key | f64 revision)
//   txn    u32 count × compare (u8 target | u8 result | bytes key | bytes value, or f64 number) |
//          u32 count × op (u8 kind: 1 get, 2 put, 3 del, 4 del of a range, 5 put with a lease | bytes key | [bytes value]
//          for a put | [bytes end] for a del of a range | [f64 lease] for a put with a lease) for success, then failure
//   (expiresAt, an absolute wall-clock time, is what earlier versions wrote for a TTL; it is still applied.)
//   str    u8 length | UTF-8;   bytes  u32 length | the bytes
//
// Entries written by Concord 0.1 are msgpack maps and still decode.

import { Packr } from 'msgpackr';
import { ByteReader, ByteWriter } from '../util/byte-cursor.ts';
import { copyInSlices } from '../util/sliced-work.ts';
import type { TxnCompare, TxnOp, TxnOpResult, TxnRequest } from './types.ts';
import { TXN_OPS, TXN_RESULTS, TXN_TARGETS } from './txn.ts';

export type Command =
  | { t: 'put'; key: Uint8Array; value: Uint8Array; ifMatch?: number; ifNoneMatch?: boolean; expiresAt?: number; ttl?: Timed & { ms: number }; lease?: number }
  | { t: 'del'; key: Uint8Array; ifMatch?: number }
  | ({ t: 'clock' } & Timed)
  | { t: 'batch'; ops: Array<{ t: 'put'; key: Uint8Array; value: Uint8Array; ttl?: Timed & { ms: number }; lease?: number } | { t: 'del'; key: Uint8Array }> }
  | ({ t: 'grant'; lease: number; ms: number } & Timed)
  | ({ t: 'keepalive'; lease: number } & Timed)
  | { t: 'revoke'; lease: number }
  | ({ t: 'promote' } & Timed)
  | ({ t: 'txn' } & TxnRequest)
  | { t: 'evict'; keys: Array<{ key: Uint8Array; revision: number }> };

/** A timed entry's stamp: the proposer's estimate of the log's time (storage/log-clock.ts), in ms. */
export interface Timed {
  now: number;
}

export interface Envelope {
  /** Proposing node. */
  n: string;
  /** Request sequence on that node. */
  s: number;
  c: Command;
}

export type CommandResult =
  | { ok: true; revision: number; deleted?: number; txn?: { succeeded: boolean; results: TxnOpResult[] }; ttlMs?: number }
  | { ok: false; reason: 'precondition-failed' | 'not-found' | 'exists'; revision: number };

const MARKER = 0xc1;
const VERSION = 1;
const KIND = { put: 1, del: 2, batch: 3, clock: 4, txn: 5, evict: 6, grant: 7, keepalive: 8, revoke: 9, promote: 10 } as const;
/** A batch's put with a TTL, and with a lease (a batch's other ops are KIND.put and KIND.del). */
const BATCH_PUT_TTL = 3;
const BATCH_PUT_LEASE = 4;
/** A transaction's delete of a range, and put with a lease (its other ops are their index in TXN_OPS, plus one). */
const TXN_DELETE_RANGE = 4;
const TXN_PUT_LEASE = 5;
const IF_MATCH = 1;
const IF_NONE_MATCH = 2;
const EXPIRES = 4;
const TTL = 8;
const LEASE = 16;

/** The 0.1 format, read only. */
const legacy = new Packr({ useRecords: false, moreTypes: false });

export function encodeCommand(env: Envelope): Uint8Array {
  const { b } = encode(env, false);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * encodeCommand for a put of a large value, without holding the event loop: the value is copied into
 * the command a slice per event-loop turn (copying 64 MiB into fresh memory at once would delay Raft's
 * heartbeats). The sequence number is known only when the command is proposed: `withSeq` writes it
 * in and returns the command.
 */
export async function encodeLargePut(n: string, c: Extract<Command, { t: 'put' }>): Promise<(s: number) => Uint8Array> {
  const { b, valueAt } = encode({ n, s: 0, c }, true);
  await copyInSlices(c.value, b, valueAt);
  const seqAt = 3 + Buffer.byteLength(n, 'utf8');
  return (s) => {
    b.writeDoubleLE(s, seqAt);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  };
}

/** The command's bytes; with `deferValue`, a put's value is left for the caller to copy in at `valueAt`. */
function encode(env: Envelope, deferValue: boolean): { b: Buffer; valueAt: number } {
  const node = Buffer.from(env.n, 'utf8');
  if (node.byteLength > 255) throw new RangeError(`node id of ${node.byteLength} bytes is too long`);
  const c = env.c;
  let size = 2 + 1 + node.byteLength + 8 + 1;
  switch (c.t) {
    case 'put':
      size += 1 + (c.ifMatch !== undefined ? 8 : 0) + (c.expiresAt !== undefined ? 8 : 0) + (c.ttl !== undefined ? 16 : 0) + (c.lease !== undefined ? 8 : 0) + 8 + c.key.byteLength + c.value.byteLength;
      break;
    case 'clock':
    case 'revoke':
    case 'promote':
      size += 8;
      break;
    case 'keepalive':
      size += 16;
      break;
    case 'grant':
      size += 24;
      break;
    case 'txn':
      size += txnSize(c);
      break;
    case 'evict':
      size += 4;
      for (const e of c.keys) size += 4 + e.key.byteLength + 8;
      break;
    case 'del':
      size += 1 + (c.ifMatch !== undefined ? 8 : 0) + 4 + c.key.byteLength;
      break;
    case 'batch':
      size += 4;
      for (const op of c.ops) size += 1 + 4 + op.key.byteLength + (op.t === 'put' ? 4 + op.value.byteLength + (op.ttl ? 16 : 0) + (op.lease !== undefined ? 8 : 0) : 0);
      break;
  }
  const w = new ByteWriter(Buffer.allocUnsafe(size));
  let valueAt = -1;
  w.u8(MARKER);
  w.u8(VERSION);
  w.u8(node.byteLength);
  w.bytes(node);
  w.f64(env.s);
  w.u8(KIND[c.t]);
  switch (c.t) {
    case 'put':
      w.u8((c.ifMatch !== undefined ? IF_MATCH : 0) | (c.ifNoneMatch ? IF_NONE_MATCH : 0) | (c.expiresAt !== undefined ? EXPIRES : 0) | (c.ttl !== undefined ? TTL : 0) | (c.lease !== undefined ? LEASE : 0));
      if (c.ifMatch !== undefined) w.f64(c.ifMatch);
      if (c.expiresAt !== undefined) w.f64(c.expiresAt);
      if (c.ttl !== undefined) {
        w.f64(c.ttl.ms);
        w.f64(c.ttl.now);
      }
      if (c.lease !== undefined) w.f64(c.lease);
      putBytes(w, c.key);
      if (deferValue) {
        w.u32(c.value.byteLength);
        valueAt = w.at;
        w.at += c.value.byteLength;
      } else putBytes(w, c.value);
      break;
    case 'del':
      w.u8(c.ifMatch !== undefined ? IF_MATCH : 0);
      if (c.ifMatch !== undefined) w.f64(c.ifMatch);
      putBytes(w, c.key);
      break;
    case 'clock':
    case 'promote':
      w.f64(c.now);
      break;
    case 'grant':
      w.f64(c.lease);
      w.f64(c.ms);
      w.f64(c.now);
      break;
    case 'keepalive':
      w.f64(c.lease);
      w.f64(c.now);
      break;
    case 'revoke':
      w.f64(c.lease);
      break;
    case 'txn':
      writeTxn(w, c);
      break;
    case 'evict':
      w.u32(c.keys.length);
      for (const e of c.keys) {
        putBytes(w, e.key);
        w.f64(e.revision);
      }
      break;
    case 'batch':
      w.u32(c.ops.length);
      for (const op of c.ops) {
        if (op.t === 'put' && op.ttl && op.lease !== undefined) throw new RangeError('a put has a TTL or a lease, not both');
        w.u8(op.t === 'put' && op.ttl ? BATCH_PUT_TTL : op.t === 'put' && op.lease !== undefined ? BATCH_PUT_LEASE : KIND[op.t]);
        putBytes(w, op.key);
        if (op.t !== 'put') continue;
        putBytes(w, op.value);
        if (op.ttl) {
          w.f64(op.ttl.ms);
          w.f64(op.ttl.now);
        }
        if (op.lease !== undefined) w.f64(op.lease);
      }
      break;
  }
  return { b: w.b, valueAt };
}

/** Decode a command; keys and values are views of `data`. Throws on anything malformed. */
export function decodeCommand(data: Uint8Array): Envelope {
  if (data[0] !== MARKER) return legacy.unpack(data) as Envelope;
  const r = new ByteReader(Buffer.from(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, () => new Error('command ends early'));
  r.u8();
  const version = r.u8();
  if (version !== VERSION) throw new Error(`command format version ${version} is not known to this version`);
  const n = r.view(r.u8()).toString('utf8');
  const s = r.f64();
  const kind = r.u8();
  let c: Command;
  if (kind === KIND.put) {
    const flags = r.u8();
    const ifMatch = flags & IF_MATCH ? r.f64() : undefined;
    const expiresAt = flags & EXPIRES ? r.f64() : undefined;
    const ttl = flags & TTL ? { ms: r.f64(), now: r.f64() } : undefined;
    const lease = flags & LEASE ? r.f64() : undefined;
    const key = readBytes(r);
    const value = readBytes(r);
    c = { t: 'put', key, value, ...(ifMatch !== undefined ? { ifMatch } : {}), ...(flags & IF_NONE_MATCH ? { ifNoneMatch: true } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}), ...(ttl ? { ttl } : {}), ...(lease !== undefined ? { lease } : {}) };
  } else if (kind === KIND.del) {
    const flags = r.u8();
    const ifMatch = flags & IF_MATCH ? r.f64() : undefined;
    c = { t: 'del', key: readBytes(r), ...(ifMatch !== undefined ? { ifMatch } : {}) };
  } else if (kind === KIND.clock) {
    c = { t: 'clock', now: r.f64() };
  } else if (kind === KIND.grant) {
    c = { t: 'grant', lease: r.f64(), ms: r.f64(), now: r.f64() };
  } else if (kind === KIND.keepalive) {
    c = { t: 'keepalive', lease: r.f64(), now: r.f64() };
  } else if (kind === KIND.revoke) {
    c = { t: 'revoke', lease: r.f64() };
  } else if (kind === KIND.promote) {
    c = { t: 'promote', now: r.f64() };
  } else if (kind === KIND.evict) {
    const keys: Array<{ key: Uint8Array; revision: number }> = [];
    for (let n = r.u32(); n > 0; n--) keys.push({ key: readBytes(r), revision: r.f64() });
    c = { t: 'evict', keys };
  } else if (kind === KIND.txn) {
    c = { t: 'txn', compare: readCompares(r), success: readTxnOps(r), failure: readTxnOps(r) };
  } else if (kind === KIND.batch) {
    const count = r.u32();
    const ops: Extract<Command, { t: 'batch' }>['ops'] = [];
    for (let i = 0; i < count; i++) {
      const t = r.u8();
      if (t === KIND.put) ops.push({ t: 'put', key: readBytes(r), value: readBytes(r) });
      else if (t === BATCH_PUT_TTL) ops.push({ t: 'put', key: readBytes(r), value: readBytes(r), ttl: { ms: r.f64(), now: r.f64() } });
      else if (t === BATCH_PUT_LEASE) ops.push({ t: 'put', key: readBytes(r), value: readBytes(r), lease: r.f64() });
      else if (t === KIND.del) ops.push({ t: 'del', key: readBytes(r) });
      else throw new Error(`unknown batch operation ${t}`);
    }
    c = { t: 'batch', ops };
  } else {
    throw new Error(`unknown command kind ${kind}`);
  }
  if (r.at !== r.end) throw new Error('trailing bytes after the command');
  return { n, s, c };
}

// A transaction's parts: a compare's target, result and an op's kind as their index in TXN_TARGETS,
// TXN_RESULTS and TXN_OPS (plus one for the op); the operand by the target: bytes for the value, else f64.

/** The index of `v` in `list`; throws for anything else (what is written must decode). */
function code<T>(list: readonly T[], v: T, what: string): number {
  const i = list.indexOf(v);
  if (i < 0) throw new RangeError(`unknown ${what} ${String(v)}`);
  return i;
}

function operandBytes(cmp: TxnCompare): Uint8Array | number {
  if ((cmp.target === 'value') !== cmp.operand instanceof Uint8Array) throw new RangeError(`compare on ${cmp.target}: wrong kind of operand`);
  return cmp.operand;
}

function txnSize(c: TxnRequest): number {
  let size = 12;
  for (const cmp of c.compare) {
    const operand = operandBytes(cmp);
    size += 2 + 4 + cmp.key.byteLength + (typeof operand === 'number' ? 8 : 4 + operand.byteLength);
  }
  for (const op of [...c.success, ...c.failure]) {
    size += 1 + 4 + op.key.byteLength + (op.op === 'put' ? 4 + op.value.byteLength + (op.lease !== undefined ? 8 : 0) : 0) + (op.op === 'delete' && op.end ? 4 + op.end.byteLength : 0);
  }
  return size;
}

function writeTxn(w: ByteWriter, c: TxnRequest): void {
  w.u32(c.compare.length);
  for (const cmp of c.compare) {
    w.u8(code(TXN_TARGETS, cmp.target, 'compare target'));
    w.u8(code(TXN_RESULTS, cmp.result, 'compare result'));
    putBytes(w, cmp.key);
    const operand = operandBytes(cmp);
    if (typeof operand === 'number') w.f64(operand);
    else putBytes(w, operand);
  }
  for (const ops of [c.success, c.failure]) {
    w.u32(ops.length);
    for (const op of ops) {
      const range = op.op === 'delete' && op.end !== undefined;
      const leased = op.op === 'put' && op.lease !== undefined;
      w.u8(range ? TXN_DELETE_RANGE : leased ? TXN_PUT_LEASE : code(TXN_OPS, op.op, 'transaction operation') + 1);
      putBytes(w, op.key);
      if (op.op === 'put') putBytes(w, op.value);
      if (op.op === 'put' && op.lease !== undefined) w.f64(op.lease);
      if (op.op === 'delete' && op.end !== undefined) putBytes(w, op.end);
    }
  }
}

function readCompares(r: ByteReader): TxnCompare[] {
  const out: TxnCompare[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const target = TXN_TARGETS[r.u8()];
    const result = TXN_RESULTS[r.u8()];
    if (target === undefined || result === undefined) throw new Error('unknown compare');
    const key = readBytes(r);
    out.push({ key, target, result, operand: target === 'value' ? readBytes(r) : r.f64() });
  }
  return out;
}

function readTxnOps(r: ByteReader): TxnOp[] {
  const out: TxnOp[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const kind = r.u8();
    const key = readBytes(r);
    if (kind === TXN_DELETE_RANGE) {
      out.push({ op: 'delete', key, end: readBytes(r) });
      continue;
    }
    if (kind === TXN_PUT_LEASE) {
      out.push({ op: 'put', key, value: readBytes(r), lease: r.f64() });
      continue;
    }
    const op = TXN_OPS[kind - 1];
    if (op === undefined) throw new Error('unknown transaction operation');
    out.push(op === 'put' ? { op, key, value: readBytes(r) } : { op, key });
  }
  return out;
}

/** A byte string: u32 length, then the bytes. */
function putBytes(w: ByteWriter, v: Uint8Array): void {
  w.u32(v.byteLength);
  w.bytes(v);
}

/** A byte string as a plain Uint8Array view of the command. */
function readBytes(r: ByteReader): Uint8Array {
  const v = r.view(r.u32());
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// What an applied entry sees and does: reads of the records it replaces, and its writes, buffered so
// that a throwing entry leaves nothing behind (KvStore applies them, kv-store.ts).

import type { Database } from 'lmdb';
import { checkKey, compareBytes, decodeRecord, encodeRecord, encodeRecordHead, isHashedKey, storedBounds, storedKey, valueOffset, type KvRecord } from './kv-record.ts';
import { copyInSlices } from '../util/sliced-work.ts';
import type { ExpiryIndex } from './expiry-index.ts';
import type { LeaseState, LeaseTable } from './lease-table.ts';
import { priorOf, type Change } from './history.ts';

export type DataDb = Database<Buffer, Buffer>;

export interface PutOptions {
  expiresAt?: number;
  /** Attach the key to this lease (which the caller has checked exists); absent: the key is attached to none. */
  lease?: number;
}

/** What an applied entry may do; reads see the entry's own earlier writes. */
export interface KvTx {
  /** The revision being applied (the Raft index). */
  readonly revision: number;
  get(key: Uint8Array): KvRecord | undefined;
  put(key: Uint8Array, value: Uint8Array, options?: PutOptions): KvRecord;
  /** Returns whether the key existed. */
  delete(key: Uint8Array): boolean;
  /** Takes the keys whose records may have expired by `t` (candidates: check each record's expiresAt). */
  takeDue(t: number): Uint8Array[];
  /** A lease, as this entry's own earlier writes left it. */
  lease(id: number): LeaseState | undefined;
  /** Writes a lease; undefined removes it (its keys are the caller's to delete first). */
  setLease(id: number, lease: LeaseState | undefined): void;
  /** The keys that may name lease `id`, in key order (candidates: check each record's lease). */
  leaseKeys(id: number): Uint8Array[];
  /** Takes the leases that may have expired by `t`, by id (candidates: check each lease's expiresAt). */
  takeDueLeases(t: number): number[];
  /** Every lease's id, in order. */
  leaseIds(): number[];
  /** The keys present in [start, end) (an empty `end`: every key from `start` on), in key order. */
  rangeKeys(start: Uint8Array, end: Uint8Array): Uint8Array[];
}


export function readRecord(db: DataDb, key: Uint8Array): KvRecord | undefined {
  checkKey(key);
  const sk = storedKey(key);
  const b = db.getBinary(sk);
  return b ? recordOf(sk, key, b) : undefined;
}

/** The record stored under `sk` for `key`, from bytes that stay as they are. */
function recordOf(sk: Buffer, key: Uint8Array, b: Uint8Array, keysOnly = false): KvRecord | undefined {
  const r = decodeRecord(sk, b, keysOnly);
  // A hashed key could only collide through SHA-256; check anyway rather than return a stranger's value.
  return isHashedKey(sk) && Buffer.compare(r.key, key) !== 0 ? undefined : r;
}

/**
 * The record under `key` as an apply reads it to check and replace it: as readRecord, except that a
 * large value (LARGE_VALUE_BYTES) is read only if `value` is asked for. LMDB hands a large value out
 * as a view of its map, and getBinary copies it into fresh memory in one step; an apply needs only
 * the revisions.
 */
export function readPriorRecord(db: DataDb, key: Uint8Array): KvRecord | undefined {
  checkKey(key);
  const sk = storedKey(key);
  // lmdb-js's own buffer, reused by its next read (or, for a large value, a view of the map); the value's
  // bytes are its first `length` (lmdb-js sets that property), not its byteLength.
  const b = db.getBinaryFast(sk);
  if (!b) return undefined;
  if (b.length < LARGE_VALUE_BYTES) return recordOf(sk, key, Uint8Array.prototype.slice.call(b, 0, b.length));
  const viewed = recordOf(sk, key, b, true); // the key is copied or our own: nothing keeps the view
  if (!viewed) return undefined;
  const r: KvRecord = { ...viewed };
  Object.defineProperty(r, 'value', { enumerable: true, get: () => readRecord(db, key)?.value ?? new Uint8Array(0) });
  unreadValueBytes.set(r, b.length - valueOffset(b));
  return r;
}

/** The value sizes of records from readPriorRecord whose value is read only when asked for. */
const unreadValueBytes = new WeakMap<KvRecord, number>();

function valueBytesOf(r: KvRecord): number {
  return unreadValueBytes.get(r) ?? r.value.byteLength;
}

/**
 * Records written by a batch of entries so far, by key (latin1); null for a deletion. `bulk`: keys
 * whose last write was part of a bulk write.
 */
export type WrittenRecords = Map<string, KvRecord | null> & { bulk?: Set<string> };

/**
 * An entry writing more keys than this is a bulk load, not a working set: caching its keys cost a
 * 1M-key load (batches of 5,000) ~100 MiB more RSS per node in churned cache entries.
 */
export const BULK_WRITE_KEYS = 64;

/** Values from this size on are applied without blocking the event loop on them (applyAllAsync). */
export const LARGE_VALUE_BYTES = 1 << 20;

/** Buffers an entry's writes so that a throwing entry leaves no partial state behind. */
export class BufferedTx implements KvTx {
  /**
   * By key (latin1), created at the first write: most entries write one key and read it only before.
   * `prior`: the record before this entry's first write of the key.
   */
  private writes: Map<string, { sk: Buffer; bytes: Buffer | null; record: KvRecord | null; prior: KvRecord | undefined }> | undefined;

  /** Leases written by this entry, by id; undefined for a removal. */
  private leaseWrites: Map<number, LeaseState | undefined> | undefined;
  private leasesPublished = false;

  /** Large values still to be copied into their records (fillLargeValues). */
  private unfilled: Array<{ into: Buffer; at: number; value: Uint8Array }> | undefined;

  constructor(
    private readonly db: DataDb,
    readonly revision: number,
    /** Reads of what this entry has not written itself; default LMDB. */
    private readonly readPrior: (key: Uint8Array, k: string) => KvRecord | undefined = (key) => readPriorRecord(db, key),
    /** Leave large values out of their records until fillLargeValues() (which must come before writeTo()). */
    private readonly deferLarge = false,
    /** Where records written with an expiry are noted, and due ones found. */
    private readonly expiries?: ExpiryIndex,
    /** The group's leases (absent: an entry touching a lease throws). */
    private readonly leases?: LeaseTable,
    /**
     * The writes of the batch's earlier entries when they are not in LMDB's transaction yet (applyAllAsync
     * writes a batch only after running all its entries): what rangeKeys() adds to LMDB's keys.
     */
    private readonly batch?: WrittenRecords,
  ) {}

  /**
   * The last key read that this entry had not written, and what it held: a command checks the record
   * (preconditions) and put()/delete() then read it again, which must not cost a second lookup.
   */
  private priorKey: string | undefined;
  private priorRecord: KvRecord | undefined;

  get(key: Uint8Array): KvRecord | undefined {
    checkKey(key);
    return this.lookup(key, mapKey(key));
  }

  /** get() of a checked key whose map key `k` is known. */
  private lookup(key: Uint8Array, k: string): KvRecord | undefined {
    const w = this.writes?.get(k);
    if (w) return w.record ?? undefined;
    if (k !== this.priorKey) {
      this.priorRecord = this.readPrior(key, k);
      this.priorKey = k;
    }
    return this.priorRecord;
  }

  put(key: Uint8Array, value: Uint8Array, options: PutOptions = {}): KvRecord {
    checkKey(key);
    const k = mapKey(key);
    const prev = this.lookup(key, k);
    const sk = storedKey(key);
    const fields: KvRecord = {
      key,
      value,
      createRevision: prev ? prev.createRevision : this.revision,
      modRevision: this.revision,
      version: prev ? prev.version + 1 : 1,
    };
    if (options.expiresAt !== undefined) {
      fields.expiresAt = options.expiresAt;
      this.expiries?.add(key, options.expiresAt);
    }
    if (prev?.lease !== undefined && prev.lease !== options.lease) this.leaseTable().detach(prev.lease, key);
    if (options.lease !== undefined) {
      fields.lease = options.lease;
      this.leaseTable().attach(options.lease, key);
    }
    // Encode now: it is the one copy we need, and later changes to the caller's buffers cannot leak in
    // (a large value deferred is copied before the entry's writes reach LMDB or a read).
    let bytes: Buffer;
    if (this.deferLarge && value.byteLength >= LARGE_VALUE_BYTES) {
      const head = encodeRecordHead(fields, isHashedKey(sk));
      bytes = head.bytes;
      (this.unfilled ??= []).push({ into: bytes, at: head.valueAt, value });
    } else bytes = encodeRecord(fields, isHashedKey(sk));
    // The record as a later read would see it: key and value are views of the copies just made.
    const record: KvRecord = { ...fields, key: isHashedKey(sk) ? Uint8Array.from(key) : new Uint8Array(sk.buffer, sk.byteOffset, sk.byteLength), value: new Uint8Array(bytes.buffer, bytes.byteOffset + bytes.byteLength - value.byteLength, value.byteLength) };
    this.noteWrite(k, sk, bytes, record, prev);
    return record;
  }

  delete(key: Uint8Array): boolean {
    checkKey(key);
    const k = mapKey(key);
    const prev = this.lookup(key, k);
    if (!prev) return false;
    if (prev.lease !== undefined) this.leaseTable().detach(prev.lease, key);
    this.noteWrite(k, storedKey(key), null, null, prev);
    return true;
  }

  private noteWrite(k: string, sk: Buffer, bytes: Buffer | null, record: KvRecord | null, current: KvRecord | undefined): void {
    const writes = (this.writes ??= new Map());
    const earlier = writes.get(k);
    writes.set(k, { sk, bytes, record, prior: earlier ? earlier.prior : current });
  }

  /** What this entry changed, one change per key written (its last write), for the history (history.ts). */
  changes(): Change[] {
    const out: Change[] = [];
    if (!this.writes) return out;
    for (const { record, prior } of this.writes.values()) {
      const prev = prior && priorOf(prior, valueBytesOf(prior), LARGE_VALUE_BYTES);
      if (record === null) {
        // A key this entry created and then deleted changed nothing.
        if (prior && prev) out.push({ kind: 'delete', key: prior.key, valueBytes: 0, createRevision: 0, version: 0, prev });
        continue;
      }
      const valueBytes = record.value.byteLength;
      const change: Change = { kind: 'put', key: record.key, valueBytes, createRevision: record.createRevision, version: record.version };
      if (record.lease !== undefined) change.lease = record.lease;
      if (valueBytes < LARGE_VALUE_BYTES) change.value = record.value;
      if (prev) change.prev = prev;
      out.push(change);
    }
    return out;
  }

  takeDue(t: number): Uint8Array[] {
    return this.expiries?.takeDue(t) ?? [];
  }

  lease(id: number): LeaseState | undefined {
    const w = this.leaseWrites;
    return w?.has(id) ? w.get(id) : this.leaseTable().get(id);
  }

  setLease(id: number, lease: LeaseState | undefined): void {
    (this.leaseWrites ??= new Map()).set(id, lease);
  }

  leaseKeys(id: number): Uint8Array[] {
    return this.leaseTable().keysOf(id);
  }

  takeDueLeases(t: number): number[] {
    return this.leaseTable().takeDue(t);
  }

  rangeKeys(start: Uint8Array, end: Uint8Array): Uint8Array[] {
    const hi = end.byteLength > 0 ? end : undefined;
    if (hi && compareBytes(start, hi) >= 0) return [];
    const inRange = (key: Uint8Array) => compareBytes(key, start) >= 0 && (!hi || compareBytes(key, hi) < 0);
    const found = new Map<string, Uint8Array>();
    for (const { key, value } of this.db.getRange(storedBounds(start, hi))) {
      const r = decodeRecord(key, value, true);
      if (inRange(r.key)) found.set(mapKey(r.key), Uint8Array.from(r.key));
    }
    // Written in this batch or entry and not in LMDB yet: candidates too (whether each is there now, lookup says).
    for (const [k, record] of this.batch ?? []) if (record && inRange(record.key)) found.set(k, record.key);
    for (const [k, { record }] of this.writes ?? []) if (record && inRange(record.key)) found.set(k, record.key);
    return [...found.values()].filter((key) => this.lookup(key, mapKey(key)) !== undefined).sort(compareBytes);
  }

  leaseIds(): number[] {
    const ids = new Set(this.leaseTable().ids());
    for (const [id, lease] of this.leaseWrites ?? []) {
      if (lease) ids.add(id);
      else ids.delete(id);
    }
    return [...ids].sort((a, b) => a - b);
  }

  /**
   * Makes this entry's lease writes what the entries after it read (the lease table, not LMDB, is what they
   * read): writeTo() does it too, but a batch applied asynchronously runs all its entries before any writeTo.
   */
  publishLeases(): void {
    if (!this.leaseWrites || this.leasesPublished) return;
    for (const [id, lease] of this.leaseWrites) this.leases!.set(id, lease);
    this.leasesPublished = true;
  }

  private leaseTable(): LeaseTable {
    if (!this.leases) throw new Error('this store keeps no leases');
    return this.leases;
  }

  /** Copies the deferred large values into their records, a slice per event-loop turn. */
  async fillLargeValues(): Promise<void> {
    for (const u of this.unfilled ?? []) await copyInSlices(u.value, u.into, u.at);
    this.unfilled = undefined;
  }

  writeCount(): number {
    return this.writes?.size ?? 0;
  }

  /** Every key this entry wrote (latin1), with its new record or null for a deletion. */
  *writtenRecords(): Iterable<[string, KvRecord | null]> {
    if (!this.writes) return;
    for (const [k, w] of this.writes) yield [k, w.record];
  }

  writeTo(db: DataDb): void {
    this.publishLeases();
    if (this.leaseWrites) for (const [id, lease] of this.leaseWrites) this.leases!.persist(id, lease);
    if (!this.writes) return;
    for (const { sk, bytes } of this.writes.values()) {
      if (bytes) void db.put(sk, bytes);
      else void db.remove(sk);
    }
  }
}

export function mapKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

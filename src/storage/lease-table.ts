// A group's leases: each an id, a TTL and an expiry on the log clock (log-clock.ts), in an LMDB database per
// generation of the group's state beside its records (`lease:<group>:<generation>`), and in memory. A key
// attached to a lease names it in its record (kv-record.ts); which keys name a lease is kept here in memory,
// filled from the store's scan of its records at open and import, and kept up by every applied write that
// attaches or detaches a key. A revoke checks each such key against its record, so only a missing one would
// matter. Lease expiries are candidates in an ExpiryIndex of their own (by id), which the clock entry's sweep
// takes as it takes the records' (state-machine.ts).

import type { Database, RootDatabase } from 'lmdb';
import { ExpiryIndex } from './expiry-index.ts';
import { compareBytes, isLeaseId } from './kv-record.ts';
import { mapKey } from './kv-tx.ts';

/** A lease as the group keeps it. */
export interface LeaseState {
  /** The TTL it was granted with, which each keep-alive renews. */
  ttlMs: number;
  /** When it expires, in ms of the log clock. */
  expiresAt: number;
}

export type LeaseDb = Database<[number, number], number>;

/** The name of a group's lease database is this and its generation. */
export function leaseDbPrefix(group: string): string {
  return `lease:${group}:`;
}

function leaseDbName(group: string, generation: number): string {
  return leaseDbPrefix(group) + generation;
}

export function openLeaseDb(root: RootDatabase, group: string, generation: number): LeaseDb {
  return root.openDB<[number, number], number>(leaseDbName(group, generation), {});
}

/** The flat [id, ttlMs, expiresAt, ...] of a snapshot image's leases frame, checked; throws if malformed. */
export function leasesOfFrame(flat: unknown): Array<[number, LeaseState]> {
  if (!Array.isArray(flat) || flat.length % 3 !== 0) throw new Error('malformed leases in KV snapshot');
  const out: Array<[number, LeaseState]> = [];
  for (let i = 0; i < flat.length; i += 3) {
    const [id, ttlMs, expiresAt] = flat.slice(i, i + 3) as unknown[];
    // A TTL is whole seconds (in ms): the front ends report it in seconds, as integers.
    if (!isLeaseId(id) || !isLeaseId(ttlMs) || ttlMs % 1000 !== 0 || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      throw new Error('malformed lease in KV snapshot');
    }
    out.push([id, { ttlMs, expiresAt }]);
  }
  return out;
}

/** A lease id as the expiry index's key. */
function idKey(id: number): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleBE(id);
  return b;
}

export class LeaseTable {
  private readonly leases = new Map<number, LeaseState>();
  /** By lease, the keys whose records name it (latin1 key -> key); perhaps a few more after a failed apply. */
  private readonly attached = new Map<number, Map<string, Uint8Array>>();
  /** The leases' expiries, soonest first (keys: idKey). */
  readonly expiries = new ExpiryIndex();

  constructor(private db: LeaseDb) {
    this.load();
  }

  get size(): number {
    return this.leases.size;
  }

  get(id: number): LeaseState | undefined {
    return this.leases.get(id);
  }

  /** Sets (or, with undefined, removes) a lease here, where the entries applied after it read it. */
  set(id: number, lease: LeaseState | undefined): void {
    if (lease) {
      this.leases.set(id, lease);
      this.expiries.add(idKey(id), lease.expiresAt);
    } else {
      this.leases.delete(id);
      this.attached.delete(id);
      // A revoked lease's expiry must not bring a clock entry about.
      this.expiries.forget(idKey(id));
    }
  }

  /** Writes what set() set into the open transaction. */
  persist(id: number, lease: LeaseState | undefined): void {
    if (lease) void this.db.put(id, [lease.ttlMs, lease.expiresAt]);
    else void this.db.remove(id);
  }

  /** Every lease's id, in order. */
  ids(): number[] {
    return [...this.leases.keys()].sort((a, b) => a - b);
  }

  /** A record of `key` names lease `id`. */
  attach(id: number, key: Uint8Array): void {
    let keys = this.attached.get(id);
    if (!keys) this.attached.set(id, (keys = new Map()));
    keys.set(mapKey(key), Uint8Array.from(key));
  }

  /** The record of `key` no longer names lease `id`. */
  detach(id: number, key: Uint8Array): void {
    const keys = this.attached.get(id);
    if (!keys) return;
    keys.delete(mapKey(key));
    if (keys.size === 0) this.attached.delete(id);
  }

  /** The keys whose records name lease `id`, in key order (check each against its record). */
  keysOf(id: number): Uint8Array[] {
    return [...(this.attached.get(id)?.values() ?? [])].sort(compareBytes);
  }

  /** Removes and returns the leases whose newest expiry is at or before `t`, by id. */
  takeDue(t: number): number[] {
    return this.expiries
      .takeDue(t)
      .map((k) => Buffer.from(k.buffer, k.byteOffset, k.byteLength).readDoubleBE(0))
      .sort((a, b) => a - b);
  }

  /** Every lease (a snapshot's, a listing's), by id. */
  all(): Array<[number, LeaseState]> {
    return [...this.leases].sort((a, b) => a[0] - b[0]);
  }

  /** Switches to another generation's database (a snapshot import): leases from it, no keys until attach(). */
  reset(db: LeaseDb): void {
    this.db = db;
    this.load();
  }

  /** Forgets everything here (the store closed); the database is left as it is. */
  clear(): void {
    this.leases.clear();
    this.attached.clear();
    this.expiries.clear();
  }

  private load(): void {
    this.clear();
    for (const { key, value } of this.db.getRange({})) {
      const lease = { ttlMs: value[0], expiresAt: value[1] };
      this.leases.set(key, lease);
      this.expiries.add(idKey(key), lease.expiresAt);
    }
  }
}

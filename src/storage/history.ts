// A group's recent history: every applied revision that changed keys, with each change's kind, new record
// and previous record, in revision order. Watch reads it (src/kv/watch-hub.ts). Kept in LMDB beside the
// records, written in the transaction that applies the revisions, so it survives restarts and agrees with
// the records; every replica keeps the same changes at the same revisions. One database entry per applying
// transaction (a Raft host applies a batch of entries in one), keyed by its last revision with changes and
// holding each of its revisions that changed something: one write per batch, not per revision, since an
// entry per revision cost about as much as applying the put itself.
//
// Bounded by a window: revisions older than the newest `maxRevisions`, and the oldest entries while the
// history holds more than `maxBytes` (encoded), are removed in the applying transactions themselves, a
// step once the history is COMPACT_SLACK revisions (or bytes' worth) past its bound — online, in small
// steps. `floor` is the oldest revision whose changes are all here: every revision from it to the applied
// index is complete (one missing from the database changed nothing). A snapshot import starts a new
// history, whose floor is the revision after the image (the image carries no history).
//
// Values of LARGE_VALUE_BYTES and more are not kept (the change says how big they were): history would
// otherwise copy 64 MiB values twice per write.

import type { Database, RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';
import type { KvRecord } from './kv-record.ts';

export interface PriorRecord {
  /** Undefined when the value is not kept (LARGE_VALUE_BYTES or more). */
  value?: Uint8Array;
  valueBytes: number;
  createRevision: number;
  modRevision: number;
  version: number;
}

export interface Change {
  kind: 'put' | 'delete';
  key: Uint8Array;
  /** A put's new value; undefined when it is not kept (LARGE_VALUE_BYTES or more). */
  value?: Uint8Array;
  /** A put's value size (0 for a delete). */
  valueBytes: number;
  /** A put's new record's (0 for a delete). */
  createRevision: number;
  version: number;
  /** The record the change replaced (absent for a put that created the key). */
  prev?: PriorRecord;
  /** The lease a put attached the key to. */
  lease?: number;
}

export interface RevisionChanges {
  revision: number;
  changes: Change[];
}

export interface HistoryLimits {
  /** Keep at least the newest this many revisions (older ones are removed). */
  maxRevisions: number;
  /** Remove the oldest entries while the history's encoded entries take more than this (but the newest few). */
  maxBytes: number;
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = { maxRevisions: 100_000, maxBytes: 256 << 20 };

/** Entries removed per applying transaction at most: compaction keeps up, since each adds one. */
const COMPACT_STEP = 64;
/**
 * How far past its window the history may go before a compaction step (an eighth of the window, at most 256
 * revisions or 256 KiB): a step then removes many revisions' entries at once.
 */
const COMPACT_SLACK = 256;

/** What KvMeta keeps of a history: its floor and its bytes. */
export type HistoryMeta = [floor: number, bytes: number];

const packr = new Packr({ useRecords: false, moreTypes: false });

/** The history database of a group's generation (a new generation, a new history). */
export function historyDbName(group: string, generation: number): string {
  return `hist:${group}:${generation}`;
}

export class History {
  private readonly db: Database<Buffer, number>;
  private floorRev: number;
  private bytes: number;

  constructor(
    root: RootDatabase,
    group: string,
    generation: number,
    /** KvMeta's record of this history, or undefined: then only revisions after `applied` count as kept. */
    meta: HistoryMeta | undefined,
    applied: number,
    private readonly limits: HistoryLimits,
  ) {
    this.db = root.openDB<Buffer, number>(historyDbName(group, generation), { encoding: 'binary' });
    [this.floorRev, this.bytes] = meta ?? [applied + 1, 0];
  }

  get floor(): number {
    return this.floorRev;
  }

  /** What KvMeta keeps (written with the applied index, in the same transaction). */
  meta(): HistoryMeta {
    return [this.floorRev, this.bytes];
  }

  drop(): Promise<void> {
    return this.db.drop();
  }

  dropSync(): void {
    this.db.dropSync();
  }

  /** Records revisions' changes (ascending, each with some); call inside the write transaction that applies them. */
  record(revisions: readonly RevisionChanges[]): void {
    const last = revisions.at(-1);
    if (last === undefined) return;
    const bytes = packr.pack(revisions.map((r): RevisionTuple => [r.revision, r.changes.map(changeTuple)]));
    void this.db.put(last.revision, bytes);
    this.bytes += bytes.byteLength;
  }

  /**
   * Removes up to COMPACT_STEP entries outside the window after `applied`: older than its last maxRevisions,
   * or, while the history is over maxBytes, the oldest — but never the entries of its newest `slack` revisions,
   * so a transaction larger than the byte bound still reaches the watches. Call inside a write transaction.
   */
  compact(applied: number): void {
    const keepFrom = applied - this.limits.maxRevisions + 1;
    const slack = Math.min(COMPACT_SLACK, Math.ceil(this.limits.maxRevisions / 8));
    const byteSlack = Math.min(COMPACT_SLACK * 1024, Math.ceil(this.limits.maxBytes / 8));
    if (keepFrom - this.floorRev < slack && this.bytes <= this.limits.maxBytes + byteSlack) return;
    const doomed: number[] = [];
    let bytes = this.bytes;
    let reachedKept = false;
    for (const { key, value } of this.db.getRange({ limit: COMPACT_STEP })) {
      // The byte bound never takes the newest revisions' entries: a feed reading them now would find them gone.
      if (key >= keepFrom && (bytes <= this.limits.maxBytes || key > applied - slack)) {
        reachedKept = true;
        break;
      }
      doomed.push(key);
      bytes -= value.byteLength;
    }
    for (const key of doomed) void this.db.remove(key);
    this.bytes = bytes;
    const last = doomed.at(-1);
    if (last !== undefined) this.floorRev = Math.max(this.floorRev, last + 1);
    // Every entry before keepFrom is gone once the scan met one to keep or ran out of entries.
    if (reachedKept || doomed.length < COMPACT_STEP) this.floorRev = Math.max(this.floorRev, keepFrom);
  }

  /**
   * The changes of revisions from `from` to `to` in order, stopping after the entry that takes the page past
   * `maxBytes` (encoded). `to`: the last revision to look at (the applied index). Whether the page ended
   * early is told by `last`: the last revision looked at, `to` unless it stopped at the byte bound.
   */
  read(from: number, to: number, maxBytes: number): { revisions: RevisionChanges[]; last: number } {
    const revisions: RevisionChanges[] = [];
    let bytes = 0;
    // An entry is keyed by its last revision: the first with a key from `from` on may hold `from` itself.
    for (const { key, value } of this.db.getRange({ start: from })) {
      for (const [revision, changes] of packr.unpack(value) as RevisionTuple[]) {
        if (revision > to) return { revisions, last: to };
        if (revision >= from) revisions.push({ revision, changes: changes.map(changeOf) });
      }
      bytes += value.byteLength;
      if (bytes >= maxBytes && key < to) return { revisions, last: key };
    }
    return { revisions, last: to };
  }
}

/** A database entry holds [revision, its changes] for each revision of its applying transaction that changed keys. */
type RevisionTuple = [number, ChangeTuple[]];

/**
 * A change as stored: [kind, key, value | null, valueBytes, createRevision, version, prev | null, lease?], kind
 * 0 put / 1 delete; the lease only when a put names one (entries written before leases have seven elements).
 */
type ChangeTuple = [number, Uint8Array, Uint8Array | null, number, number, number, PriorTuple | null, number?];
type PriorTuple = [Uint8Array | null, number, number, number, number];

function changeTuple(c: Change): ChangeTuple {
  const p = c.prev;
  const t: ChangeTuple = [c.kind === 'put' ? 0 : 1, c.key, c.value ?? null, c.valueBytes, c.createRevision, c.version, p ? [p.value ?? null, p.valueBytes, p.createRevision, p.modRevision, p.version] : null];
  if (c.lease !== undefined) t.push(c.lease);
  return t;
}

function changeOf(t: ChangeTuple): Change {
  const c: Change = { kind: t[0] === 0 ? 'put' : 'delete', key: t[1], valueBytes: t[3], createRevision: t[4], version: t[5] };
  if (t[2] !== null) c.value = t[2];
  const p = t[6];
  if (p) c.prev = { valueBytes: p[1], createRevision: p[2], modRevision: p[3], version: p[4], ...(p[0] !== null ? { value: p[0] } : {}) };
  if (t[7] !== undefined) c.lease = t[7];
  return c;
}

/** The record `r` as a change's prior record, its value kept if smaller than `largeBytes`. */
export function priorOf(r: KvRecord, valueBytes: number, largeBytes: number): PriorRecord {
  const p: PriorRecord = { valueBytes, createRevision: r.createRevision, modRevision: r.modRevision, version: r.version };
  if (valueBytes < largeBytes) p.value = r.value;
  return p;
}

// The KV state machine of one Raft group in LMDB. Every applied Raft entry runs in the same LMDB
// transaction as the update of `appliedIndex`, so an entry's effects are applied exactly once across
// crashes: either both are on disk, or neither and the entry is re-applied from the log. Commits are
// not fsynced (openKvEnv); flush() makes them durable, and os-crash-guard.ts covers an OS crash.
//
// Layout in the environment (shared by groups, see openKvEnv): 'kv-meta' maps group -> KvMeta, and
// the group's records live in the named database `kv:<group>:<generation>`, its leases in
// `lease:<group>:<generation>` (lease-table.ts), its history in `hist:<group>:<generation>`. A snapshot import
// fills a fresh generation and switches to it in one transaction, so the old state stays intact and
// readable until the new one is complete.

import type { Database, RootDatabase } from 'lmdb';
import { KV_ENV_MAX_DBS, openKvEnv, syncEnv } from './lmdb-env.ts';
import { KvEnv } from './kv-env.ts';
import { assertGroupId } from './group-id.ts';
import { claimUnsyncedDir, currentBootId, releaseUnsyncedDir } from './os-crash-guard.ts';
import { checkKey, compareBytes, decodeRecord, DIRECT_KEY_MAX, isHashedKey, prefixEnd, storedBounds, valueOffset, type KvRecord } from './kv-record.ts';
import { exportImage, imageOf, importImage, joined, type KvSnapshotExport } from './kv-snapshot.ts';
import { ExportWorker } from './kv-export-worker.ts';
import { crc32 } from './checksum.ts';
import { ReadCache, type CacheStats } from './read-cache.ts';
import { ExpiryIndex } from './expiry-index.ts';
import { LogClock } from './log-clock.ts';
import { LeaseTable, leaseDbPrefix, openLeaseDb } from './lease-table.ts';
import { WriteOrder, type WrittenKey } from './write-order.ts';
import { DEFAULT_HISTORY_LIMITS, History, historyDbName, type HistoryLimits, type HistoryMeta, type RevisionChanges } from './history.ts';
import { BufferedTx, BULK_WRITE_KEYS, LARGE_VALUE_BYTES, mapKey, readPriorRecord, readRecord, type DataDb, type KvTx, type WrittenRecords } from './kv-tx.ts';

export type { KvRecord } from './kv-record.ts';
export type { KvTx, PutOptions } from './kv-tx.ts';
export type { LeaseState } from './lease-table.ts';
export { LARGE_VALUE_BYTES } from './kv-tx.ts';
export type { KvSnapshotExport } from './kv-snapshot.ts';
export type { Change, HistoryLimits, PriorRecord, RevisionChanges } from './history.ts';
export { CorruptKvSnapshotError } from './kv-snapshot-format.ts';

export interface KvStoreOptions {
  /**
   * The node's environment, shared by its groups (kv-env.ts; its owner guards it against OS crashes and
   * closes it), an environment from openKvEnv, or a path to open one of its own at (guarded by
   * os-crash-guard.ts, closed by close()).
   */
  env: KvEnv | RootDatabase | string;
  group: string;
  /** The boot this process runs in (os-crash-guard.ts); tests pass another to act out an OS crash. */
  bootId?: string;
  /** Bytes of records (and of "absent" answers) kept in the read cache; 0 turns it off. Default 16 MiB. */
  cacheBytes?: number;
  /** Keep `writeOrder` (cache mode: the leader evicts the least recently written keys). */
  trackWrites?: boolean;
  /** The window of history kept (history.ts); default DEFAULT_HISTORY_LIMITS. */
  history?: HistoryLimits;
}

/** A page of history (readHistory). */
export interface HistoryPage {
  revisions: RevisionChanges[];
  /** The last revision the page covers: every revision from `from` to it is in the page or changed nothing. */
  last: number;
}

/**
 * What a cached record costs beyond its key and value bytes, for the byte bound: the record object,
 * the typed-array views of its key and value, the buffers under them, the latin1 key string, the slot
 * and two map entries. Measured: 200k cached records with 9-byte keys and 100-byte values took 751
 * bytes each of heap and external memory (160 here before made --cache-bytes 64 MiB hold ~190 MiB).
 */
const CACHED_RECORD_OVERHEAD = 640;

export interface RangeQuery {
  /** Inclusive lower bound. */
  start?: Uint8Array;
  /** Exclusive upper bound. */
  end?: Uint8Array;
  /** Only keys starting with these bytes (intersected with start/end). */
  prefix?: Uint8Array;
  /** At most this many items (0 or absent: no limit). */
  limit?: number;
  keysOnly?: boolean;
  /**
   * Stop before the item that would take the page's key and value bytes past this (default
   * RANGE_PAGE_BYTES). The first item always comes, so every record can be listed.
   */
  maxBytes?: number;
}

/**
 * The bytes of keys and values one range() page holds by default. Without a bound, a page of
 * `limit` large values (10,000 of 64 MiB) would be read into memory whole, and a front end could
 * not encode it (V8 strings stop at ~512 Mi characters; JSON escapes a byte into up to 6).
 */
export const RANGE_PAGE_BYTES = 64 * 1024 * 1024;

export interface RangeResult {
  items: KvRecord[];
  /** Whether more keys matched beyond the page (its `limit` or its bytes). */
  more: boolean;
}

/** Persisted per group. `importing`/`dropping` name generations to clean up after a crash. */
export interface KvMeta {
  generation: number;
  appliedIndex: number;
  importing?: number;
  dropping?: number;
  /** The log clock's estimate and this node's wall time when it was written (log-clock.ts). */
  clock?: [number, number];
  /** The history's floor and bytes (history.ts). */
  history?: HistoryMeta;
}

type Outcome<T> = { skipped: true } | { result: T } | { error: unknown };

export class KvStore {
  readonly group: string;
  private readonly root: RootDatabase;
  private readonly meta: Database<KvMeta, string>;
  private data: DataDb;
  private generation: number;
  /** Applied index as of the last callback run inside a write transaction. */
  private txApplied: number;
  private applied: number;
  private durable: number;
  private importing = false;
  private failure: Error | undefined;
  private closed = false;
  get isClosed(): boolean {
    return this.closed;
  }
  private lastWrite: Promise<unknown> = Promise.resolve();
  /** Reads the records of exportSnapshotParts() off the event loop: the KvEnv's, or one of an own environment's. */
  private readonly exporter: (() => ExportWorker) | undefined;
  private ownExporter: ExportWorker | undefined;
  /** The directory of an environment this store opened itself (and guards). */
  private readonly ownDir: string | undefined;
  /** True if the files were discarded at open because the OS went down while they were open. */
  readonly discardedAfterOsCrash: boolean = false;
  /**
   * Point reads, by key (latin1), with null for "absent": in step with what reads of LMDB return,
   * because every applied write updates a cached key after its transaction commits, and an import
   * clears it. Listings read LMDB.
   */
  private readonly cache: ReadCache<KvRecord | null> | undefined;
  /**
   * The keys of applyAllAsync's write while lmdb-js commits it: out of the cache, and not cached by a
   * read meanwhile (see there).
   */
  private committing: WrittenRecords | undefined;
  /** The records that carry an expiry, soonest first (what timed entries sweep). */
  readonly expiries = new ExpiryIndex();
  /** The log's time as the timed entries applied here tell it (log-clock.ts). */
  readonly clock = new LogClock();
  /** The group's leases (lease-table.ts). */
  readonly leases: LeaseTable;
  /** With trackWrites: the keys from the least recently written on (write-order.ts). */
  readonly writeOrder: WriteOrder | undefined;
  private history: History;
  private readonly historyLimits: HistoryLimits;
  /** Who waits for the applied index to pass a revision (waitApplied). */
  private appliedWaiters = new Set<{ after: number; wake: () => void }>();

  constructor(options: KvStoreOptions) {
    assertGroupId(options.group);
    this.group = options.group;
    if (typeof options.env === 'string') {
      const dir = (this.ownDir = options.env);
      this.discardedAfterOsCrash = claimUnsyncedDir(options.env, options.bootId ?? currentBootId());
      this.root = openKvEnv(options.env);
      this.exporter = () => (this.ownExporter ??= new ExportWorker({ path: dir, ...EXPORTER }));
    } else if (options.env instanceof KvEnv) {
      const env = options.env;
      this.discardedAfterOsCrash = env.discardedAfterOsCrash;
      this.root = env.root;
      this.exporter = () => env.exporter(EXPORTER);
    } else this.root = options.env;
    this.meta = this.root.openDB<KvMeta, string>('kv-meta', {});
    const meta = this.recoverMeta();
    this.generation = meta.generation;
    this.data = this.openGeneration(meta.generation);
    this.leases = new LeaseTable(openLeaseDb(this.root, this.group, meta.generation));
    this.applied = this.txApplied = this.durable = meta.appliedIndex;
    if (meta.clock) this.clock.restore(...meta.clock);
    this.historyLimits = options.history ?? DEFAULT_HISTORY_LIMITS;
    this.history = new History(this.root, this.group, meta.generation, meta.history, meta.appliedIndex, this.historyLimits);
    if (options.trackWrites) this.writeOrder = new WriteOrder();
    this.indexRecords(this.data);
    const cacheBytes = options.cacheBytes ?? 16 << 20;
    if (cacheBytes > 0) this.cache = new ReadCache(cacheBytes);
  }

  // ---- reads (of committed state) ----

  get(key: Uint8Array): KvRecord | undefined {
    this.assertOpen();
    if (!this.cache) return readRecord(this.data, key);
    checkKey(key);
    const k = mapKey(key);
    const cached = this.cache.get(k);
    if (cached !== undefined) return cached ?? undefined;
    const r = readRecord(this.data, key);
    if (!this.committing?.has(k)) {
      const kept = r ? compactRecord(r) : null;
      this.cache.set(k, kept, cachedBytes(k, kept));
    }
    return r;
  }

  /** The keys attached to lease `id`, in key order. */
  leaseKeys(id: number): Uint8Array[] {
    this.assertOpen();
    return this.leases.keysOf(id).filter((key) => this.get(key)?.lease === id);
  }

  /** The soonest expiry of a record or a lease, in ms of the log clock; undefined if none has one (or the store is closed). */
  nextExpiry(): number | undefined {
    const a = this.expiries.next();
    const b = this.leases.expiries.next();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  /** Keys held (expired ones not yet removed included) and the bytes of the pages holding them, from LMDB's own counts. */
  size(): { keys: number; bytes: number } {
    const st = this.data.getStats() as { entryCount: number; pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    return { keys: st.entryCount, bytes: st.pageSize * (st.treeBranchPageCount + st.treeLeafPageCount + st.overflowPages) };
  }

  /** Hits, misses and size of the read cache (all zero when it is off). */
  cacheStats(): CacheStats {
    return this.cache?.stats() ?? { hits: 0, misses: 0, entries: 0, bytes: 0, capacityBytes: 0 };
  }

  range(q: RangeQuery = {}): RangeResult {
    this.assertOpen();
    let lo = q.start && q.start.byteLength > 0 ? q.start : undefined;
    let hi = q.end && q.end.byteLength > 0 ? q.end : undefined;
    if (q.prefix && q.prefix.byteLength > 0) {
      if (!lo || compareBytes(q.prefix, lo) > 0) lo = q.prefix;
      const pe = prefixEnd(q.prefix);
      if (pe && (!hi || compareBytes(pe, hi) < 0)) hi = pe;
    }
    const limit = q.limit && q.limit > 0 ? q.limit : Infinity;
    const maxBytes = q.maxBytes ?? RANGE_PAGE_BYTES;
    let bytes = 0;
    const items: KvRecord[] = [];
    if (lo && hi && compareBytes(lo, hi) >= 0) return { items, more: false };
    let more = false;
    let run: KvRecord[] = [];
    // Emit records in key order; returns false once the listing is complete. `r` may be decoded
    // without its value: `full` then reads the whole record, once it is known to go into the page.
    const emit = (r: KvRecord, full: () => KvRecord | undefined = () => r): boolean => {
      if (lo && compareBytes(r.key, lo) < 0) return true;
      if (hi && compareBytes(r.key, hi) >= 0) return false;
      if (items.length === limit) {
        more = true;
        return false;
      }
      const record = full();
      if (record === undefined) return true;
      const size = record.key.byteLength + record.value.byteLength;
      if (items.length > 0 && bytes + size > maxBytes) {
        more = true;
        return false;
      }
      items.push(record);
      bytes += size;
      return true;
    };
    const flushRun = (): boolean => {
      const sorted = run.sort((a, b) => compareBytes(a.key, b.key));
      run = [];
      for (const r of sorted) if (!emit(r, () => (q.keysOnly ? r : readRecord(this.data, r.key)))) return false;
      return true;
    };
    const range = this.data.getRange(storedBounds(lo, hi));
    let open = true;
    for (const { key, value } of range) {
      if (isHashedKey(key)) {
        // Long keys sharing their stored prefix sort by hash in LMDB: collect the run, sort, then emit.
        // The run is held without values (any number of keys may share a prefix, each with a 64 MiB
        // value); emit reads the values of the records that go into the page, and only those.
        if (run.length > 0 && Buffer.compare(key.subarray(0, DIRECT_KEY_MAX), run[0].key.subarray(0, DIRECT_KEY_MAX)) !== 0) {
          if (!(open = flushRun())) break;
        }
        run.push(decodeRecord(key, value, true));
        continue;
      }
      const r = decodeRecord(key, value, q.keysOnly);
      if (run.length > 0 && !(open = flushRun())) break;
      if (!(open = emit(r))) break;
    }
    if (open && run.length > 0) flushRun();
    return { items, more };
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** The highest applied index known to be fsynced; advances with flush(). */
  durableAppliedIndex(): number {
    return this.durable;
  }

  /** Wait until everything applied so far is fsynced; resolves to the durable applied index. */
  async flush(): Promise<number> {
    const target = this.applied;
    await this.root.committed; // asynchronous writes (a snapshot import) must be in the sync
    await syncEnv(this.root);
    if (target > this.durable) this.durable = target;
    return this.durable;
  }

  // ---- applying entries ----

  /**
   * Run `fn` for the entry at `index` and record `index` as applied, atomically. Resolves once the
   * transaction is committed (visible to get/range, durable later: see flush()). Applies issued
   * together share one LMDB transaction. An index at or below the applied index is skipped
   * (resolves undefined). If `fn` throws, none of its writes happen, the index is not recorded,
   * and the promise rejects: the state machine is deterministic, so the host should stop.
   * The Raft host uses applyAllSync, which applies a whole batch without waiting for an event-loop turn.
   */
  applyAt<T>(index: number, fn: (tx: KvTx) => T): Promise<T | undefined> {
    if (this.closed) return Promise.reject(new Error(`kv store of group ${this.group} is closed`));
    if (this.importing) return Promise.reject(new Error(`kv store of group ${this.group} is importing a snapshot`));
    if (this.failure) return Promise.reject(this.failure);
    // Not through the cache: asynchronous transactions run on lmdb-js's schedule, and an earlier one's
    // cache update may not have happened yet when this one reads.
    const written: WrittenRecords = new Map();
    const done = this.root.transaction(() => this.applyInTxn(index, fn, true, written, false, [])).then(
      (o) => {
        this.afterCommit(written);
        return this.settle(index, o);
      },
      (err: Error) => {
        // A failed commit (disk full...) leaves txApplied ahead of the disk: accept nothing more.
        this.failure ??= err;
        throw err;
      },
    );
    this.lastWrite = done;
    return done;
  }

  /**
   * applyAt for a whole batch in one synchronous transaction: the writes are visible when it returns.
   * This is what the Raft host uses for each Ready: an asynchronous commit would cost a round trip to
   * lmdb-js's writer thread, which waits behind everything else on the event loop under load (measured:
   * ~3 ms per Ready on an idle 3-node cluster, against ~0.3 ms here). Durable after flush().
   */
  applyAllSync<T>(items: ReadonlyArray<{ index: number; fn: (tx: KvTx) => T }>): Array<T | undefined> {
    if (this.closed) throw new Error(`kv store of group ${this.group} is closed`);
    if (this.importing) throw new Error(`kv store of group ${this.group} is importing a snapshot`);
    if (this.failure) throw this.failure;
    let outcomes: Array<Outcome<T>>;
    const written: WrittenRecords = new Map();
    try {
      outcomes = this.root.transactionSync(() => {
        const before = this.txApplied;
        const out: Array<Outcome<T>> = [];
        const changed: RevisionChanges[] = [];
        let failed = false;
        for (const { index, fn } of items) {
          // Nothing after an entry that throws: applying the next one would record an index past it,
          // and the failed entry would never be applied (not even after a restart).
          const o: Outcome<T> = failed ? { skipped: true } : this.applyInTxn(index, fn, false, written, true, changed);
          failed ||= 'error' in o;
          out.push(o);
        }
        // One history entry and one applied-index record for the whole batch, in the transaction of its writes.
        this.history.record(changed);
        if (this.txApplied !== before) this.writeMeta(this.txApplied);
        return out;
      });
    } catch (err) {
      this.failure ??= err as Error;
      throw err;
    }
    this.afterCommit(written);
    return outcomes.map((o, i) => this.settle(items[i].index, o));
  }

  /**
   * applyAllSync for a batch holding large values, without blocking the event loop on them: the
   * entries run as there (reads see the batch's earlier writes, then the cache, then LMDB), each
   * large value (LARGE_VALUE_BYTES) is copied into its record in slices with the event loop let run
   * between them, and the records and the applied index go to LMDB as one asynchronous write,
   * which lmdb-js's writer thread commits (writes issued in one event-loop turn share a
   * transaction). Resolves once it is committed: visible to get/range, durable after flush().
   * Copying 64 MiB into a fresh record and LMDB's own copy of it held the event loop for longer
   * than an election timeout allows. The caller must not start another apply before this settles.
   */
  async applyAllAsync<T>(items: ReadonlyArray<{ index: number; fn: (tx: KvTx) => T }>): Promise<Array<T | undefined>> {
    if (this.closed) throw new Error(`kv store of group ${this.group} is closed`);
    if (this.importing) throw new Error(`kv store of group ${this.group} is importing a snapshot`);
    if (this.failure) throw this.failure;
    const written: WrittenRecords = new Map();
    const outcomes: Array<Outcome<T>> = [];
    const txs: BufferedTx[] = [];
    let applied = this.txApplied;
    for (const { index, fn } of items) {
      if (index <= applied) {
        outcomes.push({ skipped: true });
        continue;
      }
      const tx = new BufferedTx(this.data, index, this.priorReader(written), true, this.expiries, this.leases, written);
      try {
        outcomes.push({ result: fn(tx) });
        tx.publishLeases();
      } catch (error) {
        // As in applyAllSync: nothing after it (its index and theirs stay unapplied), and the call throws.
        outcomes.push({ error });
        while (outcomes.length < items.length) outcomes.push({ skipped: true });
        break;
      }
      this.noteWritten(tx, written);
      txs.push(tx);
      applied = index;
    }
    for (const tx of txs) await tx.fillLargeValues();
    if (this.closed || this.importing || this.failure) throw this.failure ?? new Error(`kv store of group ${this.group} changed while applying`);
    // lmdb-js's writer thread commits while the event loop runs, and reads see the commit as soon as
    // their read transaction is renewed, before this code learns of it: a cached record of the batch
    // would then still answer the old value while LMDB (a listing, an uncached key) answers the new one,
    // a half-applied batch to two reads in one step. So its keys leave the cache now and are read from
    // LMDB (all of them old, or all new) until the commit is known.
    for (const k of written.keys()) this.cache?.delete(k);
    this.committing = written;
    const changed: RevisionChanges[] = [];
    for (const tx of txs) {
      tx.writeTo(this.data);
      noteChanges(tx, changed);
    }
    this.history.record(changed);
    if (applied !== this.txApplied) this.history.compact(applied);
    const committed = applied !== this.txApplied ? this.meta.put(this.group, this.metaRecord(this.generation, applied)) : Promise.resolve(true);
    this.txApplied = applied;
    this.lastWrite = committed;
    try {
      await committed;
    } catch (err) {
      this.failure ??= err as Error;
      throw err;
    } finally {
      this.committing = undefined;
    }
    this.afterCommit(written);
    return outcomes.map((o, i) => this.settle(items[i].index, o));
  }

  /**
   * One entry's writes, buffered, then written into the open transaction and noted in `written` (the
   * batch's records so far, by key). With `viaCache`, a write's read of the record it replaces is
   * answered from `written`, then from the cache (the committed state before this batch), before
   * LMDB: that read was ~10% of a follower's CPU under puts.
   */
  private applyInTxn<T>(index: number, fn: (tx: KvTx) => T, writeMeta: boolean, written: WrittenRecords, viaCache: boolean, changed: RevisionChanges[]): Outcome<T> {
    if (index <= this.txApplied) return { skipped: true };
    const tx = new BufferedTx(this.data, index, viaCache ? this.priorReader(written) : undefined, false, this.expiries, this.leases);
    let result: T;
    try {
      result = fn(tx);
    } catch (error) {
      return { error };
    }
    tx.writeTo(this.data);
    noteChanges(tx, changed);
    this.noteWritten(tx, written);
    this.txApplied = index;
    if (writeMeta) {
      this.history.record(changed);
      this.writeMeta(index);
    }
    return { result };
  }

  /**
   * Reads of a record an entry replaces: the batch's earlier writes, then the cache (the committed state, if
   * there is a cache), then LMDB. The batch's writes come first with or without a cache: applyAllAsync writes
   * nothing to LMDB before every entry of the batch has run, so LMDB alone would not show them.
   */
  private priorReader(written: WrittenRecords): (key: Uint8Array, k: string) => KvRecord | undefined {
    const cache = this.cache;
    return (key, k) => {
      const w = written.get(k);
      if (w !== undefined) return w ?? undefined;
      const c = cache?.peek(k);
      return c !== undefined ? (c ?? undefined) : readPriorRecord(this.data, key);
    };
  }

  /** Adds an entry's writes to its batch's. */
  private noteWritten(tx: BufferedTx, written: WrittenRecords): void {
    const bulk = tx.writeCount() > BULK_WRITE_KEYS;
    for (const [k, record] of tx.writtenRecords()) {
      written.set(k, record);
      if (bulk) (written.bulk ??= new Set()).add(k);
      else written.bulk?.delete(k);
    }
  }

  /**
   * A batch's writes, once committed: into the write order (cache mode), and into the cache (a key just
   * written is likely read or written again soon, and the next write to it reads it); admission to the
   * cache's main part still goes by how often a key is read. Keys of a bulk write (an entry writing more
   * than BULK_WRITE_KEYS) only refresh what is cached. A large value is never cached (it would take the
   * cache's whole room): its key is dropped.
   */
  private afterCommit(written: WrittenRecords): void {
    this.writeOrder?.noteWritten(written);
    if (!this.cache) return;
    for (const [k, fresh] of written) {
      if (fresh && fresh.value.byteLength >= LARGE_VALUE_BYTES) {
        this.cache.delete(k);
        continue;
      }
      const record = fresh && compactRecord(fresh);
      if (written.bulk?.has(k)) this.cache.replace(k, record, cachedBytes(k, record));
      else this.cache.set(k, record, cachedBytes(k, record));
    }
  }

  /** Compacts the history a step and records the applied index with it; inside the applying transaction. */
  private writeMeta(appliedIndex: number): void {
    this.history.compact(appliedIndex);
    void this.meta.put(this.group, this.metaRecord(this.generation, appliedIndex));
  }

  /** Fills the expiry index, the leases' keys and, in cache mode, the write order from one scan of `db`'s records (headers only). */
  private indexRecords(db: DataDb): void {
    this.expiries.clear();
    const written: WrittenKey[] = [];
    for (const { key, value } of db.getRange({})) {
      const r = decodeRecord(key, value, true);
      if (r.expiresAt !== undefined) this.expiries.add(r.key, r.expiresAt);
      if (r.lease !== undefined) this.leases.attach(r.lease, r.key);
      // Copied: the iteration's key buffers are not ours to keep.
      if (this.writeOrder) written.push({ key: Uint8Array.from(r.key), revision: r.modRevision, bytes: r.key.byteLength + value.length - valueOffset(value) });
    }
    this.writeOrder?.load(written);
  }

  private metaRecord(generation: number, appliedIndex: number): KvMeta {
    const clock = this.clock.persisted();
    const meta: KvMeta = { generation, appliedIndex, history: this.history.meta() };
    if (clock) meta.clock = clock;
    return meta;
  }

  private settle<T>(index: number, o: Outcome<T>): T | undefined {
    if ('skipped' in o) return undefined;
    if ('error' in o) throw o.error;
    if (index > this.applied) {
      this.applied = index;
      if (this.appliedWaiters.size > 0) this.wakeWaiters();
    }
    return o.result;
  }

  private wakeWaiters(): void {
    for (const w of this.appliedWaiters) if (this.applied > w.after || this.closed) w.wake();
  }

  // ---- history ----

  /** The oldest revision whose changes readHistory still has (every later one up to the applied index too). */
  historyFloor(): number {
    return this.history.floor;
  }

  /**
   * The applied revisions from `from` on (at most the ones up to the applied index), with their changes, in
   * pages of about `maxBytes` (at least one revision). Revisions before historyFloor() are gone: the caller
   * checks first.
   */
  readHistory(from: number, maxBytes: number): HistoryPage {
    this.assertOpen();
    return this.history.read(from, this.applied, maxBytes);
  }

  /** Resolves once the applied index passes `after`, or after `ms`, or when the store closes or imports. */
  waitApplied(after: number, ms: number): Promise<void> {
    if (this.applied > after || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const w = {
        after,
        wake: () => {
          clearTimeout(timer);
          this.appliedWaiters.delete(w);
          resolve();
        },
      };
      const timer = setTimeout(w.wake, ms);
      this.appliedWaiters.add(w);
    });
  }

  // ---- snapshots ----

  /**
   * A consistent image of all records and the applied index, as of this call (one LMDB read
   * transaction, held until the iteration ends or is cancelled). Chunks are about `chunkBytes`.
   */
  exportSnapshot(chunkBytes = EXPORT_FRAME_BYTES): KvSnapshotExport {
    this.assertOpen();
    const dbsFor = (gen: number) => ({ data: gen === this.generation ? this.data : this.openGeneration(gen), leases: openLeaseDb(this.root, this.group, gen) });
    return exportImage(this.root, this.meta, this.group, dbsFor, chunkBytes);
  }

  /** exportSnapshotParts() as one buffer: Raft's Snapshot.data. */
  async exportSnapshotBytes(): Promise<{ appliedIndex: number; data: Uint8Array; crc: number }> {
    const { appliedIndex, parts, crc } = await this.exportSnapshotParts();
    return { appliedIndex, data: parts.length === 1 ? parts[0] : await joined(parts), crc };
  }

  /**
   * An image of the state, as buffers to concatenate, with the index it reflects and its CRC-32. A
   * store that opened its environment itself, or was given a KvEnv, reads the records in a worker thread and builds the
   * image without long steps on the event loop (kv-export-worker.ts, imageOf), so large values do
   * not block it; one given an environment reads them here.
   */
  async exportSnapshotParts(): Promise<{ appliedIndex: number; parts: Uint8Array[]; crc: number }> {
    this.assertOpen();
    if (this.exporter) {
      const read = await this.exporter().export(this.group, generationPrefix(this.group), leaseDbPrefix(this.group));
      return { appliedIndex: read.appliedIndex, ...(await imageOf(read.appliedIndex, read.leases, read.batches)) };
    }
    const image = this.exportSnapshot();
    const chunks: Uint8Array[] = [];
    for await (const c of image) chunks.push(c);
    const data = Buffer.concat(chunks);
    return { appliedIndex: image.appliedIndex, parts: [new Uint8Array(data.buffer, data.byteOffset, data.byteLength)], crc: crc32(data) };
  }

  /**
   * Replace the whole state with an image taken at `index`. The image is written into a new
   * generation and switched to in one transaction: a crash before the switch leaves the old state
   * (the half-written generation is dropped at the next open), after it the new one.
   */
  async importSnapshot(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, index: number): Promise<void> {
    this.assertOpen();
    if (this.importing) throw new Error(`kv store of group ${this.group} is already importing a snapshot`);
    this.importing = true;
    try {
      await this.lastWrite.catch(() => {});
      const next = this.generation + 1;
      const old = this.data;
      const { db } = await importImage({
        meta: this.meta,
        group: this.group,
        current: this.metaRecord(this.generation, this.applied),
        generation: next,
        open: (gen) => this.openGeneration(gen),
        openLeases: (gen) => openLeaseDb(this.root, this.group, gen),
        chunks,
        index,
      });
      this.data = db;
      const oldLeases = openLeaseDb(this.root, this.group, this.generation);
      this.leases.reset(openLeaseDb(this.root, this.group, next));
      this.indexRecords(db);
      this.cache?.clear();
      const oldHistory = this.history;
      this.history = new History(this.root, this.group, next, undefined, index, this.historyLimits);
      this.generation = next;
      this.applied = this.txApplied = index;
      await old.drop();
      await oldLeases.drop();
      await oldHistory.drop();
      await this.meta.put(this.group, this.metaRecord(next, index));
      await this.flush();
    } finally {
      this.importing = false;
      this.wakeWaiters();
    }
  }

  /**
   * Delete the group's state for good (its records and its applied index), then close the store: a store
   * of that group opened later starts empty.
   */
  async destroy(): Promise<void> {
    this.assertOpen();
    if (this.importing) throw new Error(`kv store of group ${this.group} is importing a snapshot`);
    await this.lastWrite.catch(() => {});
    // One transaction: a crash leaves the group whole or gone, never its records without their applied index.
    this.root.transactionSync(() => {
      this.data.dropSync();
      openLeaseDb(this.root, this.group, this.generation).dropSync();
      this.history.dropSync();
      this.meta.removeSync(this.group);
    });
    this.cache?.clear();
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.expiries.clear(); // nothing left to expire: the service's clock timer stops at its next look
    this.leases.clear();
    this.wakeWaiters();
    await this.lastWrite.catch(() => {});
    await this.ownExporter?.close();
    if (this.ownDir === undefined) return;
    // Only a store whose files are all on disk may drop its marker (os-crash-guard.ts).
    const synced = await this.flush().then(
      () => true,
      () => false,
    );
    await this.root.close();
    if (synced) releaseUnsyncedDir(this.ownDir);
  }

  private openGeneration(generation: number): DataDb {
    return this.root.openDB<Buffer, Buffer>(generationPrefix(this.group) + generation, { keyEncoding: 'binary', encoding: 'binary' });
  }

  /** Finish what a crash interrupted: drop a half-imported or a replaced generation. */
  private recoverMeta(): KvMeta {
    const stored = this.meta.get(this.group);
    const meta: KvMeta = { generation: stored?.generation ?? 0, appliedIndex: stored?.appliedIndex ?? 0 };
    if (stored?.clock) meta.clock = stored.clock;
    if (stored?.history) meta.history = stored.history;
    for (const gen of [stored?.importing, stored?.dropping]) {
      if (gen !== undefined && gen !== meta.generation) {
        this.openGeneration(gen).dropSync();
        openLeaseDb(this.root, this.group, gen).dropSync();
        this.root.openDB(historyDbName(this.group, gen), {}).dropSync();
      }
    }
    if (stored && (stored.importing !== undefined || stored.dropping !== undefined)) this.meta.putSync(this.group, meta);
    return meta;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`kv store of group ${this.group} is closed`);
  }
}

/** Adds an applied entry's changes, if it made any, to its transaction's (for the history). */
function noteChanges(tx: BufferedTx, changed: RevisionChanges[]): void {
  const changes = tx.changes();
  if (changes.length > 0) changed.push({ revision: tx.revision, changes });
}

/** The name of a group's record database is this and its generation. */
function generationPrefix(group: string): string {
  return `kv:${group}:`;
}

/**
 * Frame size of an exported image. Each frame is encoded in one synchronous step, and a 1 MiB frame
 * (~9,000 records of 100 bytes) blocked the event loop 15-130 ms under load: every node then snapshotted
 * at about the same index, so that stall showed in the put p99 of the whole cluster (16 connections:
 * p99 24 -> 80-160 ms whenever a snapshot ran). 64 KiB is ~550 such records, about what the export
 * does between its other yields.
 */
const EXPORT_FRAME_BYTES = 64 * 1024;

/** How export workers read: an environment opened as openKvEnv opens it, this store's limits. */
const EXPORTER = { maxDbs: KV_ENV_MAX_DBS, largeBytes: LARGE_VALUE_BYTES, batchBytes: EXPORT_FRAME_BYTES };

/**
 * A record as the cache keeps it: its key and value copied into one allocation of their own. Read or
 * written, they are views of larger buffers (the stored key and the record's bytes, slices of Node's
 * 8 KiB buffer pool): a cached view kept its whole slab alive. Measured under a 50/50 put/get load, one
 * node: 21,822 such slabs, 170 MiB, behind a cache counted at 64 MiB.
 */
function compactRecord(r: KvRecord): KvRecord {
  const b = new ArrayBuffer(r.key.byteLength + r.value.byteLength);
  const key = new Uint8Array(b, 0, r.key.byteLength);
  const value = new Uint8Array(b, r.key.byteLength);
  key.set(r.key);
  value.set(r.value);
  return { ...r, key, value };
}

function cachedBytes(k: string, r: KvRecord | null): number {
  return k.length + (r ? r.value.byteLength + (r.key.byteLength > k.length ? r.key.byteLength : 0) : 0) + CACHED_RECORD_OVERHEAD;
}


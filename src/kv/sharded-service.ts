// S shard services (one Raft group each, indexed by shard number) presented as one KvService.
//   - Routing: a key lives in shard shardOf(key, S) (src/shard/key-hash.ts), and every point operation
//     on it (get, put, delete, compare-and-swap) goes to that shard alone. An empty key goes to shard 0,
//     whose own check refuses it.
//   - Revisions are per shard (the shard's Raft index): they order the writes of one shard, not across
//     shards. A key's modRevision comes from its own shard, so compare-and-swap works unchanged.
//   - Listing asks every shard with the same options and merges the pages in unsigned byte order of key;
//     the merged page is complete up to its last key, so paging on from there visits every key once.
//   - A batch is atomic within one shard, at one revision of it. A batch whose keys span shards is
//     refused (bad-request): keys that change together need a common {tag}.
//   - A lease lives in shard (id mod S) (lease-ids.ts); a key can be attached only to a lease of its own shard,
//     so that the lease's revoke or expiry deletes its keys atomically. A grant may name a key (or {tag}) to
//     put the lease in that key's shard.
//   - A shard hosted elsewhere is a RemoteShard (forwarded.ts): its calls go to a node that hosts it.
//   - Until this node knows the shard count (it is joining) a call waits for it, as long as `waitMs`, and is
//     then unavailable (503); a serializable get, answered synchronously, is unavailable at once.
// With one shard every call, listing and batch included, is shard 0's own answer.

import { shardOf, tagPrefix } from '../shard/key-hash.ts';
import { prefixEnd } from '../storage/kv-record.ts';
import { RANGE_PAGE_BYTES } from '../storage/kv-store.ts';
import { sections } from './backup-sections.ts';
import { RemoteShard } from './forwarded.ts';
import { ConcordError } from '../util/errors.ts';
import type { BackupImage, BackupSource, BatchOp, ChangeFeedOptions, ChangePage, Consistency, KvRecord, KvService, LeaseGrant, LeaseGrantOptions, LeaseInfo, ListOptions, PutOptions, StaleRead, TxnRequest, TxnResult } from './types.ts';
import { txnKeys } from './txn.ts';
import { checkLeaseId, leaseMethod, leaseShard, randomLeaseId } from './lease-ids.ts';

/** A shard's service; with one shard it must also be a BackupSource for `backup()` to work. */
export type ShardKvService = KvService & Partial<BackupSource>;

interface Page {
  items: KvRecord[];
  more: boolean;
}

export class ShardedKvService implements KvService, BackupSource {
  /**
   * `shards()`: the services by shard number (length = the cluster's shard count), or undefined while joining;
   * `learnt` settles once they are known, and a call waits for it at most `waitMs`.
   */
  constructor(
    private readonly shards: () => readonly ShardKvService[] | undefined,
    private readonly learnt: Promise<unknown> = Promise.resolve(),
    private readonly waitMs = 0,
    /** A shard as its replicas elsewhere serve it, for what this node's own replica cannot answer (an older history). */
    private readonly elsewhere: (shard: number) => KvService | undefined = () => undefined,
  ) {}

  /** known(), once the shards are known or `waitMs` has passed. */
  private async knownSoon(): Promise<readonly ShardKvService[]> {
    if (this.shards() === undefined && this.waitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.learnt, new Promise((r) => (timer = setTimeout(r, this.waitMs)))]);
      clearTimeout(timer);
    }
    return this.known();
  }

  private async shardForSoon(key: Uint8Array): Promise<ShardKvService> {
    return pick(await this.knownSoon(), key);
  }

  private known(): readonly ShardKvService[] {
    const shards = this.shards();
    if (shards === undefined) {
      throw new ConcordError('unavailable', "this node has not learned the cluster's shards yet (it is joining); retry, or send the request to another member", 1);
    }
    return shards;
  }

  private shardFor(key: Uint8Array): ShardKvService {
    return pick(this.known(), key);
  }

  async get(key: Uint8Array, opts?: { consistency?: Consistency }): Promise<KvRecord | undefined> {
    return (await this.shardForSoon(key)).get(key, opts);
  }

  getSerializable(key: Uint8Array): KvRecord | undefined {
    return this.shardFor(key).getSerializable(key);
  }

  answersLocally(key: Uint8Array): boolean {
    const shards = this.shards();
    return shards !== undefined && !(pick(shards, key) instanceof RemoteShard);
  }

  async put(key: Uint8Array, value: Uint8Array, opts?: PutOptions): Promise<{ revision: number }> {
    const shards = await this.knownSoon();
    if (opts?.lease !== undefined) checkLeaseOf(key, opts.lease, shards.length);
    return pick(shards, key).put(key, value, opts);
  }

  async delete(key: Uint8Array, opts?: { ifMatch?: number }): Promise<{ deleted: number; revision: number }> {
    return (await this.shardForSoon(key)).delete(key, opts);
  }

  async getOrStale(key: Uint8Array): Promise<{ record: KvRecord | undefined; stale?: StaleRead }> {
    return (await this.shardForSoon(key)).getOrStale(key);
  }

  async list(opts: ListOptions): Promise<Page> {
    const shards = await this.knownSoon();
    if (shards.length === 1) return shards[0].list(opts);
    return mergePages(await Promise.all(shards.map((s) => s.list(opts))), opts.limit);
  }

  async listOrStale(opts: ListOptions): Promise<Page & { stale?: StaleRead }> {
    const shards = await this.knownSoon();
    if (shards.length === 1) return shards[0].listOrStale(opts);
    const pages = await Promise.all(shards.map((s) => s.listOrStale(opts)));
    const page = mergePages(pages, opts.limit);
    const stale = stalest(pages.map((p) => p.stale));
    return stale ? { ...page, stale } : page;
  }

  leaderless(): StaleRead | undefined {
    const shards = this.shards();
    if (shards === undefined) return {};
    for (const s of shards) {
      const stale = s.leaderless();
      if (stale) return stale;
    }
    return undefined;
  }

  async batch(ops: BatchOp[]): Promise<{ revision: number }> {
    const shards = await this.knownSoon();
    const shard = oneShard(ops.map((o) => o.key), shards.length, 'a batch');
    for (const o of ops) if (o.op === 'put' && o.lease !== undefined && o.key.byteLength > 0) checkLeaseOf(o.key, o.lease, shards.length);
    return shards[shard].batch(ops);
  }

  async grantLease(ttlSeconds: number, opts: LeaseGrantOptions = {}): Promise<LeaseGrant> {
    const shards = await this.knownSoon();
    const n = shards.length;
    if (opts.id !== undefined) checkLeaseId(opts.id);
    const shard = opts.id !== undefined ? leaseShard(opts.id, n) : opts.key ? pickIndex(n, opts.key) : randomLeaseId(1, 0) % n;
    if (opts.id !== undefined && opts.key) checkLeaseOf(opts.key, opts.id, n);
    const grant = leaseMethod(shards[shard], 'grantLease');
    if (opts.id !== undefined) return grant(ttlSeconds, { id: opts.id });
    // An id picked here is random: one already in use (a chance of about one in 2^40) is picked again, twice at most.
    for (let tries = 1; ; tries++) {
      try {
        return await grant(ttlSeconds, { id: randomLeaseId(n, shard) });
      } catch (e) {
        if (!(e instanceof ConcordError && e.code === 'precondition-failed') || tries === 3) throw e;
      }
    }
  }

  async keepAliveLease(id: number): Promise<LeaseGrant> {
    return leaseMethod(await this.leaseHome(id), 'keepAliveLease')(id);
  }

  async revokeLease(id: number): Promise<{ revision: number; deleted: number }> {
    return leaseMethod(await this.leaseHome(id), 'revokeLease')(id);
  }

  async leaseTimeToLive(id: number, opts?: { keys?: boolean }): Promise<LeaseInfo> {
    return leaseMethod(await this.leaseHome(id), 'leaseTimeToLive')(id, opts);
  }

  async leases(): Promise<LeaseInfo[]> {
    const shards = await this.knownSoon();
    const each = await Promise.all(shards.map((s) => leaseMethod(s, 'leases')()));
    return each.flat().sort((a, b) => a.id - b.id);
  }

  /** The shard lease `id` lives in. */
  private async leaseHome(id: number): Promise<ShardKvService> {
    checkLeaseId(id);
    const shards = await this.knownSoon();
    return shards[leaseShard(id, shards.length)];
  }

  async txn(req: TxnRequest): Promise<TxnResult> {
    const shards = await this.knownSoon();
    const shard = oneShard(txnKeys(req), shards.length, 'a transaction');
    for (const op of [...req.success, ...req.failure]) {
      if (shards.length > 1 && op.op === 'delete' && op.end !== undefined) checkOneTagRange(op.key, op.end);
      if (op.op === 'put' && op.lease !== undefined) checkLeaseOf(op.key, op.lease, shards.length);
    }
    return shards[shard].txn(req);
  }

  /** The cluster's shard count, once this node knows it (waits as the other calls do). */
  async shardCount(): Promise<number> {
    return (await this.knownSoon()).length;
  }

  /**
   * Shard `shard`'s changes (KvService.changes), from this node's replica or, if it hosts none, another's. A
   * replica installed from a snapshot keeps no history before it: what it no longer holds is asked of the
   * shard's other replicas before it is `compacted`.
   */
  async shardChanges(shard: number, from: number, opts: ChangeFeedOptions): Promise<ChangePage> {
    const s = (await this.knownSoon())[shard];
    if (!s?.changes) throw new ConcordError('not-implemented', `shard ${shard} keeps no history on this node`);
    try {
      return await s.changes(from, opts);
    } catch (e) {
      const other = this.elsewhere(shard);
      if (!(e instanceof ConcordError && e.code === 'compacted') || !other?.changes || other === s) throw e;
      return other.changes(from, opts);
    }
  }

  /**
   * With several shards, every shard's image as one body of sections (backup-sections.ts): a shard hosted
   * here from its own store, one hosted elsewhere fetched from a replica (remote-backup.ts). Each image
   * holds every write acknowledged before the call; the images are not of one instant across shards,
   * which nothing needs, since no write spans shards.
   */
  async backup(): Promise<BackupImage> {
    const shards = await this.knownSoon();
    const sources = shards.map((s) => s.backup?.bind(s));
    if (sources.some((b) => !b)) throw new ConcordError('not-implemented', "backup is not available: this node's store cannot take one");
    if (shards.length === 1) return sources[0]!();
    const images: BackupImage[] = [];
    try {
      for (const b of sources) images.push(await b!());
    } catch (e) {
      for (const i of images) i.cancel();
      throw e;
    }
    const indexes = images.map((i) => i.appliedIndex);
    return { appliedIndex: indexes[0], shards: indexes, chunks: sections(images.map((i) => i.chunks)), cancel: () => images.forEach((i) => i.cancel()) };
  }
}

/** The shard a key lives in. */
function pick(shards: readonly ShardKvService[], key: Uint8Array): ShardKvService {
  return shards[pickIndex(shards.length, key)];
}

function pickIndex(shardCount: number, key: Uint8Array): number {
  return shardCount === 1 || key.byteLength === 0 ? 0 : shardOf(key, shardCount);
}


/**
 * With several shards, a deleted range must lie within one {tag} (so in one shard): [key, end) within the keys
 * that start with `key`'s tag prefix (tagPrefix).
 */
function checkOneTagRange(key: Uint8Array, end: Uint8Array): void {
  const p = tagPrefix(key);
  const pe = p && prefixEnd(p);
  if (p && pe && end.byteLength > 0 && Buffer.compare(end, pe) <= 0) return;
  throw new ConcordError(
    'bad-request',
    `a transaction deletes the range from ${showKey(key)} to ${end.byteLength > 0 ? showKey(end) : 'the end'}, which spans shards: with several shards a range must ` +
      'lie within one {tag} (from "{user1}.a" to "{user1}.z", or the prefix "{user1}."), whose keys share a shard',
  );
}

/** A key can be attached only to a lease of its own shard (checkLeaseId first). */
function checkLeaseOf(key: Uint8Array, lease: number, shardCount: number): void {
  checkLeaseId(lease);
  const keyShard = pickIndex(shardCount, key);
  const home = leaseShard(lease, shardCount);
  if (keyShard === home) return;
  throw new ConcordError(
    'bad-request',
    `key ${showKey(key)} is in shard ${keyShard} and lease ${lease} in shard ${home} of ${shardCount}: a lease's keys must be in its shard, ` +
      'so that its expiry deletes them atomically. Grant the lease with this key (or its {tag}) to put it in the key\'s shard, or give the keys a common {tag}',
  );
}

/**
 * One page from the shards' pages for the same options, in unsigned byte order of key.
 *
 * Exact: each shard's page is a prefix, in key order, of that shard's matching keys. A key is missing
 * from the union only if its shard said `more` and the key lies after that shard's last item, so the
 * union is complete up to the smallest last key among the shards that said more, and the page stops
 * there. With pages cut by `limit` L only, that cut removes none of the global first L: an item among the
 * global first L has fewer than L keys of its own shard before it, so it is among its own shard's first L,
 * which that shard returned (and a shard that returned L items up to key k puts L items before any key
 * after k). A shard's page can also end early at its byte bound; the cut is what keeps the page free of
 * gaps then, so that continuing from its last key (start = last key + '\0') misses no key.
 * The merged page keeps the store's byte bound too, so S shards' full pages do not make one S times as big.
 */
function mergePages(pages: readonly Page[], limit: number | undefined): Page {
  let cutoff: Uint8Array | undefined;
  let more = false;
  for (const p of pages) {
    if (!p.more) continue;
    more = true;
    const last = p.items.at(-1);
    if (last === undefined) return { items: [], more: true };
    if (cutoff === undefined || Buffer.compare(last.key, cutoff) < 0) cutoff = last.key;
  }
  const merged = pages
    .flatMap((p) => p.items)
    .filter((r) => cutoff === undefined || Buffer.compare(r.key, cutoff) <= 0)
    .sort((a, b) => Buffer.compare(a.key, b.key));
  const max = limit !== undefined && limit > 0 ? limit : Infinity;
  let bytes = 0;
  let n = 0;
  for (; n < merged.length && n < max; n++) {
    bytes += merged[n].key.byteLength + merged[n].value.byteLength;
    if (n > 0 && bytes > RANGE_PAGE_BYTES) break;
  }
  return { items: n === merged.length ? merged : merged.slice(0, n), more: more || n < merged.length };
}

/** The stalest of the shards' answers: undefined if none is stale, {} if any does not know its last contact. */
function stalest(stales: ReadonlyArray<StaleRead | undefined>): StaleRead | undefined {
  let worst: StaleRead | undefined;
  for (const s of stales) {
    if (s === undefined) continue;
    if (s.lastContactMs === undefined) return {};
    if (worst?.lastContactMs === undefined || s.lastContactMs > worst.lastContactMs) worst = { lastContactMs: s.lastContactMs };
  }
  return worst;
}

const SHARDS_NAMED = 10;
const SHARDS_SHOWN = 3;
const KEYS_SHOWN = 2;

/**
 * The one shard all of `keys` fall in (empty keys do not choose: they go along, and the shard's own check
 * refuses them); for keys in several, the refusal of `what`: where its first keys go, and how to keep them together.
 */
function oneShard(keys: readonly Uint8Array[], shardCount: number, what: string): number {
  if (shardCount === 1) return 0;
  let shard: number | undefined;
  for (const key of keys) {
    if (key.byteLength === 0) continue;
    const s = shardOf(key, shardCount);
    if (shard === undefined) shard = s;
    else if (s !== shard) throw crossShard(keys, shardCount, what);
  }
  return shard ?? 0;
}

function crossShard(keys: readonly Uint8Array[], shardCount: number, what: string): ConcordError {
  const byShard = new Map<number, Uint8Array[]>();
  for (const key of keys) {
    if (key.byteLength === 0) continue;
    const s = shardOf(key, shardCount);
    const keys = byShard.get(s);
    if (keys) keys.push(key);
    else byShard.set(s, [key]);
  }
  const shards = [...byShard.keys()].sort((a, b) => a - b);
  const where = shards.slice(0, SHARDS_SHOWN).map((s) => {
    const keys = byShard.get(s) ?? [];
    const rest = keys.length > KEYS_SHOWN ? ` (+${keys.length - KEYS_SHOWN} more)` : '';
    return `shard ${s} gets ${keys.slice(0, KEYS_SHOWN).map(showKey).join(', ')}${rest}`;
  });
  if (shards.length > SHARDS_SHOWN) where.push(`${shards.length - SHARDS_SHOWN} more shards get the rest`);
  const named = shards.length > SHARDS_NAMED ? `${shards.slice(0, SHARDS_NAMED).join(', ')}, … (${shards.length} shards)` : shards.join(', ');
  return new ConcordError(
    'bad-request',
    `${what} is atomic only within one shard, but its keys fall in shards ${named} of ${shardCount}: ${where.join('; ')}. ` +
      'To change keys together, give them a common {tag}: only the part in braces is hashed, so {user1}.name and {user1}.mail share a shard',
  );
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** A long key is shown by its first and last few characters (bytes, in hex), which tell keys apart best. */
const HEAD_SHOWN = 14;
const TAIL_SHOWN = 8;

/** A key for a message: quoted text if it is printable UTF-8, else 0x and hex; a long one shortened with '…'. */
function showKey(key: Uint8Array): string {
  let text: string | undefined;
  try {
    text = utf8.decode(key);
  } catch {
    text = undefined;
  }
  if (text !== undefined && !/\p{Cc}/u.test(text)) return JSON.stringify(shorten([...text]).join(''));
  return `0x${shorten([...key].map((byte) => byte.toString(16).padStart(2, '0'))).join('')}`;
}

function shorten(parts: string[]): string[] {
  return parts.length > HEAD_SHOWN + TAIL_SHOWN ? [...parts.slice(0, HEAD_SHOWN), '…', ...parts.slice(-TAIL_SHOWN)] : parts;
}

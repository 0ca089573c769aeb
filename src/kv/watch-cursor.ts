// Where a watch is in each shard it covers, and the text form a client resumes from.
//
// Revisions are per shard, so a watch's position is one per covered shard: the next revision whose changes
// it has not all delivered (`rev`) and how many of that revision's changes it has (`skip`; a revision can
// change many keys, and a stream can break between them). The cursor names, per covered shard in shard
// order and separated by '.', the last revision delivered whole — `N` — or, in the middle of a revision,
// `N:k`: revision N's first k changes delivered. A watch of one shard (every watch with one shard in the
// cluster, and a key's) thus has the revision of its last event as its cursor, as etcd's clients expect.

import { hashTag, shardOf } from '../shard/key-hash.ts';
import { ConcordError } from '../util/errors.ts';

export interface Position {
  rev: number;
  skip: number;
}

/** Which keys a watch sees: one key, the keys under a prefix, or (neither) every key. */
export interface WatchFilter {
  key?: Uint8Array;
  prefix?: Uint8Array;
}

/**
 * The shards a watch of `filter` covers among `shardCount`: a key's own; a prefix that fixes a hash tag
 * (it holds a `{`, then a `}` with bytes between them: every key under it has that tag) its tag's shard;
 * otherwise all.
 */
export function coveredShards(filter: WatchFilter, shardCount: number): number[] {
  if (shardCount === 1) return [0];
  if (filter.key) return [shardOf(filter.key, shardCount)];
  const p = filter.prefix;
  if (p && p.byteLength > 0 && hashTag(p) !== p) return [shardOf(p, shardCount)];
  return Array.from({ length: shardCount }, (_, i) => i);
}

export function matches(filter: WatchFilter, key: Uint8Array): boolean {
  if (filter.key) return Buffer.compare(filter.key, key) === 0;
  const p = filter.prefix;
  if (!p || p.byteLength === 0) return true;
  return key.byteLength >= p.byteLength && Buffer.compare(p, key.subarray(0, p.byteLength)) === 0;
}

export function formatPosition(p: Position): string {
  return p.skip === 0 ? String(p.rev - 1) : `${p.rev}:${p.skip}`;
}

export function formatCursor(positions: readonly Position[]): string {
  return positions.map(formatPosition).join('.');
}

/** The positions a cursor names, one per covered shard (bad-request when it does not fit the watch). */
export function parseCursor(cursor: string, shards: number): Position[] {
  const parts = cursor.split('.');
  if (parts.length !== shards) {
    throw new ConcordError('bad-request', `the cursor ${JSON.stringify(cursor.slice(0, 100))} names ${parts.length} shard positions; this watch covers ${shards} (a cursor resumes the watch that gave it, with the same key or prefix)`);
  }
  return parts.map((part) => {
    const m = /^(\d{1,15})(?::(\d{1,9}))?$/.exec(part);
    if (!m) throw new ConcordError('bad-request', `the cursor ${JSON.stringify(cursor.slice(0, 100))} is not one: each shard's part is a revision N, or N:K in the middle of one`);
    const n = Number(m[1]);
    if (m[2] === undefined) return { rev: n + 1, skip: 0 };
    if (n < 1) throw new ConcordError('bad-request', `the cursor ${JSON.stringify(cursor.slice(0, 100))} names revision 0, which has no changes`);
    return { rev: n, skip: Number(m[2]) };
  });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { EntryCache } from '../../src/storage/entry-cache.ts';
import { LmdbRaftStorage } from '../../src/storage/raft-log-store.ts';
import { EntryType, type Entry } from '../../src/raft/types.ts';
import { tempDir } from './helpers.ts';

const entry = (index: number, term = 1, size = 10): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(size).fill(index % 256) });
const range = (lo: number, hi: number, term = 1, size = 10) => Array.from({ length: hi - lo }, (_, i) => entry(lo + i, term, size));

test('the cache keeps the newest entries within its byte bound and serves only whole ranges', () => {
  const c = new EntryCache(10 * (100 + 64));
  c.append(range(1, 31, 1, 100));
  assert.equal(c.get(20), undefined, 'evicted: only the newest ten fit');
  assert.equal(c.get(21)?.index, 21);
  assert.equal(c.slice(20, 25), undefined, 'a range reaching below the cache is not served');
  assert.deepEqual(c.slice(25, 31)?.map((e) => e.index), [25, 26, 27, 28, 29, 30]);
});

test('appending replaces the cached suffix; a gap or an earlier start resets the cache', () => {
  const c = new EntryCache(1 << 20);
  c.append(range(1, 11));
  c.append(range(6, 8, 2));
  assert.equal(c.get(7)?.term, 2);
  assert.equal(c.get(8), undefined, 'the log now ends at 7');
  c.append(range(20, 22));
  assert.equal(c.get(5), undefined, 'a gap starts over');
  assert.equal(c.get(21)?.index, 21);
  c.dropBefore(21);
  assert.equal(c.get(20), undefined);
  assert.equal(c.get(21)?.index, 21);
});

test('storage reads served from the cache equal what LMDB holds', async (t) => {
  const dir = tempDir(t);
  const open = (entryCacheBytes?: number) =>
    new LmdbRaftStorage({ env: path.join(dir, 'raft'), group: 'g', snapshotDir: path.join(dir, 'snaps'), initialConfState: { voters: ['a'], learners: [] }, entryCacheBytes });
  const s = open();
  await s.save({ entries: range(1, 50, 1, 30), hardState: { term: 1, vote: 'a', commit: 0 } });
  await s.save({ entries: range(40, 60, 2, 20) }); // replaces 40..49
  const cached = s.entries(1, 60, Infinity);
  await s.close();
  const uncached = open(0);
  t.after(() => uncached.close());
  const fromDisk = uncached.entries(1, 60, Infinity);
  assert.deepEqual(cached.map((e) => [e.index, e.term, Buffer.from(e.data).toString('hex')]), fromDisk.map((e) => [e.index, e.term, Buffer.from(e.data).toString('hex')]));
  assert.equal(cached.length, 59);
});

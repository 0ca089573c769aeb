// Reads made from other macrotasks while batched writes commit on lmdb-js's writer thread must
// always see a consistent log: cached bounds and stored entries move together (commit-view.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { LmdbRaftStorage } from '../../src/storage/raft-log-store.ts';
import { entries, tempDir } from './helpers.ts';
import { observe } from './observe.ts';

test('readers never see a half-applied truncation or compaction', async (t) => {
  const dir = tempDir(t);
  const s = new LmdbRaftStorage({ env: path.join(dir, 'raft'), group: 'g', snapshotDir: path.join(dir, 'snaps') });
  t.after(() => s.close());
  let reads = 0;
  let stop = false;
  let failure: unknown;
  const reader = (async () => {
    while (!stop) {
      try {
        const o = observe(s);
        assert.equal(o.entries.length, o.last - o.first + 1);
        assert.deepStrictEqual(o.entries.map((e) => e.term), o.terms.slice(1));
        reads++;
      } catch (err) {
        failure = err;
        return;
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  let term = 1;
  for (let round = 0; round < 300 && !failure; round++) {
    const last = s.lastIndex();
    const writes: Promise<unknown>[] = [s.save({ entries: entries(last + 1, last + 20, term) })];
    // A conflicting suffix from a new leader replaces the tail written just before.
    term++;
    writes.push(s.save({ entries: entries(last + 5, last + 12, term) }));
    if (round % 5 === 4) writes.push(s.compact(last + 3));
    await Promise.all(writes);
  }
  stop = true;
  await reader;
  if (failure) throw failure;
  t.diagnostic(`${reads} consistent reads during 300 rounds of appends, truncations and compactions`);
  assert.ok(reads > 50);
});

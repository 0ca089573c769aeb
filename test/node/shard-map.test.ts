// How a node learns the cluster's shard count from its copy of the metadata group: the founders' count entry,
// and the index past which applied state tells the count, for logs that start at the founding members and
// for logs that start from a snapshot.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage } from '../../src/raft/storage.ts';
import { bootstrapState } from '../../src/raft/bootstrap.ts';
import { EntryType, type Entry } from '../../src/raft/types.ts';
import { shardCountEntry, shardCountSettledAt, shardGroupId } from '../../src/node/shard-map.ts';
import { decodeCommand } from '../../src/kv/commands.ts';

const founded = (count: number) => {
  const state = bootstrapState(['a', 'b', 'c']);
  if (count > 1) {
    state.entries.push(shardCountEntry(state.entries.length + 1, count));
    state.hardState.commit = state.entries.length;
  }
  const s = new MemoryStorage();
  s.save(state);
  return s;
};

describe('the shard count in the metadata group', () => {
  it('is a committed put of a reserved key right after the founding members', () => {
    const e = shardCountEntry(4, 8);
    assert.equal(e.index, 4);
    assert.equal(e.term, 1);
    const c = decodeCommand(e.data).c;
    assert.equal(c.t, 'put');
    assert.deepEqual(JSON.parse(Buffer.from((c as { value: Uint8Array }).value).toString()), { shards: 8 });
  });

  it('settles at the entry after the founding members: the count entry, or the first leader\'s empty entry with one shard', () => {
    assert.equal(shardCountSettledAt(founded(8)), 4);
    const one = founded(1);
    assert.equal(shardCountSettledAt(one), undefined, 'only the founding members so far: not settled');
    one.save({ entries: [{ term: 2, index: 4, type: EntryType.Normal, data: new Uint8Array(0) }] });
    assert.equal(shardCountSettledAt(one), 4);
  });

  it('settles at the snapshot for a log that starts from one', () => {
    const s = new MemoryStorage();
    s.save({ snapshot: { meta: { index: 500, term: 3, confState: { voters: ['a'], learners: [] } }, data: new Uint8Array(0) }, hardState: { term: 3, vote: '', commit: 500 }, entries: [] as Entry[] });
    assert.equal(shardCountSettledAt(s), 500);
  });

  it('names shard groups s<i>, and the one shard g0', () => {
    assert.equal(shardGroupId(0, 1), 'g0');
    assert.deepEqual([0, 1, 2].map((i) => shardGroupId(i, 3)), ['s0', 's1', 's2']);
  });
});

// How a node learns the cluster's shard count from its copy of the metadata group: the founders' count entry,
// and the index past which applied state tells the count, for logs that start at the founding members and
// for logs that start from a snapshot.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage } from '../../src/raft/storage.ts';
import { bootstrapState } from '../../src/raft/bootstrap.ts';
import { EntryType, type Entry } from '../../src/raft/types.ts';
import { SHARD_MAP_KEY, defaultShardMap, foundingShardMap, nextShardMap, shardCountEntry, shardCountSettledAt, shardGroupId, type ShardMap } from '../../src/node/shard-map.ts';
import { decodeCommand } from '../../src/kv/commands.ts';

const founded = (count: number) => {
  const state = bootstrapState(['a', 'b', 'c']);
  if (count > 1) {
    state.entries.push(shardCountEntry(state.entries.length + 1, count, foundingShardMap(count, ['a', 'b', 'c'], 3)));
    state.hardState.commit = state.entries.length;
  }
  const s = new MemoryStorage();
  s.save(state);
  return s;
};

describe('the shard count in the metadata group', () => {
  it('is a committed write of two reserved keys right after the founding members: the count and the first map', () => {
    const map = foundingShardMap(8, ['c', 'a', 'b', 'd'], 3);
    const e = shardCountEntry(4, 8, map);
    assert.equal(e.index, 4);
    assert.equal(e.term, 1);
    const c = decodeCommand(e.data).c;
    assert.equal(c.t, 'batch');
    const ops = (c as { ops: Array<{ key: Uint8Array; value: Uint8Array }> }).ops;
    assert.deepEqual(JSON.parse(Buffer.from(ops[0].value).toString()), { shards: 8 });
    assert.deepEqual(Buffer.from(ops[1].key), Buffer.from(SHARD_MAP_KEY));
    assert.deepEqual(JSON.parse(Buffer.from(ops[1].value).toString()), map);
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
  });
});

describe('the shard map', () => {
  const counts = (m: ShardMap) => {
    const n = new Map<string, number>();
    for (const r of m.shards) for (const id of r) n.set(id, (n.get(id) ?? 0) + 1);
    return n;
  };

  it('founds with epoch 1, R distinct replicas per shard, balanced over the members', () => {
    const m = foundingShardMap(8, ['n3', 'n1', 'n4', 'n2'], 3);
    assert.equal(m.epoch, 1);
    assert.deepEqual(m.members, ['n1', 'n2', 'n3', 'n4']);
    for (const r of m.shards) assert.equal(new Set(r).size, 3);
    assert.deepEqual([...counts(m).values()], [6, 6, 6, 6]);
    assert.deepEqual(foundingShardMap(8, ['n1', 'n2', 'n3', 'n4'], 3), m, 'every founder computes the same map');
  });

  it('is planned again only when the members change, moving few replicas; the epoch rises by one', () => {
    const m = foundingShardMap(8, ['n1', 'n2', 'n3', 'n4'], 3);
    assert.equal(nextShardMap(m, ['n4', 'n3', 'n2', 'n1']), undefined);
    const joined = nextShardMap(m, ['n1', 'n2', 'n3', 'n4', 'n5'])!;
    assert.equal(joined.epoch, 2);
    const moved = joined.shards.reduce((n, r, i) => n + r.filter((id) => !m.shards[i].includes(id)).length, 0);
    assert.equal(moved, counts(joined).get('n5'), 'only the newcomer gains replicas');
    assert.ok(moved >= 4 && moved <= 5, `24 replicas over 5 members: the newcomer takes 4 or 5 (took ${moved})`);
    const left = nextShardMap(joined, ['n1', 'n2', 'n3', 'n5'])!;
    assert.equal(left.epoch, 3);
    for (const r of left.shards) assert.ok(!r.includes('n4') && r.length === 3);
  });

  it('of a cluster that wrote none puts every member on every shard, and the first planned map keeps that when R covers them', () => {
    const d = defaultShardMap(4, ['b', 'a', 'c'], 3);
    assert.equal(d.epoch, 0);
    assert.deepEqual(d.shards, [['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']]);
    const first = nextShardMap(d, ['a', 'b', 'c'])!;
    assert.equal(first.epoch, 1, 'epoch 0 is never kept: the leader writes the first real map');
    for (const [i, r] of first.shards.entries()) assert.deepEqual([...r].sort(), d.shards[i]);
  });
});

describe('shard group ids', () => {
  it('are s<i>, and the one shard is g0', () => {
    assert.equal(shardGroupId(0, 1), 'g0');
    assert.deepEqual([0, 1, 2].map((i) => shardGroupId(i, 3)), ['s0', 's1', 's2']);
  });
});

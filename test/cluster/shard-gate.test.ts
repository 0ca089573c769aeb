// The membership gate and the cluster status with shards hosted elsewhere: a change of members waits until
// every shard has taken the last one — the shards hosted here as their copies see them, the others as their
// leaders last answered (no word from a shard's leader counts as behind); the status shows every shard, each
// with where it stands against the map, and counts them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RaftClusterService, type ShardsElsewhere } from '../../src/cluster/cluster-service.ts';
import { DEFAULTS } from '../../src/cluster/config.ts';
import type { RaftGroup } from '../../src/cluster/raft-group.ts';
import type { ShardView } from '../../src/cluster/shard-view.ts';
import type { ConfState } from '../../src/raft/types.ts';

const group = (conf: ConfState, leader = 'a') =>
  ({
    node: {
      confState: () => conf,
      status: () => ({ role: leader === 'a' ? 'leader' : 'follower', leader, term: 2, commit: 7, applied: 7, progress: undefined }),
    },
  }) as unknown as RaftGroup;

const view = (conf: ConfState, role = 'leader'): ShardView => ({ seenFrom: 'c', role, leader: 'c', ...conf, term: 2, commitIndex: 5, appliedIndex: 5, keys: 10, bytes: 100 });

/** Members a, b, c, d; this node is a and hosts s0; s1 lives on b, c, d. */
function service(seen: { view: ShardView; fromLeader: boolean } | undefined) {
  const members: ConfState = { voters: ['a', 'b', 'c', 'd'], learners: [] };
  const elsewhere: ShardsElsewhere = { refresh: async () => {}, get: (shard) => (shard === 1 ? seen : undefined) };
  return new RaftClusterService({ ...DEFAULTS, nodeId: 'a', clusterId: 'x' } as never, group(members), new Map(), { stats: () => ({ peers: {} }) }, '127.0.0.1:1', () => undefined, {
    running: () => [{ id: 's0', group: group({ voters: ['a', 'b', 'c'], learners: [] }), size: () => ({ keys: 3, bytes: 30 }) }],
    map: () => ({
      epoch: 4,
      members: ['a', 'b', 'c', 'd'],
      committedMembers: ['a', 'b', 'c', 'd'],
      replicas: 3,
      shards: [
        { id: 's0', replicas: ['a', 'b', 'c'] },
        { id: 's1', replicas: ['c', 'b', 'd'] },
      ],
    }),
    elsewhere,
  });
}

describe('the membership gate with shards hosted elsewhere', () => {
  it('a shard hosted elsewhere counts as behind until its leader has answered, and while its members differ from the map\'s', () => {
    assert.deepEqual(service(undefined).shardsBehind('x'), ['s1 (no word from its leader)']);
    assert.deepEqual(service({ view: view({ voters: ['b', 'c', 'd'], learners: [] }, 'follower'), fromLeader: false }).shardsBehind('x'), ['s1 (no word from its leader)']);
    assert.deepEqual(service({ view: view({ voters: ['a', 'b', 'c'], learners: ['d'] }), fromLeader: true }).shardsBehind('x'), ['s1']);
    assert.deepEqual(service({ view: view({ voters: ['b', 'c', 'd'], learners: [] }), fromLeader: true }).shardsBehind('x'), []);
  });

  it('the status shows the shard hosted elsewhere as its replica answered, and counts the shards by move state', async () => {
    const running = await service({ view: view({ voters: ['a', 'b', 'c'], learners: ['d'] }), fromLeader: true }).status();
    const s1 = running.shards[1];
    assert.deepEqual([s1.hosted, s1.seenFrom, s1.leader, s1.keys, s1.move, s1.following], [false, 'c', 'c', 10, 'running', false]);
    assert.deepEqual([running.shards[0].hosted, running.shards[0].move], [true, 'settled']);
    assert.deepEqual(running.rebalance, { epoch: 4, settled: 1, planned: 0, running: 1, unknown: 0 });
    const unseen = await service(undefined).status();
    assert.deepEqual([unseen.shards[1].leader, unseen.shards[1].move], [null, undefined]);
    assert.deepEqual(unseen.rebalance, { epoch: 4, settled: 1, planned: 0, running: 0, unknown: 1 });
  });
});

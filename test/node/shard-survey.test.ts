// The view of shards hosted elsewhere: asked of their replicas, connected ones first; a replica naming another
// as leader sends the next question there; only a view its leader gave counts as the leader's; one round at a
// time, and no new round while the last is fresh.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ShardSurvey } from '../../src/node/shard-survey.ts';
import type { ShardView } from '../../src/cluster/shard-view.ts';
import { moveState } from '../../src/cluster/shard-view.ts';

const view = (from: string, leader: string | null): ShardView => ({
  seenFrom: from, role: from === leader ? 'leader' : 'follower', leader, voters: ['b', 'c', 'd'], learners: [], term: 1, commitIndex: 1, appliedIndex: 1, keys: 0, bytes: 0,
});

function survey(p: { replicas: string[]; down?: string[]; answers: Record<string, ShardView | undefined> }) {
  const asked: string[] = [];
  const s = new ShardSurvey({
    self: 'a',
    elsewhere: () => [{ shard: 0, replicas: p.replicas }],
    connected: (id) => !(p.down ?? []).includes(id),
    ask: async (to) => {
      asked.push(to);
      return p.answers[to];
    },
    askMs: 10,
  });
  return { s, asked };
}

describe('ShardSurvey', () => {
  it('asks connected replicas first, follows the leader a follower names, and keeps the leader\'s view', async () => {
    const { s, asked } = survey({ replicas: ['b', 'c', 'd'], down: ['b'], answers: { c: view('c', 'd'), d: view('d', 'd') } });
    await s.refresh(1000);
    assert.deepEqual(asked, ['c', 'd']);
    const got = s.get(0, 1000)!;
    assert.equal(got.fromLeader, true);
    assert.equal(got.view.seenFrom, 'd');
  });

  it('with no leader answering, keeps a follower\'s view, marked as not the leader\'s; every replica asked once', async () => {
    const { s, asked } = survey({ replicas: ['b', 'c', 'd'], answers: { b: view('b', 'c'), c: undefined, d: view('d', null) } });
    await s.refresh(1000);
    assert.deepEqual(asked, ['b', 'c', 'd']);
    assert.equal(s.get(0, 1000)!.fromLeader, false);
  });

  it('nothing answered: nothing kept; a view older than asked for is not given', async () => {
    const { s } = survey({ replicas: ['b'], answers: {} });
    await s.refresh(1000);
    assert.equal(s.get(0, 1000), undefined);
    const t = survey({ replicas: ['b'], answers: { b: view('b', 'b') } });
    await t.s.refresh(1000);
    assert.ok(t.s.get(0, 1000));
    assert.equal(t.s.get(0, 1000, Date.now() + 1001), undefined);
  });

  it('one question per shard at a time; none again while the last started less than maxAge ago; a shard newly elsewhere is asked at once', async () => {
    const { s, asked } = survey({ replicas: ['b'], answers: { b: view('b', 'b') } });
    await Promise.all([s.refresh(1000), s.refresh(1000)]);
    await s.refresh(1000);
    assert.deepEqual(asked, ['b']);
    await s.refresh(0);
    assert.deepEqual(asked, ['b', 'b']);
    const shards = [{ shard: 0, replicas: ['b'] }];
    const t = new ShardSurvey({ self: 'a', elsewhere: () => shards, connected: () => true, ask: async (to) => view(to, to), askMs: 10 });
    await t.refresh(1000);
    shards.push({ shard: 1, replicas: ['c'] });
    await t.refresh(1000);
    assert.equal(t.get(1, 1000)?.view.seenFrom, 'c');
  });
});

describe('moveState', () => {
  const conf = (voters: string[], learners: string[] = []) => ({ voters, learners });
  it('settled on exactly the replicas, running while a learner catches up or a replaced voter is still in, planned before', () => {
    assert.equal(moveState(['a', 'b', 'c'], conf(['c', 'b', 'a'])), 'settled');
    assert.equal(moveState(['a', 'b', 'd'], conf(['a', 'b', 'c'])), 'planned');
    assert.equal(moveState(['a', 'b', 'd'], conf(['a', 'b', 'c'], ['d'])), 'running');
    assert.equal(moveState(['a', 'b', 'd'], conf(['a', 'b', 'c', 'd'])), 'running');
    assert.equal(moveState(['a', 'b', 'c'], conf(['a', 'b', 'c'], ['x'])), 'running');
    assert.equal(moveState(['a', 'b', 'c'], conf(['a', 'b'])), 'planned');
  });
});

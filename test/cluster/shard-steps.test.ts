// The shard steward's policy: what a shard's leader changes next so the shard's membership follows the
// metadata group's, and who should lead each shard.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { catchingUp, nextShardStep, replicaFate, shardFollows, type ShardProgress, type ShardStepInput } from '../../src/cluster/shard-steps.ts';
import type { ConfState } from '../../src/raft/types.ts';

const conf = (voters: string[], learners: string[] = []): ConfState => ({ voters, learners });
const upToDate = (ids: string[], match = 100): Record<string, ShardProgress> => Object.fromEntries(ids.map((id) => [id, { match, recentActive: true }]));

function input(p: Partial<ShardStepInput> & Pick<ShardStepInput, 'want' | 'have'>): ShardStepInput {
  const all = [...new Set([...p.have.voters, ...p.have.learners])];
  return { self: 'a', progress: upToDate(all), lastIndex: 100, maxPromotionLag: 10, ...p };
}

describe('nextShardStep', () => {
  it('a member the shard lacks joins as a learner first, the smallest id first', () => {
    assert.deepEqual(nextShardStep(input({ want: conf(['a', 'b', 'd', 'c']), have: conf(['a', 'b']) })), { change: { type: 'addLearner', node: 'c' } });
  });

  it('a caught-up learner wanted as a voter is promoted; one that lags, is silent or is wanted as a learner is not', () => {
    const want = conf(['a', 'b', 'c']);
    const have = conf(['a', 'b'], ['c']);
    assert.deepEqual(nextShardStep(input({ want, have })), { change: { type: 'addVoter', node: 'c' } });
    assert.equal(nextShardStep(input({ want, have, progress: { ...upToDate(['a', 'b']), c: { match: 80, recentActive: true } } })), undefined);
    assert.equal(nextShardStep(input({ want, have, progress: { ...upToDate(['a', 'b']), c: { match: 100, recentActive: false } } })), undefined);
    assert.equal(nextShardStep(input({ want: conf(['a', 'b'], ['c']), have })), undefined);
  });

  it('a replica the map drops is removed only once every replica it wants is a voter', () => {
    const want = conf(['a', 'b', 'd']);
    const lagging = { ...upToDate(['a', 'b', 'c']), d: { match: 10, recentActive: true } };
    assert.equal(nextShardStep(input({ want, have: conf(['a', 'b', 'c'], ['d']), progress: lagging })), undefined, 'd still catching up: c stays');
    assert.deepEqual(nextShardStep(input({ want, have: conf(['a', 'b', 'c', 'd']) })), { change: { type: 'remove', node: 'c' } });
  });

  it('a learner that has acknowledged nothing is not promoted, however short the log', () => {
    const want = conf(['a', 'b']);
    const have = conf(['a'], ['b']);
    const fresh = { a: { match: 3, recentActive: true }, b: { match: 0, recentActive: true } };
    assert.equal(nextShardStep(input({ want, have, progress: fresh, lastIndex: 3 })), undefined);
    assert.deepEqual(nextShardStep(input({ want, have, progress: { ...fresh, b: { match: 3, recentActive: true } }, lastIndex: 3 })), { change: { type: 'addVoter', node: 'b' } });
  });

  it('adds come before removals, so a shard never has fewer replicas than before', () => {
    assert.deepEqual(nextShardStep(input({ want: conf(['a', 'b', 'd']), have: conf(['a', 'b', 'c']) })), { change: { type: 'addLearner', node: 'd' } });
    assert.deepEqual(nextShardStep(input({ want: conf(['a', 'b', 'd']), have: conf(['a', 'b', 'c'], ['d']) })), { change: { type: 'addVoter', node: 'd' } });
    assert.deepEqual(nextShardStep(input({ want: conf(['a', 'b', 'd']), have: conf(['a', 'b', 'c', 'd']) })), { change: { type: 'remove', node: 'c' } });
  });

  it('a voter wanted only as a learner is removed (Raft does not demote in one step), and comes back as a learner', () => {
    assert.deepEqual(nextShardStep(input({ want: conf(['a', 'b'], ['c']), have: conf(['a', 'b', 'c']) })), { change: { type: 'remove', node: 'c' } });
    assert.deepEqual(nextShardStep(input({ want: conf(['a', 'b'], ['c']), have: conf(['a', 'b']) })), { change: { type: 'addLearner', node: 'c' } });
  });

  it('a leader that must go hands leadership to a caught-up wanted voter first, and waits when there is none', () => {
    assert.deepEqual(nextShardStep(input({ want: conf(['b', 'c']), have: conf(['a', 'b', 'c']) })), { transferTo: 'b' });
    const lagging = { a: { match: 100, recentActive: true }, b: { match: 10, recentActive: true }, c: { match: 100, recentActive: false } };
    assert.equal(nextShardStep(input({ want: conf(['b', 'c']), have: conf(['a', 'b', 'c']), progress: lagging })), undefined);
  });

  it('a single-voter shard moved to another member: the newcomer joins, is promoted, is handed leadership, then removes the old one', () => {
    const want = conf(['b']);
    assert.deepEqual(nextShardStep(input({ want, have: conf(['a']) })), { change: { type: 'addLearner', node: 'b' } });
    assert.deepEqual(nextShardStep(input({ want, have: conf(['a'], ['b']) })), { change: { type: 'addVoter', node: 'b' } });
    assert.deepEqual(nextShardStep(input({ want, have: conf(['a', 'b']) })), { transferTo: 'b' });
    assert.deepEqual(nextShardStep(input({ self: 'b', want, have: conf(['a', 'b']) })), { change: { type: 'remove', node: 'a' } });
  });

  it('with membership settled, leadership goes to the preferred voter when it is active and caught up', () => {
    const settled = { want: conf(['a', 'b', 'c']), have: conf(['a', 'b', 'c']) };
    assert.deepEqual(nextShardStep(input({ ...settled, preferred: 'b' })), { transferTo: 'b' });
    assert.equal(nextShardStep(input({ ...settled, preferred: 'a' })), undefined);
    assert.equal(nextShardStep(input({ ...settled, preferred: 'b', progress: { ...upToDate(['a', 'c']), b: { match: 100, recentActive: false } } })), undefined);
    assert.equal(nextShardStep(input({ ...settled, preferred: 'b', progress: { ...upToDate(['a', 'c']), b: { match: 50, recentActive: true } } })), undefined);
  });

  it('throttled, it adds no learner and removes nothing until it may, but promotes (which frees the throttle)', () => {
    const want = conf(['a', 'b', 'd']);
    assert.equal(nextShardStep(input({ want, have: conf(['a', 'b']), mayAddLearner: false })), undefined);
    assert.equal(nextShardStep(input({ want, have: conf(['a', 'b', 'c']), mayAddLearner: false })), undefined, 'c stays until d can come');
    assert.deepEqual(nextShardStep(input({ want, have: conf(['a', 'b'], ['d']), mayAddLearner: false })), { change: { type: 'addVoter', node: 'd' } });
    assert.equal(catchingUp(want, conf(['a', 'b'], ['d'])), true);
    assert.equal(catchingUp(conf(['a', 'b'], ['d']), conf(['a', 'b'], ['d'])), false, 'a learner wanted as a learner is not catching up to anything');
  });

  it('carried out step by step, it reaches the wanted membership from any start, never dropping below the voters both share', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const member = fc.constantFrom<'voter' | 'learner' | 'none'>('voter', 'learner', 'none');
    const layout = fc.tuple(...ids.map(() => member));
    fc.assert(
      fc.property(layout, layout, (w, h) => {
        const pick = (l: typeof w, r: string) => ids.filter((_, i) => l[i] === r);
        const want = conf(pick(w, 'voter'), pick(w, 'learner'));
        let have = conf(pick(h, 'voter'), pick(h, 'learner'));
        if (want.voters.length === 0 || have.voters.length === 0) return;
        let self = have.voters[0];
        const floor = Math.min(have.voters.length, want.voters.filter((v) => have.voters.includes(v)).length || 1);
        for (let i = 0; i < 30; i++) {
          const all = [...have.voters, ...have.learners];
          const step = nextShardStep({ self, want, have, progress: upToDate(all), lastIndex: 100, maxPromotionLag: 0, preferred: [...want.voters].sort()[0] });
          if (!step) break;
          if ('transferTo' in step) {
            assert.ok(have.voters.includes(step.transferTo));
            self = step.transferTo;
            continue;
          }
          const { type, node } = step.change;
          if (type === 'addLearner') have = conf(have.voters, [...have.learners, node]);
          else if (type === 'addVoter') have = conf([...have.voters, node], have.learners.filter((l) => l !== node));
          else if (type === 'remove') {
            assert.notEqual(node, self, 'a leader never removes itself: it hands over first');
            have = conf(have.voters.filter((v) => v !== node), have.learners.filter((l) => l !== node));
          }
          assert.ok(have.voters.length >= floor, `voters ${have.voters} fell below ${floor}`);
        }
        assert.deepEqual([...have.voters].sort(), [...want.voters].sort());
        assert.deepEqual([...have.learners].sort(), [...want.learners].sort());
        assert.equal(self, [...want.voters].sort()[0]);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('shardFollows', () => {
  it('a shard follows when its voters and learners are the metadata group\'s, in any order', () => {
    assert.equal(shardFollows(conf(['a', 'b', 'c']), conf(['c', 'a', 'b'])), true);
    assert.equal(shardFollows(conf(['a', 'b'], ['c']), conf(['a', 'b'], ['c'])), true);
    assert.equal(shardFollows(conf(['a', 'b', 'c']), conf(['a', 'b'], ['c'])), false, 'a learner not yet promoted');
    assert.equal(shardFollows(conf(['a', 'b']), conf(['a', 'b', 'c'])), false, 'a removal not yet done');
    assert.equal(shardFollows(conf(['a', 'b', 'd']), conf(['a', 'b'])), false, 'an addition not yet begun');
  });

  it('leaving the member of the next change aside, so an addition a shard could not finish can be undone', () => {
    assert.equal(shardFollows(conf(['a', 'b', 'd']), conf(['a', 'b'], ['d']), 'd'), true);
    assert.equal(shardFollows(conf(['a', 'b', 'd']), conf(['a', 'b', 'c'], ['d']), 'd'), false, 'c is still to be removed');
  });
});

describe('replicaFate', () => {
  const base = { self: 'c', replicas: ['a', 'b', 'd'], removedItself: false, lastIndex: 50, applied: 50 };
  it('keeps a copy the map names, whatever else holds', () => {
    assert.equal(replicaFate({ ...base, replicas: ['a', 'c'], removedItself: true }), 'keep');
  });

  it('deletes a dropped copy that applied its own removal and holds nothing past it; asks otherwise', () => {
    assert.equal(replicaFate({ ...base, removedItself: true }), 'delete');
    assert.equal(replicaFate({ ...base, removedItself: true, lastIndex: 51 }), 'ask', 'an entry past the removal may be the leader adding it back');
    assert.equal(replicaFate(base), 'ask', 'a configuration without it proves nothing');
  });

  it('deletes on an answer that leaves it out at an index at or past its whole log, and only then', () => {
    assert.equal(replicaFate({ ...base, answer: { applied: 50, members: ['a', 'b', 'd'] } }), 'delete');
    assert.equal(replicaFate({ ...base, answer: { applied: 49, members: ['a', 'b', 'd'] } }), 'ask');
    assert.equal(replicaFate({ ...base, answer: { applied: 60, members: ['a', 'c'] } }), 'ask');
  });
});

// The leader's membership policy: learners first, promotion up to the voter target, removal of the dead.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planMembershipChange, type GossipMember, type PlanInput } from '../../src/cluster/membership-plan.ts';

const alive = (id: string, since = 0): GossipMember => ({ id, state: 'alive', since, raftAddr: `127.0.0.1:${7000 + Number(id.slice(1))}` });
const dead = (id: string, since: number): GossipMember => ({ id, state: 'dead', since });

function input(over: Partial<PlanInput>): PlanInput {
  return {
    self: 'n1',
    conf: { voters: ['n1'], learners: [] },
    lagOf: () => 0,
    gossip: [alive('n1')],
    now: 100_000,
    targetVoters: 3,
    deadNodeTimeoutMs: 30_000,
    maxPromotionLag: 100,
    addressOf: (id) => `127.0.0.1:${7000 + Number(id.slice(1))}`,
    ...over,
  };
}

describe('membership plan', () => {
  it('a live gossip member unknown to Raft joins as a learner, with its raft address', () => {
    const c = planMembershipChange(input({ gossip: [alive('n1'), alive('n2')] }));
    assert.deepEqual(c, { type: 'addLearner', node: 'n2', context: '127.0.0.1:7002' });
  });

  it('a member whose gossip announces another raft address than the committed one gets it updated, before anything else', () => {
    const moved = { ...alive('n2'), raftAddr: '127.0.0.1:9999' };
    const conf = { voters: ['n1'], learners: ['n2'] };
    assert.deepEqual(planMembershipChange(input({ conf, gossip: [alive('n1'), moved] })), { type: 'update', node: 'n2', context: '127.0.0.1:9999' });
    assert.deepEqual(planMembershipChange(input({ conf, gossip: [alive('n1'), moved], addressOf: (id) => (id === 'n2' ? '127.0.0.1:9999' : '127.0.0.1:7001') })), { type: 'addVoter', node: 'n2' }, 'once committed, the plan moves on');
    assert.equal(planMembershipChange(input({ conf: { voters: ['n1'], learners: [] }, gossip: [alive('n1'), { ...moved, state: 'suspect' }], targetVoters: 1 })), undefined, 'only live members, and only members of Raft');
  });

  it('a caught-up learner is promoted while voters are fewer than the target', () => {
    assert.deepEqual(planMembershipChange(input({ conf: { voters: ['n1'], learners: ['n2'] }, gossip: [alive('n1'), alive('n2')] })), { type: 'addVoter', node: 'n2' });
  });

  it('a lagging learner waits', () => {
    const c = planMembershipChange(input({ conf: { voters: ['n1'], learners: ['n2'] }, gossip: [alive('n1'), alive('n2')], lagOf: () => 5000 }));
    assert.equal(c, undefined);
  });

  it('further nodes stay learners once the target is reached', () => {
    const c = planMembershipChange(input({ conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] }, gossip: ['n1', 'n2', 'n3', 'n4'].map((i) => alive(i)) }));
    assert.equal(c, undefined);
  });

  it('a voter dead past the timeout is replaced: first the learner is promoted, then the dead voter removed', () => {
    const base = { gossip: [alive('n1'), alive('n2'), dead('n3', 50_000), alive('n4')] };
    const first = planMembershipChange(input({ ...base, conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } }));
    assert.deepEqual(first, { type: 'addVoter', node: 'n4' });
    const second = planMembershipChange(input({ ...base, conf: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] } }));
    assert.deepEqual(second, { type: 'remove', node: 'n3' });
  });

  it('a voter dead for less than the timeout is kept', () => {
    const c = planMembershipChange(input({ conf: { voters: ['n1', 'n2', 'n3'], learners: [] }, gossip: [alive('n1'), alive('n2'), dead('n3', 90_000)] }));
    assert.equal(c, undefined);
  });

  it('a member that left gracefully is removed at once', () => {
    const c = planMembershipChange(input({ conf: { voters: ['n1', 'n2', 'n3'], learners: [] }, gossip: [alive('n1'), alive('n2'), { id: 'n3', state: 'left', since: 99_999 }] }));
    assert.deepEqual(c, { type: 'remove', node: 'n3' });
  });

  it('a suspect member is neither promoted nor removed', () => {
    const gossip: GossipMember[] = [alive('n1'), { id: 'n2', state: 'suspect', since: 0 }];
    assert.equal(planMembershipChange(input({ conf: { voters: ['n1'], learners: ['n2'] }, gossip })), undefined);
  });

  it('never removes itself or the last voter', () => {
    assert.equal(planMembershipChange(input({ gossip: [{ id: 'n1', state: 'dead', since: 0 }] })), undefined);
  });
});

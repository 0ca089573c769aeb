// Quiescence: an idle group with every member caught up stops heartbeating and stops its election timers;
// anything but its own quieting heartbeat and heartbeat answers wakes it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, enc } from './harness.ts';
import { MessageType } from '../../src/raft/types.ts';

const QUIET = 5;
const quietCluster = () => {
  const c = new TestCluster(['a', 'b', 'c'], { quiesceAfterTicks: QUIET });
  c.elect('a');
  c.get('a').propose(enc('x'));
  c.stabilize();
  return c;
};
const allQuiet = (c: TestCluster) => ['a', 'b', 'c'].every((id) => c.get(id).quiesced());

describe('quiescence', () => {
  it('an idle group goes quiet after quiesceAfterTicks: no message and no election for as long as it stays idle', () => {
    const c = quietCluster();
    c.tick('all', QUIET + 1);
    assert.ok(allQuiet(c));
    const term = c.get('a').status().term;
    c.delivered = [];
    c.tick('all', 200);
    assert.deepEqual(c.delivered, [], 'not a message in 20 election timeouts');
    assert.equal(c.leader(), 'a');
    assert.equal(c.get('b').status().term, term);
  });

  it('never goes quiet with the feature off, or while a member is behind or silent', () => {
    const off = new TestCluster(['a', 'b', 'c']);
    off.elect('a');
    off.tick('all', 50);
    assert.equal(off.get('a').quiesced(), false);

    const c = quietCluster();
    c.isolate('c');
    c.get('a').propose(enc('y')); // c misses it
    c.stabilize();
    c.tick(['a', 'b'], 50);
    assert.equal(c.get('a').quiesced(), false, 'c is behind: the leader keeps heartbeating');
    c.heal();
    c.tick('all', QUIET + 3);
    assert.ok(allQuiet(c), 'caught up, the group goes quiet');
    assert.deepEqual(c.appliedData('c').slice(-2), ['x', 'y']);
  });

  it('a proposal on a follower wakes the group; it is applied everywhere and the group goes quiet again', () => {
    const c = quietCluster();
    c.tick('all', QUIET + 1);
    c.get('b').propose(enc('later'));
    c.stabilize();
    assert.ok(!c.get('a').quiesced());
    assert.deepEqual(c.appliedData('c').slice(-1), ['later']);
    c.tick('all', QUIET + 2);
    assert.ok(allQuiet(c));
  });

  it('a linearizable read wakes the leader and is answered', () => {
    const c = quietCluster();
    c.tick('all', QUIET + 1);
    c.get('c').readIndex(7);
    c.stabilize();
    assert.deepEqual(c.nodes.get('c')!.readStates.map((r) => r.context), [7]);
  });

  it('a quiet group whose leader died: wake() starts the followers\' timers and they elect a new leader', () => {
    const c = quietCluster();
    c.tick('all', QUIET + 1);
    c.isolate('a');
    c.tick(['b', 'c'], 100);
    assert.equal(c.get('b').status().leader, 'a', 'quiet followers do not notice by themselves');
    c.get('b').wake();
    c.get('c').wake();
    c.tick(['b', 'c'], 40);
    const l = c.get('b').status().leader;
    assert.ok(l === 'b' || l === 'c', `new leader ${l}`);
    c.get(l).propose(enc('after'));
    c.stabilize();
    assert.deepEqual(c.appliedData(l === 'b' ? 'c' : 'b').slice(-1), ['after']);
  });

  it('a follower restarted while the group is quiet wakes the leader with its pre-vote and learns of it, with no new term', () => {
    const c = quietCluster();
    c.tick('all', QUIET + 1);
    const term = c.get('a').status().term;
    c.restart('c');
    c.tick(['c'], 30); // its timer runs out: it pre-votes
    c.tick('all', 3);
    assert.equal(c.get('c').status().leader, 'a');
    assert.equal(c.get('a').status().term, term);
    assert.ok(c.delivered.some((m) => m.type === MessageType.PreVote && m.from === 'c'));
  });
});

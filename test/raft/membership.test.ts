// Learners, single-server membership changes (thesis §4.1) and leadership transfer (thesis §3.10).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, enc } from './harness.ts';
import { EntryType, MessageType, RaftError, type Message } from '../../src/raft/types.ts';

describe('learners', () => {
  it('a learner receives the log but neither votes nor counts toward a quorum', () => {
    const c = new TestCluster(['a', 'b', 'c'], { learners: ['l'] });
    c.elect('a');
    c.isolate('b');
    c.isolate('c');
    c.get('a').propose(enc('x'));
    c.stabilize();
    assert.deepEqual(c.appliedData('a'), [], 'a and the learner are not a majority of the voters');
    c.heal();
    c.tick('all', 2);
    assert.deepEqual(c.appliedData('l'), ['x'], 'the learner catches up');
    c.filters.push(() => true);
    c.tick(['l'], 50);
    assert.equal(c.get('l').status().role, 'follower', 'a learner never campaigns');
  });

  it('a new node added as a learner catches up from the log, then is promoted to voter', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').propose(enc('before'));
    c.stabilize();
    c.get('a').proposeConfChange({ type: 'addLearner', node: 'd' });
    c.add('d');
    c.stabilize();
    c.tick('all', 2);
    assert.deepEqual(c.appliedData('d'), ['before']);
    assert.deepEqual(c.get('d').confState(), { voters: ['a', 'b', 'c'], learners: ['d'] }, 'the learner learned the membership from the log');
    c.get('a').proposeConfChange({ type: 'addVoter', node: 'd' });
    c.stabilize();
    assert.deepEqual(c.get('a').confState().voters, ['a', 'b', 'c', 'd']);
  });
});

describe('§4.1 single-server membership changes', () => {
  it('an update carries a member\'s new context through the log and changes no membership', () => {
    const c = new TestCluster(['a', 'b', 'c'], { learners: ['l'] });
    c.elect('a');
    for (const node of ['b', 'l']) {
      c.get('a').proposeConfChange({ type: 'update', node, context: `${node}-new-address` });
      c.stabilize();
    }
    for (const id of ['a', 'b', 'c', 'l']) assert.deepEqual(c.get(id).confState(), { voters: ['a', 'b', 'c'], learners: ['l'] }, id);
    assert.equal(c.get('a').status().role, 'leader', 'no election');
    assert.throws(() => c.get('a').proposeConfChange({ type: 'update', node: 'x', context: 'addr' }), /x is not a member/);
  });


  it('only one change may be pending at a time', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.filters.push((m) => m.type === MessageType.AppResp);
    c.get('a').proposeConfChange({ type: 'addLearner', node: 'd' });
    assert.throws(() => c.get('a').proposeConfChange({ type: 'addLearner', node: 'e' }), (e: unknown) => e instanceof RaftError && e.code === 'conf-change-pending');
  });

  it('a new leader accepts no change until an entry of its term is applied', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.filters.push((m) => m.type === MessageType.AppResp);
    c.elect('a');
    assert.throws(() => c.get('a').proposeConfChange({ type: 'remove', node: 'c' }), /membership change is in progress/);
  });

  it('removing a voter shrinks the quorum', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd']);
    c.elect('a');
    c.get('a').proposeConfChange({ type: 'remove', node: 'd' });
    c.stabilize();
    c.isolate('c');
    c.isolate('d');
    c.get('a').propose(enc('x'));
    c.stabilize();
    assert.deepEqual(c.appliedData('a'), ['x'], 'a and b are a majority of {a, b, c}');
  });

  it('a leader that applies its own removal steps down and the rest elect a new leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').proposeConfChange({ type: 'remove', node: 'a' });
    c.stabilize();
    assert.equal(c.get('a').status().role, 'follower');
    c.isolate('a');
    c.tick(['b', 'c'], 40);
    assert.ok(['b', 'c'].includes(c.leader() ?? ''));
  });

  it('removing the leader transfers leadership first; the new leader carries out the removal', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').propose(enc('before'));
    c.stabilize();
    c.delivered = [];
    c.get('a').proposeConfChange({ type: 'remove', node: 'a' });
    c.stabilize(); // no ticks: no election timeout is waited out
    const next = c.leader();
    assert.ok(next === 'b' || next === 'c', `leader is ${next}`);
    assert.ok(c.delivered.some((m) => m.type === MessageType.TimeoutNow && m.from === 'a'), 'handed over by TimeoutNow');
    assert.deepEqual(c.get(next!).confState().voters, ['b', 'c'].sort());
  });

  it('a removed follower learns that it was removed: the leader tells it the commit index once more as it lets go', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').proposeConfChange({ type: 'remove', node: 'c' });
    c.stabilize(); // no ticks: nothing but the removal's own round trips
    assert.deepEqual(c.get('a').confState().voters, ['a', 'b']);
    assert.deepEqual(c.get('c').confState().voters, ['a', 'b'], 'c applied its own removal');
  });

  it('invalid changes are refused', () => {
    const c = new TestCluster(['a']);
    c.elect('a');
    assert.throws(() => c.get('a').proposeConfChange({ type: 'addVoter', node: 'a' }), /already a voter/);
    assert.throws(() => c.get('a').proposeConfChange({ type: 'remove', node: 'zz' }), /not a member/);
    assert.throws(() => c.get('a').proposeConfChange({ type: 'remove', node: 'a' }), /last voter/);
  });
});

describe('leadership transfer (thesis §3.10)', () => {
  it('the leader brings the target up to date, then sends TimeoutNow and the target wins at once', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.get('a').propose(enc('x'));
    c.stabilize();
    c.heal();
    c.get('a').transferLeader('c');
    c.stabilize();
    assert.equal(c.leader(), 'c');
    assert.deepEqual(c.appliedData('c'), ['x']);
  });

  it('proposals made during a transfer are held, then appended by the new leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.filters.push((m) => m.type === MessageType.TimeoutNow); // hold the transfer open
    c.get('a').transferLeader('c');
    c.stabilize();
    c.get('a').propose(enc('local'));
    c.get('b').propose(enc('forwarded'));
    c.stabilize();
    assert.deepEqual(c.appliedData('a'), [], 'nothing appended while the transfer runs');
    c.heal();
    c.get('c').raft.campaign('transfer'); // what the held-back TimeoutNow would have done
    c.stabilize();
    c.tick('all', 2);
    assert.equal(c.leader(), 'c');
    assert.deepEqual(c.appliedData('c').sort(), ['forwarded', 'local']);
  });

  it('a proposal forwarded to a node that knows no leader (one that just stepped down) is held and goes to the next leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const forwarded = { type: MessageType.Prop, from: 'b', to: 'a', term: 0, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: enc('forwarded') }] };
    c.get('a').step(forwarded); // no leader known yet: held, not refused
    assert.throws(() => c.get('a').propose(enc('own')), /no leader/, 'its own proposal is still refused: its host waits for a leader');
    c.elect('c');
    c.tick('all', 2);
    c.stabilize();
    assert.deepEqual(c.appliedData('c'), ['forwarded']);
  });

  it('a proposal forwarded to a candidate is held, and appended if the candidate wins', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.filters.push((m) => m.type === MessageType.Vote || m.type === MessageType.PreVote); // the election stays open
    c.get('a').campaign();
    c.stabilize();
    assert.notEqual(c.get('a').status().role, 'follower');
    c.get('a').step({ type: MessageType.Prop, from: 'b', to: 'a', term: 0, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: enc('forwarded') }] });
    c.heal();
    c.elect('a');
    c.stabilize();
    assert.deepEqual(c.appliedData('b'), ['forwarded']);
  });

  it('a transfer not done within an election timeout is abandoned and the held proposals are appended', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.get('a').transferLeader('c');
    c.get('b').propose(enc('x'));
    c.stabilize();
    assert.deepEqual(c.appliedData('b'), []);
    c.tick(['a', 'b'], 10);
    assert.equal(c.leader(), 'a');
    assert.deepEqual(c.appliedData('b'), ['x']);
  });

  it('a node that refuses leadership (shutting down) turns a transfer down at once and never campaigns; the leader appends what it held and offers it no more', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('c').raft.refusesLeadership = true;
    c.get('a').transferLeader('c');
    c.get('b').propose(enc('x'));
    c.stabilize();
    assert.equal(c.leader(), 'a', 'c did not campaign on TimeoutNow');
    assert.equal(c.get('a').status().leadTransferee, '', 'the transfer was abandoned on the refusal, not an election timeout later');
    assert.deepEqual(c.appliedData('c'), ['x'], 'the held proposal was appended at once');
    const from = c.delivered.length;
    c.get('a').transferLeader('c');
    c.stabilize();
    assert.equal(c.delivered.slice(from).some((m) => m.type === MessageType.TimeoutNow), false, 'not offered again this term');
    assert.equal(c.get('a').raft.refusedTransfer('c'), true);
    // a goes away: b is elected, never c, however long c waits.
    c.isolate('a');
    c.tick(['b', 'c'], 60);
    assert.equal(c.get('b').status().role, 'leader');
    assert.equal(c.get('c').status().role, 'follower');
  });

  it('a transfer to a learner is refused', () => {
    const c = new TestCluster(['a', 'b'], { learners: ['l'] });
    c.elect('a');
    assert.throws(() => c.get('a').transferLeader('l'), /not a voter/);
  });
});

describe('a replica deleted after its removal and created again empty', () => {
  it('never votes while its log is empty, so a member that missed the removal cannot win with it', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    // b misses everything from here: a and c alone commit 'x' and then c's removal.
    c.isolate('b');
    c.get('a').propose(enc('x'));
    c.stabilize();
    c.get('a').proposeConfChange({ type: 'remove', node: 'c' });
    c.stabilize();
    assert.deepEqual(c.get('a').confState().voters, ['a', 'b']);
    assert.deepEqual(c.appliedData('a'), ['x']);
    // c deletes its copy; a new, empty one of it is created (the shard map gives c the shard again) before a adds it.
    c.add('c');
    const from = c.delivered.length;
    // a goes away; b (which still counts c a voter, and lacks 'x') campaigns and asks c.
    c.heal();
    c.isolate('a');
    c.tick(['b', 'c'], 60);
    assert.notEqual(c.get('b').status().role, 'leader', 'b must not lead without the committed entry x');
    assert.equal(c.delivered.slice(from).some((m) => m.from === 'c' && (m.type === MessageType.VoteResp || m.type === MessageType.PreVoteResp) && !m.reject), false, 'the empty replica granted no vote');
  });

  /**
   * a leads a, b, c and commits x, y, z; c acknowledges them; c is removed, deletes its copy and has a new,
   * empty one, which a adds back as a learner while c is cut off. Returns the old copy's last acknowledgement,
   * still on its way to a.
   */
  function removeAndReAdd(c: TestCluster): Message {
    c.elect('a');
    for (const v of ['x', 'y', 'z']) c.get('a').propose(enc(v));
    c.stabilize();
    const acks = c.delivered.filter((m) => m.from === 'c' && m.type === MessageType.AppResp && !m.reject);
    const late = acks[acks.length - 1];
    assert.equal(late.index, c.get('a').status().lastIndex, 'the old copy acknowledged the whole log');
    c.get('a').proposeConfChange({ type: 'remove', node: 'c' });
    c.stabilize();
    c.add('c');
    c.isolate('c');
    c.get('a').proposeConfChange({ type: 'addLearner', node: 'c' });
    c.stabilize();
    assert.deepEqual(c.get('a').confState().learners, ['c']);
    return late;
  }

  it("an acknowledgement from the deleted copy, arriving after the member is added again, is not the new copy's", () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const late = removeAndReAdd(c);
    c.get('a').step(late);
    assert.equal(c.get('a').status().progress!.c.match, 0, "the deleted copy's log says nothing about the new one");
    c.heal();
    c.tick('all', 3);
    assert.deepEqual(c.appliedData('c'), ['x', 'y', 'z'], 'the new copy catches up under the same leader');
    assert.equal(c.get('c').status().applied, c.get('a').status().lastIndex);
  });

  it('a leader that counts answers from any copy (the broken variant) never catches the new copy up', () => {
    const c = new TestCluster(['a', 'b', 'c'], { testingOnlyBugs: { acceptAnyCopy: true } });
    const late = removeAndReAdd(c);
    c.get('a').step(late);
    assert.equal(c.get('a').status().progress!.c.match, late.index, "the stale ack set the new copy's match");
    c.heal();
    // The leader probes just above the stale match, the empty copy rejects, and round it goes without end.
    assert.throws(() => c.tick('all', 1), /did not stabilize/);
    assert.deepEqual(c.appliedData('c'), [], 'the new copy never catches up');
  });
});

// Log compaction and snapshots (§7), and recovery from persisted state.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, enc } from './harness.ts';
import { MessageType } from '../../src/raft/types.ts';

describe('§7 log compaction', () => {
  it('a follower behind the compacted log receives the snapshot, then the rest of the log', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 20; i++) c.get('a').propose(enc(`v${i}`));
    c.stabilize();
    const a = c.nodes.get('a')!;
    const applied = a.node.status().applied;
    a.storage.createSnapshot(applied, a.node.confState(), enc('state-at-' + applied));
    a.storage.compact(applied);
    c.get('a').propose(enc('after'));
    c.stabilize();
    c.heal();
    c.delivered = [];
    c.tick('all', 3);
    const snaps = c.delivered.filter((m) => m.type === MessageType.Snap && m.to === 'c');
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0].snapshot?.meta.index, applied);
    assert.equal(new TextDecoder().decode(c.nodes.get('c')!.storage.snapshot().data), 'state-at-' + applied);
    assert.deepEqual(c.appliedData('c'), ['after'], 'entries after the snapshot arrive by the log');
    assert.deepEqual(c.nodes.get('c')!.node.confState(), { voters: ['a', 'b', 'c'], learners: [] }, 'the snapshot carries the membership');
  });
});

describe('recovery', () => {
  it('a node rebuilt from its persisted hard state, snapshot and log behaves as before the restart', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 5; i++) c.get('a').propose(enc(`v${i}`));
    c.stabilize();
    const before = c.get('b').status();
    const restarted = c.restart('b');
    const after = restarted.node.status();
    assert.equal(after.term, before.term);
    assert.equal(after.vote, before.vote);
    assert.equal(after.commit, before.commit);
    assert.equal(after.lastIndex, before.lastIndex);
    c.stabilize();
    assert.equal(restarted.applied.length, before.commit, 're-applies every committed entry after a restart from applied = 0');
    c.get('a').propose(enc('later'));
    c.stabilize();
    assert.equal(new TextDecoder().decode(restarted.applied.at(-1)!.data), 'later');
  });

  it('a persisted commit index behind the applied index (not fsynced: only the commit moved) is raised to it on restart', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 5; i++) c.get('a').propose(enc(`v${i}`));
    c.stabilize();
    const before = c.get('b').status();
    const b = c.nodes.get('b')!;
    // The host applied everything but its last commit-only hard state was lost in a crash.
    b.storage.setHardState({ ...b.storage.initialState().hardState, commit: 1 });
    const restarted = c.add('b', b.storage, before.applied);
    assert.equal(restarted.node.status().commit, before.applied);
    c.stabilize();
    assert.equal(restarted.applied.length, 0, 'nothing is applied twice');
    c.get('a').propose(enc('later'));
    c.stabilize();
    assert.deepEqual(c.appliedData('b'), ['later']);
  });

  it('a state machine ahead of the persisted log is refused', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.stabilize();
    const b = c.nodes.get('b')!;
    assert.throws(() => c.add('b', b.storage, b.storage.lastIndex() + 1), /applied \d+ is beyond the persisted log/);
  });

  it('a restarted node does not vote twice in one term', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    c.isolate('c');
    c.elect('a');
    const term = c.get('b').status().term;
    c.restart('b');
    c.heal();
    c.get('b').step({ type: MessageType.Vote, from: 'c', to: 'b', term, index: 1000, logTerm: 1000 });
    const rd = c.get('b').ready();
    assert.ok(rd.messages.some((m) => m.type === MessageType.VoteResp && m.reject), 'the persisted vote for a is kept');
  });

  it('the leader counts its own entry toward a quorum only after persisting it', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    const a = c.get('a'), b = c.get('b');
    a.propose(enc('x'));
    const rdA = a.ready(); // not persisted yet
    for (const m of rdA.messages) c.deliver(m);
    const rdB = b.ready();
    c.nodes.get('b')!.storage.save(rdB);
    b.persisted(rdB);
    b.advance();
    for (const m of rdB.messages) c.deliver(m); // b's acknowledgement reaches a
    const x = rdA.entries[0].index;
    assert.ok(a.status().commit < x, 'b alone is not a majority while a has not persisted');
    c.nodes.get('a')!.storage.save(rdA);
    a.persisted(rdA);
    a.advance();
    assert.equal(a.status().commit, x, 'persisting makes a and b a majority');
  });
});

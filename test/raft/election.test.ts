// Leader election: Raft paper §5.2 and §5.4.1, PreVote (thesis §9.6), CheckQuorum (thesis §6.2).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from './harness.ts';
import { MessageType } from '../../src/raft/types.ts';

describe('§5.2 leader election', () => {
  it('a follower that hears from no leader for an election timeout becomes a candidate', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false });
    c.filters.push(() => true); // nobody hears anybody
    c.tick(['a'], 20); // randomized timeout is in [10, 20)
    assert.equal(c.get('a').status().role, 'candidate');
    assert.equal(c.get('a').status().term, 2);
    assert.equal(c.get('a').status().vote, 'a', 'a candidate votes for itself');
  });

  it('a candidate that wins votes from a majority becomes leader', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], { preVote: false });
    c.filters.push((m) => m.to === 'd' || m.to === 'e' || m.from === 'd' || m.from === 'e');
    c.elect('a'); // b and c are a majority with a
    assert.equal(c.get('a').status().role, 'leader');
  });

  it('a candidate without a majority does not become leader', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], { preVote: false });
    c.filters.push((m) => m.from !== 'a' && m.from !== 'b');
    c.get('a').campaign();
    c.stabilize();
    assert.notEqual(c.get('a').status().role, 'leader');
  });

  it('each server votes for at most one candidate per term', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    c.filters.push((m) => (m.from === 'a' && m.to === 'c') || (m.from === 'c' && m.to === 'a'));
    c.get('a').campaign(); // term 2: b votes for a
    c.get('c').campaign(); // term 2: b has already voted
    c.stabilize();
    const grants = c.delivered.filter((m) => m.type === MessageType.VoteResp && m.from === 'b' && !m.reject && m.term === 2);
    assert.equal(grants.length, 1);
    assert.equal(c.get('b').status().vote, 'a');
  });

  it('§5.4.1 a voter denies its vote to a candidate whose log is less up-to-date', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    c.elect('a');
    c.isolate('c');
    c.get('a').propose(new Uint8Array([1]));
    c.stabilize();
    c.heal();
    c.isolate('a');
    c.get('c').campaign(); // c lacks the entry that b holds
    c.stabilize();
    assert.notEqual(c.get('c').status().role, 'leader');
    assert.ok(c.delivered.some((m) => m.type === MessageType.VoteResp && m.from === 'b' && m.to === 'c' && m.reject));
  });

  it('§5.1 a leader that sees a higher term steps down to follower', () => {
    const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: false });
    c.elect('a');
    c.get('a').step({ type: MessageType.App, from: 'b', to: 'a', term: 9, index: 0, logTerm: 0, commit: 0, entries: [] });
    assert.equal(c.get('a').status().role, 'follower');
    assert.equal(c.get('a').status().term, 9);
  });

  it('randomized timeouts elect a single leader without endless split votes', () => {
    for (let seed = 0; seed < 50; seed++) {
      const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], { seed });
      let ticks = 0;
      while (!c.leader()) {
        c.tick('all', 1);
        assert.ok(++ticks < 200, `no leader after 200 ticks (seed ${seed})`);
      }
      const leaders = [...c.nodes.keys()].filter((id) => c.get(id).status().role === 'leader');
      assert.equal(leaders.length, 1);
    }
  });
});

describe('PreVote (thesis §9.6)', () => {
  it('a partitioned node does not raise its term, and does not disrupt the leader when it returns', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const term = c.get('a').status().term;
    c.isolate('c');
    c.tick(['c'], 100);
    assert.equal(c.get('c').status().term, term, 'pre-elections do not increment the term');
    assert.equal(c.get('c').status().role, 'pre-candidate');
    c.heal();
    c.tick('all', 5);
    assert.equal(c.get('a').status().role, 'leader');
    assert.equal(c.get('a').status().term, term);
  });

  it('without PreVote the same partitioned node inflates its term and deposes the leader', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    c.elect('a');
    const term = c.get('a').status().term;
    c.isolate('c');
    c.tick(['c'], 100);
    assert.ok(c.get('c').status().term > term);
    c.heal();
    c.tick('all', 20);
    assert.ok(c.get('a').status().term > term, 'the old leader was forced into the higher term');
  });
});

describe('CheckQuorum (thesis §6.2)', () => {
  it('a leader that loses contact with a quorum steps down within an election timeout', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('a');
    c.tick(['a'], 21);
    assert.equal(c.get('a').status().role, 'follower');
  });

  it('a leader that keeps a quorum stays leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.tick('all', 50);
    assert.equal(c.get('a').status().role, 'leader');
  });

  it('a follower that heard from the leader within an election timeout ignores vote requests', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false });
    c.elect('a');
    const term = c.get('b').status().term;
    c.get('b').step({ type: MessageType.Vote, from: 'c', to: 'b', term: term + 1, index: 100, logTerm: 100 });
    assert.equal(c.get('b').status().term, term, 'term unchanged: the request was ignored');
    assert.equal(c.get('a').status().role, 'leader');
  });
});

// Log replication: Raft paper §5.3 and §5.4.2, with etcd-style batching, pipelining and fast backtracking.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, enc } from './harness.ts';
import { MessageType, type Entry } from '../../src/raft/types.ts';

const appsTo = (c: TestCluster, to: string) => c.delivered.filter((m) => m.type === MessageType.App && m.to === to);

describe('§5.3 log replication', () => {
  it('the leader commits an entry once a majority stores it, and followers apply it', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.get('a').propose(enc('x'));
    c.stabilize();
    assert.deepEqual(c.appliedData('a'), ['x'], 'a and b are a majority');
    assert.deepEqual(c.appliedData('b'), ['x']);
    c.heal();
    c.tick('all', 2);
    assert.deepEqual(c.appliedData('c'), ['x'], 'c catches up when it returns');
  });

  it('the leader does not commit without a majority', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('b');
    c.isolate('c');
    c.get('a').propose(enc('x'));
    c.stabilize();
    assert.deepEqual(c.appliedData('a'), []);
  });

  it('a follower rejects an append whose previous entry does not match', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const b = c.get('b');
    const st = b.status();
    b.step({ type: MessageType.App, from: 'a', to: 'b', term: st.term, index: st.lastIndex + 5, logTerm: st.term, commit: 0, entries: [] });
    const rd = b.ready();
    const resp = rd.messages.find((m) => m.type === MessageType.AppResp);
    assert.ok(resp?.reject, 'rejected');
    assert.equal(resp?.rejectHint, st.lastIndex, 'the hint points at the follower’s last index');
    b.advance();
  });

  it('conflicting entries in a follower are overwritten by the leader’s', () => {
    const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: false, preVote: false });
    c.elect('a');
    c.isolate('a');
    c.get('a').propose(enc('lost1'), enc('lost2')); // never replicated
    c.stabilize();
    c.heal();
    c.isolate('a');
    c.elect('b');
    c.get('b').propose(enc('kept'));
    c.stabilize();
    c.heal();
    c.tick('all', 3);
    assert.equal(c.leader(), 'b');
    assert.deepEqual(c.appliedData('a'), ['kept']);
    const log = c.nodes.get('a')!.storage;
    const data = (e: Entry) => new TextDecoder().decode(e.data);
    const ents = log.entries(log.firstIndex(), log.lastIndex() + 1, Infinity).map(data);
    assert.ok(!ents.includes('lost1') && !ents.includes('lost2'), 'uncommitted entries of the deposed leader are gone');
  });

  it('fast backtracking skips a whole conflicting term in one round trip', () => {
    const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: false, preVote: false });
    c.elect('a');
    c.isolate('a');
    for (let i = 0; i < 50; i++) c.get('a').propose(enc(`stale${i}`)); // 50 entries of a's term only on a
    c.stabilize();
    c.heal();
    c.isolate('a');
    c.elect('b');
    c.get('b').propose(enc('new'));
    c.stabilize();
    c.heal();
    c.delivered = [];
    c.tick('all', 2);
    const rejections = c.delivered.filter((m) => m.type === MessageType.AppResp && m.from === 'a' && m.reject);
    assert.ok(rejections.length <= 2, `found the match point in ${rejections.length} rejections, not one per entry`);
    assert.deepEqual(c.appliedData('a'), ['new']);
  });

  it('heartbeats carry the commit index to followers', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').propose(enc('x'));
    c.stabilize();
    const hb = c.delivered.filter((m) => m.type === MessageType.Heartbeat);
    c.tick(['a'], 1);
    const next = c.delivered.filter((m) => m.type === MessageType.Heartbeat).slice(hb.length);
    assert.ok(next.length > 0 && next.every((m) => m.commit === c.get('a').status().commit));
  });
});

describe('batching and pipelining', () => {
  it('many proposals travel in one append message and one persist', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.delivered = [];
    c.get('a').propose(...Array.from({ length: 100 }, (_, i) => enc(`v${i}`)));
    const rd = c.get('a').ready();
    assert.equal(rd.entries.length, 100, 'one Ready persists all 100');
    const apps = rd.messages.filter((m) => m.type === MessageType.App);
    assert.equal(apps.length, 2, 'one append per follower');
    assert.equal(apps[0].entries?.length, 100);
    c.nodes.get('a')!.storage.save(rd);
    c.get('a').persisted(rd);
    c.get('a').advance();
    for (const m of rd.messages) c.deliver(m);
    c.stabilize();
    assert.equal(c.appliedData('b').length, 100);
  });

  it('a replicating follower gets several appends in flight before acknowledging, up to the window', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxSizePerMsg: 1, maxInflightMsgs: 4 });
    c.elect('a');
    c.filters.push((m) => m.type === MessageType.AppResp); // hold every acknowledgement
    c.delivered = [];
    for (let i = 0; i < 10; i++) {
      c.get('a').propose(enc(`v${i}`));
      c.stabilize();
    }
    assert.equal(appsTo(c, 'b').length, 4, 'four unacknowledged appends, then the window is full');
  });

  it('with maxInflightBytes, the window closes at that many bytes of entries in flight; an entry larger than it still goes alone', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxSizePerMsg: 1, maxInflightMsgs: 100, maxInflightBytes: 250 });
    c.elect('a');
    c.filters.push((m) => m.type === MessageType.AppResp);
    c.delivered = [];
    for (let i = 0; i < 10; i++) {
      c.get('a').propose(new Uint8Array(100));
      c.stabilize();
    }
    assert.equal(appsTo(c, 'b').length, 3, '100 + 100 + 100 bytes: the third passes 250, nothing more until an acknowledgement');
    // An acknowledgement of the first two frees 200 bytes: the window takes more again.
    const sent = appsTo(c, 'b');
    c.filters.length = 0;
    c.delivered = [];
    c.get('a').step({ type: MessageType.AppResp, from: 'b', to: 'a', term: c.get('a').status().term, index: sent[1].entries!.at(-1)!.index } as never);
    c.stabilize();
    assert.ok(appsTo(c, 'b').length > 0, 'the window opened again');

    const d = new TestCluster(['a', 'b'], { maxInflightBytes: 10 });
    d.elect('a');
    d.filters.push((m) => m.type === MessageType.AppResp);
    d.delivered = [];
    d.get('a').propose(new Uint8Array(1000));
    d.stabilize();
    assert.equal(appsTo(d, 'b').filter((m) => (m.entries ?? []).some((e) => e.data.byteLength === 1000)).length, 1, 'a 1000-byte entry goes through a 10-byte window that is empty');
  });
});

describe('§5.4.2 committing entries from previous terms (Figure 8)', () => {
  // Five servers; one entry per append so that an old entry and the new leader's no-op travel apart.
  function figure8(bugs: { commitPriorTermByCount?: boolean }) {
    const c = new TestCluster(['s1', 's2', 's3', 's4', 's5'], { preVote: false, checkQuorum: false, maxSizePerMsg: 1, testingOnlyBugs: bugs });
    c.elect('s1');
    const k = c.get('s1').status().lastIndex + 1;
    // (a) s1 replicates entry k (its term) to s2 only.
    c.filters.push((m) => m.from === 's1' && !['s2'].includes(m.to));
    c.get('s1').propose(enc('y'));
    c.stabilize();
    c.heal();
    // (b) s1 is gone; s5 wins with s3 and s4 and writes its no-op at k, replicated to nobody.
    c.isolate('s1');
    c.filters.push((m) => m.from === 's5' && (m.type === MessageType.App || m.type === MessageType.Heartbeat));
    c.elect('s5');
    c.heal();
    // (c) s1 returns and wins with s2 and s3; it sends entry k to s3 but its own no-op never arrives there.
    c.isolate('s5');
    c.filters.push((m) => (m.from === 's1' && m.to === 's4') || (m.from === 's4' && m.to === 's1'));
    const s3HasK = () => (c.get('s1').status().progress?.s3.match ?? 0) >= k;
    c.filters.push((m) => m.from === 's1' && m.to === 's3' && s3HasK() && (m.entries ?? []).length > 0);
    c.get('s1').campaign(); // term 3: s3 already voted for s5 in it
    c.stabilize();
    c.elect('s1'); // term 4
    const s1CommittedK = c.get('s1').status().commit >= k;
    c.heal();
    // (d) s1 is gone again; s5 wins with s3 and s4, since its last term (3) beats theirs.
    c.isolate('s1');
    c.filters.push((m) => m.from === 's5' && (m.type === MessageType.App || m.type === MessageType.Heartbeat));
    c.get('s5').campaign(); // term 4: s3 voted for s1 in it
    c.stabilize();
    c.elect('s5'); // term 5
    const entryAt = (id: string) => {
      const [e] = c.get(id).raft.log.slice(k, k + 1, Infinity);
      return `${e.term}:${new TextDecoder().decode(e.data)}`;
    };
    return { s1CommittedK, s1Entry: entryAt('s1'), s5Entry: entryAt('s5') };
  }

  it('a leader does not commit an entry of an earlier term by counting replicas', () => {
    const { s1CommittedK, s1Entry, s5Entry } = figure8({});
    assert.equal(s1CommittedK, false, 's1 must not count replicas of its old entry');
    assert.notEqual(s1Entry, s5Entry, 'the new leader may replace the entry at k, since it was never committed');
  });

  it('with the rule broken (testing switch), a leader is elected without a committed entry', () => {
    const { s1CommittedK, s1Entry, s5Entry } = figure8({ commitPriorTermByCount: true });
    assert.equal(s1CommittedK, true, 's1 counted replicas of its term-2 entry');
    assert.equal(s1Entry, '2:y');
    assert.equal(s5Entry, '3:', 'leader completeness is violated: s5 leads with its own entry at the committed index');
  });
});

// Linearizable reads without writing the log: ReadIndex (thesis §6.4) and leader leases (§6.4.1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, enc } from './harness.ts';
import { MessageType } from '../../src/raft/types.ts';

describe('ReadIndex (thesis §6.4)', () => {
  it('the leader serves a read at its commit index after a heartbeat round, without writing the log', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').propose(enc('x'));
    c.stabilize();
    const { lastIndex, commit } = c.get('a').status();
    c.delivered = [];
    c.get('a').readIndex(1);
    c.stabilize();
    assert.deepEqual(c.nodes.get('a')!.readStates, [{ index: commit, context: 1 }]);
    assert.equal(c.get('a').status().lastIndex, lastIndex, 'no log entry was written');
    assert.ok(c.delivered.some((m) => m.type === MessageType.Heartbeat), 'leadership was confirmed by a heartbeat round');
  });

  it('many reads share one heartbeat round', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.delivered = [];
    for (let i = 1; i <= 50; i++) c.get('a').readIndex(i);
    c.stabilize();
    assert.equal(c.nodes.get('a')!.readStates.length, 50);
    assert.equal(c.delivered.filter((m) => m.type === MessageType.Heartbeat).length, 2, 'one heartbeat per follower');
  });

  it('a leader cut off from the majority cannot serve a read', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('a');
    c.get('a').readIndex(1);
    c.stabilize();
    assert.deepEqual(c.nodes.get('a')!.readStates, []);
  });

  it('a follower’s read is confirmed by the leader and carries the leader’s commit index', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').propose(enc('x'));
    c.stabilize();
    c.get('c').readIndex(9);
    c.stabilize();
    assert.deepEqual(c.nodes.get('c')!.readStates, [{ index: c.get('a').status().commit, context: 9 }]);
  });

  it('a new leader defers reads until an entry of its own term is committed', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.filters.push((m) => m.type === MessageType.AppResp); // the no-op cannot commit
    c.elect('a');
    c.get('a').readIndex(1);
    c.stabilize();
    assert.deepEqual(c.nodes.get('a')!.readStates, [], 'the commit index may still lag the previous leader’s');
    c.heal();
    c.tick(['a'], 1);
    assert.equal(c.nodes.get('a')!.readStates.length, 1);
  });
});

describe('lease reads (thesis §6.4.1)', () => {
  it('a leader holding a lease serves reads without a heartbeat round', () => {
    const c = new TestCluster(['a', 'b', 'c'], { leaseRead: true });
    c.tick('all', 11); // wait out the restart lease
    c.elect('a');
    c.tick(['a'], 1); // a heartbeat acknowledged by both: the lease starts
    c.delivered = [];
    c.get('a').readIndex(1);
    c.stabilize();
    assert.equal(c.nodes.get('a')!.readStates.length, 1);
    assert.equal(c.delivered.filter((m) => m.type === MessageType.Heartbeat).length, 0);
  });

  it('the lease expires an election timeout (less the drift margin) after the last acknowledged heartbeat', () => {
    const c = new TestCluster(['a', 'b', 'c'], { leaseRead: true });
    c.tick('all', 11);
    c.elect('a');
    c.tick(['a'], 1);
    c.isolate('a');
    c.tick(['a'], 8);
    assert.equal(c.get('a').raft.leaseValid(), true);
    c.tick(['a'], 1);
    assert.equal(c.get('a').raft.leaseValid(), false, 'followers may elect someone else from now on');
  });

  it('a leader that has started a leadership transfer stops trusting its lease', () => {
    const c = new TestCluster(['a', 'b', 'c'], { leaseRead: true });
    c.tick('all', 11);
    c.elect('a');
    c.tick(['a'], 1);
    c.filters.push((m) => m.type === MessageType.TimeoutNow);
    c.get('a').transferLeader('b');
    c.stabilize();
    assert.equal(c.get('a').raft.leaseValid(), false);
  });

  it('a restarted voter refuses votes for one election timeout, so a lease it granted before the crash holds', () => {
    const c = new TestCluster(['a', 'b', 'c'], { leaseRead: true, preVote: false });
    c.tick('all', 11);
    c.elect('a');
    c.tick(['a'], 1);
    c.restart('b');
    c.isolate('a');
    c.get('c').campaign();
    c.stabilize();
    assert.notEqual(c.get('c').status().role, 'leader', 'b must not vote while a’s lease may still run');
  });

  it('lease reads require CheckQuorum', () => {
    assert.throws(() => new TestCluster(['a'], { leaseRead: true, checkQuorum: false }), /requires checkQuorum/);
  });
});

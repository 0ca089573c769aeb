// Persisting a Ready may finish after advance() and after later Readies (RawNode.persisted): what the
// core hands out, and what it counts, while writes are in flight.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EntryType, MessageType } from '../../src/raft/types.ts';
import { TestCluster, enc } from './harness.ts';

describe('persistence reported after advance()', () => {
  it('entries handed out once are not handed out again while their write is in flight', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const a = c.get('a');
    a.propose(enc('x'));
    const rd1 = a.ready();
    assert.equal(rd1.entries.length, 1);
    a.advance(); // not persisted yet
    a.propose(enc('y'));
    const rd2 = a.ready();
    assert.deepEqual(rd2.entries.map((e) => new TextDecoder().decode(e.data)), ['y'], 'only the new entry');
    assert.equal(rd2.entries[0].index, rd1.entries[0].index + 1);
    a.advance();
  });

  it('the leader counts its own copy only at persisted(), not at advance()', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    const a = c.get('a'), b = c.get('b');
    a.propose(enc('x'));
    const rdA = a.ready();
    a.advance(); // handled, fsync still running
    for (const m of rdA.messages) c.deliver(m);
    const rdB = b.ready();
    c.nodes.get('b')!.storage.save(rdB);
    b.persisted(rdB);
    b.advance();
    // b's acknowledgement alone is not a majority while a's fsync runs... unless a's copy counts.
    for (const m of rdB.messages) c.deliver(m);
    const x = rdA.entries[0].index;
    assert.ok(a.status().commit < x, 'advance() did not count a as having persisted');
    c.nodes.get('a')!.storage.save(rdA);
    a.persisted(rdA);
    assert.equal(a.status().commit, x, 'persisted() does');
  });

  it('a follower is handed committed entries only once they are persisted', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const b = c.get('b');
    const st = b.status();
    // The leader tells b of an entry and, in the same message, that it is committed.
    const entry = { term: st.term, index: st.lastIndex + 1, type: EntryType.Normal, data: enc('x') };
    b.step({ type: MessageType.App, from: 'a', to: 'b', term: st.term, index: st.lastIndex, logTerm: st.term, commit: entry.index, entries: [entry] });
    const rd1 = b.ready();
    assert.equal(rd1.entries.length, 1);
    assert.equal(rd1.committedEntries.length, 0, 'committed, but not persisted here yet');
    b.advance();
    assert.equal(b.hasReady(), false, 'nothing to do until the write completes');
    c.nodes.get('b')!.storage.save(rd1);
    b.persisted(rd1);
    const rd2 = b.ready();
    assert.deepEqual(rd2.committedEntries.map((e) => e.index), [entry.index]);
    assert.equal(rd2.entries.length, 0);
    b.advance();
  });

  it('in-flight entries replaced by a new leader are handed out again; the stale write does not count', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const b = c.get('b');
    const st = b.status();
    const base = st.lastIndex;
    const old = [1, 2, 3].map((i) => ({ term: st.term, index: base + i, type: EntryType.Normal, data: enc(`old${i}`) }));
    b.step({ type: MessageType.App, from: 'a', to: 'b', term: st.term, index: base, logTerm: st.term, commit: 0, entries: old });
    const rdOld = b.ready();
    assert.equal(rdOld.entries.length, 3);
    b.advance(); // the write of old1..old3 is in flight
    // A leader of a later term replaces entries 2 and 3.
    const t2 = st.term + 1;
    const fresh = [2, 3, 4].map((i) => ({ term: t2, index: base + i, type: EntryType.Normal, data: enc(`new${i}`) }));
    b.step({ type: MessageType.App, from: 'c', to: 'b', term: t2, index: base + 1, logTerm: st.term, commit: 0, entries: fresh });
    const rdNew = b.ready();
    assert.deepEqual(rdNew.entries.map((e) => e.index), [base + 2, base + 3, base + 4], 'the replacements are handed out');
    b.advance();
    // The old write completes first (writes complete in order): it must not mark the new entries stable.
    c.nodes.get('b')!.storage.save(rdOld);
    b.persisted(rdOld);
    assert.equal(b.raft.log.persistedIndex(), base, 'old3 was replaced: nothing after base is known durable in its place');
    c.nodes.get('b')!.storage.save(rdNew);
    b.persisted(rdNew);
    assert.equal(b.raft.log.persistedIndex(), base + 4);
    const [e3] = b.raft.log.slice(base + 3, base + 4, Infinity);
    assert.equal(new TextDecoder().decode(e3.data), 'new3');
  });
});

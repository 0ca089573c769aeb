// The incarnation rules of SWIM, one test per rule, on a single member fed by hand.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/membership/config.ts';
import { alive, dead, Harness, suspect } from './harness.ts';

const peers = ['n2', 'n3', 'n4', 'n5'];

describe('alive', () => {
  it('an unknown member becomes known and alive, with a join event', () => {
    const h = new Harness();
    h.news('n2', alive('n3', 4, { raft: '10.0.0.3:9000' }));
    assert.deepEqual(h.swim.member('n3'), { id: 'n3', address: 'n3', meta: { raft: '10.0.0.3:9000' }, state: 'alive', incarnation: 4 });
    assert.equal(h.eventsOf('join', 'n3').length, 1);
  });

  it('alive at the same or a lower incarnation changes nothing', () => {
    const h = new Harness(peers);
    h.news('n3', alive('n2', 3, { v: '1' }));
    h.news('n3', alive('n2', 3, { v: 'same-incarnation' }), alive('n2', 1, { v: 'older' }));
    assert.equal(h.swim.member('n2')?.meta.v, '1');
    assert.equal(h.eventsOf('update', 'n2').length, 1);
  });

  it('alive at a higher incarnation clears a suspicion (the member refuted)', () => {
    const h = new Harness(peers);
    h.news('n3', suspect('n2', 0, 'n3'));
    assert.equal(h.state('n2'), 'suspect');
    h.news('n4', alive('n2', 0));
    assert.equal(h.state('n2'), 'suspect', 'same incarnation does not override a suspicion');
    h.news('n2', alive('n2', 1));
    assert.equal(h.state('n2'), 'alive');
    assert.deepEqual(h.events.map((e) => e.type), ['suspect', 'alive']);
  });

  it('alive at a higher incarnation brings a dead member back, with a join event', () => {
    const h = new Harness(peers);
    h.news('n3', dead('n2', 0, 'n3'));
    h.news('n3', alive('n2', 0));
    assert.equal(h.state('n2'), 'dead');
    h.news('n2', alive('n2', 1));
    assert.equal(h.state('n2'), 'alive');
    assert.deepEqual(h.events.map((e) => e.type), ['dead', 'join']);
  });

  it('a meta change at a higher incarnation is an update', () => {
    const h = new Harness(peers);
    h.news('n2', alive('n2', 1, { http: 'http://10.0.0.2:8080' }));
    assert.equal(h.eventsOf('update', 'n2').length, 1);
    assert.deepEqual(h.swim.member('n2')?.meta, { http: 'http://10.0.0.2:8080' });
  });
});

describe('suspect and dead', () => {
  it('apply only at the current incarnation or above', () => {
    const h = new Harness(peers);
    h.news('n2', alive('n2', 5));
    h.news('n3', suspect('n2', 4, 'n3'), dead('n2', 4, 'n3'));
    assert.equal(h.state('n2'), 'alive');
    h.news('n3', suspect('n2', 5, 'n3'));
    assert.equal(h.state('n2'), 'suspect');
    h.news('n3', dead('n2', 5, 'n4'));
    assert.equal(h.state('n2'), 'dead');
  });

  it('suspect at a higher incarnation than known applies, and adopts that incarnation', () => {
    const h = new Harness(peers);
    h.news('n3', suspect('n2', 2, 'n3'));
    assert.deepEqual([h.state('n2'), h.swim.member('n2')?.incarnation], ['suspect', 2]);
  });

  it('news about an unknown member is ignored (only alive introduces a member)', () => {
    const h = new Harness(peers);
    h.news('n3', suspect('x', 0, 'n3'), dead('y', 0, 'n3'));
    assert.equal(h.swim.member('x'), undefined);
    assert.equal(h.swim.member('y'), undefined);
  });

  it('dead from the member itself is a graceful leave: left, never dead', () => {
    const h = new Harness(peers);
    h.news('n2', dead('n2', 0, 'n2'));
    assert.equal(h.state('n2'), 'left');
    h.news('n3', suspect('n2', 0, 'n3'), dead('n2', 0, 'n3'));
    assert.equal(h.state('n2'), 'left');
    assert.deepEqual(h.events.map((e) => e.type), ['leave']);
  });
});

describe('refutation', () => {
  it('a member suspected at its incarnation refutes with a higher one and broadcasts it', () => {
    const h = new Harness(peers);
    h.news('n2', suspect('me', 0, 'n2'));
    assert.equal(h.swim.incarnation, 1);
    assert.equal(h.swim.member('me')?.state, 'alive');
    h.advance(1000);
    const told = h.udpMessages().filter((m) => m.type === 'alive' && m.id === 'me' && m.incarnation === 1);
    assert.ok(told.length >= 3, 'the refutation is gossiped to the other members');
  });

  it('refutes with an incarnation above the accusation, however high', () => {
    const h = new Harness(peers);
    h.news('n2', dead('me', 41, 'n2'));
    assert.equal(h.swim.incarnation, 42);
    assert.equal(h.swim.member('me')?.state, 'alive');
    assert.equal(h.swim.stats().refutations, 1);
  });

  it('ignores accusations older than its incarnation', () => {
    const h = new Harness(peers);
    h.news('n2', suspect('me', 0, 'n2'));
    h.news('n3', suspect('me', 0, 'n3'), dead('me', 0, 'n4'));
    assert.equal(h.swim.incarnation, 1);
  });

  it('overrides an alive message about itself that it did not produce', () => {
    const h = new Harness(peers);
    h.news('n2', alive('me', 3, { stale: 'yes' }));
    assert.equal(h.swim.incarnation, 4);
    assert.deepEqual(h.swim.member('me')?.meta, {});
  });

  it('answers an accusation it already refuted directly to whoever still repeats it', () => {
    const h = new Harness(peers);
    h.news('n2', suspect('me', 0, 'n2'));
    h.sent.length = 0;
    h.news('n3', suspect('me', 0, 'n2'));
    assert.deepEqual(h.udpMessages('n3')[0], alive('me', 1));
  });

  it('after leave(), it neither refutes nor comes back', () => {
    const h = new Harness(peers);
    h.swim.leave();
    h.news('n2', suspect('me', 0, 'n2'), dead('me', 0, 'n2'), alive('me', 9));
    assert.equal(h.swim.member('me')?.state, 'left');
    assert.equal(h.swim.incarnation, 0);
  });
});

describe('push-pull', () => {
  const pushPull = (from: string, members: Array<{ id: string; state: 'alive' | 'suspect' | 'dead' | 'left'; incarnation?: number }>) => ({
    type: 'push-pull' as const, reply: true, join: false,
    members: members.map((m) => ({ id: m.id, address: m.id, incarnation: m.incarnation ?? 0, state: m.state, meta: {} })),
  });

  it('merges a remote view through the same rules: dead there is only suspect here, left is left', () => {
    const h = new Harness(peers);
    h.news('n2', pushPull('n2', [{ id: 'n3', state: 'dead' }, { id: 'n4', state: 'left' }, { id: 'n9', state: 'alive', incarnation: 2 }]));
    assert.deepEqual([h.state('n3'), h.state('n4'), h.state('n9')], ['suspect', 'left', 'alive']);
  });

  it('a suspicion learned by push-pull is hearsay: it neither confirms a running suspicion nor is re-gossiped', () => {
    const h = new Harness(peers);
    h.news('n3', suspect('n2', 0, 'n3'));
    h.news('n4', pushPull('n4', [{ id: 'n2', state: 'suspect' }]));
    h.news('n5', pushPull('n5', [{ id: 'n2', state: 'dead' }]));
    h.advance(11_950);
    assert.equal(h.state('n2'), 'suspect', 'still the lone-accuser timeout');

    const fresh = new Harness(peers);
    fresh.news('n4', pushPull('n4', [{ id: 'n5', state: 'suspect' }]));
    fresh.advance(1000);
    assert.equal(fresh.udpMessages().filter((m) => m.type === 'suspect' && m.id === 'n5' && m.from !== 'me').length, 0);
  });

  it('answers a push-pull request with its own full view over TCP', () => {
    const h = new Harness(peers);
    h.news('n9', { type: 'push-pull', reply: false, join: true, members: [{ id: 'n9', address: 'n9', incarnation: 0, state: 'alive', meta: {} }] });
    const reply = h.sent.find((p) => p.channel === 'tcp' && p.to === 'n9');
    const m = reply?.packet.messages[0];
    assert.ok(m?.type === 'push-pull' && m.reply);
    assert.deepEqual(m.members.map((x) => x.id).sort(), ['me', 'n2', 'n3', 'n4', 'n5', 'n9']);
  });
});

describe('identity and metadata', () => {
  it('updateMeta bumps the incarnation and gossips the new meta; oversized meta is refused', () => {
    const h = new Harness(peers);
    h.swim.updateMeta({ raft: '10.0.0.1:9000' });
    assert.equal(h.swim.incarnation, 1);
    h.advance(1000);
    assert.ok(h.udpMessages().some((m) => m.type === 'alive' && m.id === 'me' && m.meta.raft === '10.0.0.1:9000'));
    assert.throws(() => h.swim.updateMeta({ big: 'x'.repeat(600) }), RangeError);
  });

  it('a second address claiming a live id is a conflict and ignored', () => {
    const h = new Harness(peers);
    h.news('n3', alive('n2', 7, {}, 'elsewhere:1'));
    assert.equal(h.swim.member('n2')?.address, 'n2');
    assert.equal(h.swim.stats().addressConflicts, 1);
  });

  it('a dead id may be reclaimed by a new address after deadNodeReclaimMs', () => {
    const h = new Harness(peers, defaultConfig({ deadNodeReclaimMs: 10_000 }));
    h.news('n3', dead('n2', 0, 'n3'));
    h.news('n3', alive('n2', 0, {}, 'new-home:1'));
    assert.equal(h.state('n2'), 'dead', 'too soon');
    h.advance(10_000, 100);
    h.news('n3', alive('n2', 0, {}, 'new-home:1'));
    assert.deepEqual([h.state('n2'), h.swim.member('n2')?.address], ['alive', 'new-home:1']);
  });

  it('answers pings for its own id only', () => {
    const h = new Harness(peers);
    h.news('n2', { type: 'ping', seq: 9, target: 'someone-else' });
    assert.equal(h.udpMessages('n2').filter((m) => m.type === 'ack').length, 0);
    assert.equal(h.swim.stats().misdirectedPings, 1);
    h.news('n2', { type: 'ping', seq: 10, target: 'me' });
    assert.deepEqual(h.udpMessages('n2').filter((m) => m.type === 'ack'), [{ type: 'ack', seq: 10 }]);
  });
});

// The moving parts: probe cycle, Lifeguard's suspicion timer and health awareness, the broadcast
// queue and the size formulas — each checked against the numbers the config documents.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BroadcastQueue } from '../../src/membership/broadcast-queue.ts';
import { DEFAULT_CONFIG, defaultConfig, retransmitLimit, suspicionTimeoutMs } from '../../src/membership/config.ts';
import { HealthAwareness } from '../../src/membership/health-awareness.ts';
import { suspicionTimeoutAfter } from '../../src/membership/suspicion.ts';
import type { Message } from '../../src/membership/types.ts';
import { alive, Harness, suspect } from './harness.ts';

const peers = ['n2', 'n3', 'n4', 'n5'];

describe('formulas', () => {
  it('suspicion timeout floor scales with log10 of the cluster size', () => {
    assert.equal(suspicionTimeoutMs(DEFAULT_CONFIG, 5), 2000);
    assert.equal(suspicionTimeoutMs(DEFAULT_CONFIG, 100), 4000);
    assert.equal(suspicionTimeoutMs(DEFAULT_CONFIG, 1000), 6000);
  });

  it('retransmit limit scales with log10(n + 1)', () => {
    assert.deepEqual([5, 9, 10, 99, 100].map((n) => retransmitLimit(DEFAULT_CONFIG, n)), [4, 4, 8, 8, 12]);
  });

  it('each confirmation shortens a suspicion logarithmically, down to the floor', () => {
    assert.deepEqual([0, 1, 2, 3].map((n) => suspicionTimeoutAfter(n, 2, 2000, 12000)), [12000, 5690, 2000, 2000]);
    assert.equal(suspicionTimeoutAfter(0, 0, 2000, 12000), 2000);
  });

  it('health awareness stays within 0..max-1 and stretches durations by score + 1', () => {
    const a = new HealthAwareness(8);
    a.apply(-3);
    assert.equal(a.scale(500), 500);
    a.apply(20);
    assert.equal(a.score, 7);
    assert.equal(a.scale(500), 4000);
  });
});

describe('probing', () => {
  it('a silent member gets a ping, then k ping-reqs, then is suspected at the end of the probe interval', () => {
    const h = new Harness(peers);
    h.silent.add('n3');
    const seqOfFirstPing = (): number | undefined => {
      const ping = h.udpMessages('n3').find((m) => m.type === 'ping');
      return ping?.type === 'ping' ? ping.seq : undefined;
    };
    while (seqOfFirstPing() === undefined) h.advance(5);
    const sentAt = h.now;
    const seq = seqOfFirstPing();
    while (h.state('n3') !== 'suspect') h.advance(5);
    assert.ok(h.now - sentAt >= 495 && h.now - sentAt <= 505, 'suspected one probe interval after the ping');
    const reqs = h.udpMessages().filter((m) => m.type === 'ping-req' && m.seq === seq);
    assert.equal(reqs.length, 3, 'indirectChecks = 3 relays');
    assert.ok(reqs.every((m) => m.type === 'ping-req' && m.target === 'n3' && m.wantNack));
    assert.equal(h.state('n2'), 'alive');
  });

  it('relays that nack keep our health score at 0; missing nacks raise it; good probes lower it', () => {
    const withNacks = new Harness(peers);
    withNacks.silent.add('n3');
    withNacks.advance(2500);
    assert.equal(withNacks.state('n3'), 'suspect');
    assert.equal(withNacks.swim.healthScore, 0);

    const withoutNacks = new Harness(peers);
    withoutNacks.relaysNack = false;
    withoutNacks.silent.add('n3');
    while (withoutNacks.state('n3') !== 'suspect') withoutNacks.advance(5);
    // +3 for three missing nacks, −1 for the next probe, which starts and succeeds in the same instant.
    assert.equal(withoutNacks.swim.healthScore, 2);
    withoutNacks.silent.clear();
    withoutNacks.advance(30_000);
    assert.equal(withoutNacks.swim.healthScore, 0);
  });

  it('an unhealthy member probes less often (interval × (score + 1))', () => {
    const pingsPerMinute = (score: number): number => {
      const h = new Harness(peers);
      for (let i = 0; i < score; i++) h.news('n2', suspect('me', h.swim.incarnation, 'n2')); // each refutation: +1
      const before = h.udpMessages().filter((m) => m.type === 'ping').length;
      h.advance(60_000, 20);
      return h.udpMessages().filter((m) => m.type === 'ping').length - before;
    };
    const healthy = pingsPerMinute(0);
    assert.ok(healthy >= 115 && healthy <= 121, `healthy: ${healthy}`);
    // Successful probes pay the score back, one per probe, so the slowdown is temporary.
    assert.ok(pingsPerMinute(7) < healthy - 10);
  });

  it('a probe of a suspect carries the suspicion (Lifeguard buddy system)', () => {
    const h = new Harness(peers);
    h.news('n3', suspect('n2', 0, 'n3'));
    h.advance(1000);
    const toSuspect = h.sent.filter((p) => p.to === 'n2' && p.packet.messages.some((m) => m.type === 'ping'));
    assert.ok(toSuspect.length > 0, 'probed soon after hearing of the suspicion');
    assert.ok(toSuspect[0].packet.messages.some((m) => m.type === 'suspect' && m.id === 'n2'));
  });

  it('a host stall is not blamed on the member probed during it', () => {
    const h = new Harness(peers);
    h.silent.add('n2');
    h.silent.add('n3');
    h.silent.add('n4');
    h.silent.add('n5');
    h.advance(400, 400); // a probe is in flight …
    h.silent.clear();
    h.advance(3000, 3000); // … and the process freezes for 3 s
    h.advance(100);
    assert.equal(h.swim.stats().stallsForgiven, 1);
    assert.equal(h.eventsOf('suspect').length, 0);
  });
});

describe('suspicion timer (Lifeguard)', () => {
  it('a lone accusation waits the maximum: 6 × the 2 s floor in a 5-member cluster', () => {
    const h = new Harness(peers);
    h.news('n3', suspect('n2', 0, 'n3'));
    h.advance(11_950);
    assert.equal(h.state('n2'), 'suspect');
    h.advance(100);
    assert.equal(h.state('n2'), 'dead');
  });

  it('two independent confirmations bring it down to the floor; repeats do not count', () => {
    const h = new Harness(peers);
    h.news('n3', suspect('n2', 0, 'n3'));
    h.news('n3', suspect('n2', 0, 'n3'));
    h.news('n4', suspect('n2', 0, 'n4'));
    h.advance(5_650);
    assert.equal(h.state('n2'), 'suspect', 'one confirmation: 5.69 s');
    h.news('n5', suspect('n2', 0, 'n5'));
    h.advance(5);
    assert.equal(h.state('n2'), 'dead', 'two confirmations: 2 s, already elapsed');
  });

  it('an accuser that knows it is unhealthy does not condemn on its own unconfirmed word: it re-announces and waits', () => {
    const h = new Harness(peers);
    h.news('n3', suspect('n2', 0, 'n3'));
    h.advance(11_900);
    // Two refutations just now: our health score is 2 when the lone suspicion expires.
    h.news('n4', suspect('me', h.swim.incarnation, 'n4'));
    h.news('n4', suspect('me', h.swim.incarnation, 'n4'));
    h.sent.length = 0;
    h.advance(200);
    assert.equal(h.state('n2'), 'suspect');
    assert.ok(h.udpMessages().some((m) => m.type === 'suspect' && m.id === 'n2' && m.from === 'me'), 're-announced');
    h.advance(12_000); // healthy again by now (good probes): the extended suspicion runs out
    assert.equal(h.state('n2'), 'dead');
  });

  it('in a cluster too small to confirm, the floor applies at once', () => {
    const h = new Harness(['n2', 'n3']);
    h.news('n3', suspect('n2', 0, 'n3'));
    h.advance(1_990);
    assert.equal(h.state('n2'), 'suspect');
    h.advance(20);
    assert.equal(h.state('n2'), 'dead');
  });

  it('without Lifeguard (test switch) the floor applies whatever the evidence', () => {
    const h = new Harness(peers, defaultConfig({ testingOnlyDisableLifeguard: true }));
    h.news('n3', suspect('n2', 0, 'n3'));
    h.advance(2_010);
    assert.equal(h.state('n2'), 'dead');
  });
});

describe('broadcast queue', () => {
  const msg = (id: string, incarnation = 0): Message => alive(id, incarnation, { pad: 'x'.repeat(incarnation) });

  it('sends each broadcast up to the transmit limit, then drops it', () => {
    const q = new BroadcastQueue();
    q.enqueue('a', msg('a'), 20);
    const sent = ['p1', 'p2', 'p3', 'p4', 'p5'].map((to) => q.take(to, 1000, 3, 10).length);
    assert.deepEqual(sent, [1, 1, 1, 0, 0]);
    assert.equal(q.length, 0);
  });

  it('a newer message about the same member replaces the queued one', () => {
    const q = new BroadcastQueue();
    const old = q.enqueue('a', msg('a', 1), 20);
    q.enqueue('a', msg('a', 2), 20);
    assert.equal(q.isPending(old), false);
    assert.deepEqual(q.take('p', 1000, 3, 10), [msg('a', 2)]);
  });

  it('prefers the least-sent messages and respects the byte budget', () => {
    const q = new BroadcastQueue();
    q.enqueue('a', msg('a'), 100);
    q.take('p1', 1000, 5, 10);
    q.enqueue('b', msg('b'), 100);
    q.enqueue('c', msg('c'), 100);
    assert.deepEqual(q.take('p2', 250, 5, 10), [msg('c'), msg('b')]);
  });

  it('never tells a member its own alive news, and repeats a destination only after reaching every peer', () => {
    const q = new BroadcastQueue();
    q.enqueue('a', msg('a'), 20);
    assert.deepEqual(q.take('a', 1000, 4, 3), []);
    assert.equal(q.take('p1', 1000, 4, 3).length, 1);
    assert.equal(q.take('p1', 1000, 4, 3).length, 0, 'p2 has not heard it yet');
    assert.equal(q.take('p2', 1000, 4, 3).length, 1);
    assert.equal(q.take('p1', 1000, 4, 3).length, 1, 'everyone reachable has it: repeats allowed');
  });

  it('courtesy copies to the dead do not use up transmits', () => {
    const q = new BroadcastQueue();
    q.enqueue('a', msg('a'), 20);
    for (let i = 0; i < 10; i++) assert.equal(q.take('dead-one', 1000, 2, 5, false).length, 1);
    assert.equal(q.length, 1);
  });
});

describe('leave', () => {
  it('stops probing, gossips the leave, and reports when it has been disseminated', () => {
    const h = new Harness(peers);
    h.advance(2000);
    h.swim.leave();
    assert.equal(h.swim.leaveDisseminated(), false);
    const pingsBefore = h.udpMessages().filter((m) => m.type === 'ping').length;
    h.advance(2000);
    assert.equal(h.udpMessages().filter((m) => m.type === 'ping').length, pingsBefore);
    const leaves = h.udpMessages().filter((m) => m.type === 'dead' && m.id === 'me' && m.from === 'me');
    assert.equal(new Set(h.sent.filter((p) => p.packet.messages.some((m) => m.type === 'dead')).map((p) => p.to)).size, 4);
    assert.equal(leaves.length, 4, 'sent retransmitLimit times');
    assert.equal(h.swim.leaveDisseminated(), true);
  });
});

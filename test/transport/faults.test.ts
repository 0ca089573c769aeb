// The fault seam. Non-delivery is proven without sleeping: each link is FIFO, so once a marker
// sent after a fault arrives, anything the fault let through would have arrived before it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultRules } from '../../src/transport/index.ts';
import { appEnvelope, TestCluster, waitFor } from './helpers.ts';

async function pair(cluster: TestCluster, random?: () => number) {
  const a = await cluster.start({ nodeId: 'a', random });
  const b = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', b.addr);
  b.t.setPeer('a', a.addr);
  a.t.send('b', appEnvelope(0, 'a', 'b'));
  b.t.send('a', appEnvelope(0, 'b', 'a'));
  await waitFor(() => a.received.length === 1 && b.received.length === 1, 'both links are up');
  return { a, b };
}

const indexes = (received: Array<{ env: { msg: { index?: number } } }>) => received.map((r) => r.env.msg.index);

test('cut stops delivery in both directions; heal restores it', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { a, b } = await pair(cluster);

  a.t.faults.cut('b');
  assert.equal(a.t.send('b', appEnvelope(1, 'a', 'b')), true, 'a partition is invisible to the sender');
  assert.equal(a.t.stats().peers.b.faultDropped, 1);
  b.t.send('a', appEnvelope(1, 'b', 'a')); // b does not know about the cut; a drops it on arrival
  await waitFor(() => a.t.stats().inbound.faultDropped === 1, 'a drops the inbound message from b');

  a.t.faults.heal('b');
  a.t.send('b', appEnvelope(2, 'a', 'b'));
  b.t.send('a', appEnvelope(2, 'b', 'a'));
  await waitFor(() => a.received.length === 2 && b.received.length === 2, 'traffic flows again both ways');
  assert.deepEqual(indexes(b.received), [0, 2]);
  assert.deepEqual(indexes(a.received), [0, 2]);
});

test("cut('*') isolates the node; heal() with no argument undoes every cut", async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { a, b } = await pair(cluster);
  a.t.faults.cut('*');
  a.t.send('b', appEnvelope(1, 'a', 'b'));
  b.t.send('a', appEnvelope(1, 'b', 'a'));
  await waitFor(() => a.t.stats().inbound.faultDropped === 1, 'inbound dropped');
  a.t.faults.heal();
  a.t.send('b', appEnvelope(2, 'a', 'b'));
  await waitFor(() => b.received.length === 2, 'marker arrives');
  assert.deepEqual(indexes(b.received), [0, 2]);
  assert.deepEqual(indexes(a.received), [0]);
});

test('drop with probability 1 drops everything; clear() stops it', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { a, b } = await pair(cluster);
  a.t.faults.drop('*', 1);
  for (let i = 1; i <= 100; i++) a.t.send('b', appEnvelope(i));
  assert.equal(a.t.stats().peers.b.faultDropped, 100);
  assert.equal(a.t.stats().peers.b.queuedMessages, 0);
  a.t.faults.clear();
  a.t.send('b', appEnvelope(101));
  await waitFor(() => b.received.length === 2, 'marker arrives');
  assert.deepEqual(indexes(b.received), [0, 101]);
});

test('drop decisions come from the injected random source', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  let n = 0;
  const alternating = () => (n++ % 2 === 0 ? 0.1 : 0.9); // below, above, below, ... a 0.5 threshold
  const { a, b } = await pair(cluster, alternating);
  a.t.faults.drop('b', 0.5);
  for (let i = 1; i <= 10; i++) a.t.send('b', appEnvelope(i));
  a.t.faults.drop('b', 0); // probability 0 removes the rule
  a.t.send('b', appEnvelope(11));
  await waitFor(() => b.received.some((r) => r.env.msg.index === 11), 'marker arrives');
  assert.deepEqual(indexes(b.received), [0, 2, 4, 6, 8, 10, 11]);
});

test('a specific peer rule overrides the * rule', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { a, b } = await pair(cluster, () => 0.5);
  a.t.faults.drop('*', 1); // 0.5 < 1: would drop
  a.t.faults.drop('b', 0.1); // 0.5 >= 0.1: keeps
  a.t.send('b', appEnvelope(1));
  await waitFor(() => b.received.length === 2, 'b is exempt from the * rule');
});

test('delay holds messages back for the given time and may reorder them', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { a, b } = await pair(cluster);

  a.t.faults.delay('b', 150, 150);
  const sentAt = performance.now();
  a.t.send('b', appEnvelope(1));
  assert.equal(a.t.stats().peers.b.delayed, 1);
  a.t.faults.delay('b', 0, 0); // maxMs 0 removes the rule
  a.t.send('b', appEnvelope(2));

  await waitFor(() => b.received.length === 3, 'the delayed message arrives too');
  const elapsed = performance.now() - sentAt;
  assert.ok(elapsed >= 140, `delayed message arrived after ${elapsed.toFixed(0)} ms`);
  assert.deepEqual(indexes(b.received), [0, 2, 1], 'the undelayed message overtook the delayed one');
  assert.equal(a.t.stats().peers.b.delayed, 0);
});

test('FaultRules validates its arguments and decides from the injected random', () => {
  const values = [0.25, 0.75];
  const rules = new FaultRules(() => values.shift() ?? 0);
  assert.equal(rules.outbound('x'), 0);
  assert.throws(() => rules.drop('x', 1.5), RangeError);
  assert.throws(() => rules.delay('x', 10, 5), RangeError);
  rules.delay('x', 100, 200);
  assert.equal(rules.outbound('x'), 125);
  assert.equal(rules.outbound('y'), 0);
  rules.cut('y');
  assert.equal(rules.outbound('y'), 'drop');
  assert.equal(rules.isCut('y'), true);
  rules.clear();
  assert.equal(rules.isCut('y'), false);
});

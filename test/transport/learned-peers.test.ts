// A node that was never told a peer's address learns it from the peer's handshake, so a new node
// added by a leader can answer the leader before it has replayed the membership log.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, appEnvelope, waitFor } from './helpers.ts';

it('a peer that dialed us is answered at the address its handshake announced', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a' });
  const b = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', b.addr); // b knows nothing of a
  assert.equal(b.t.send('a', appEnvelope(1, 'b', 'a')), false, 'b cannot reach a before a introduces itself');
  a.t.send('b', appEnvelope(2, 'a', 'b'));
  await waitFor(() => b.received.length === 1, 'b to receive');
  assert.equal(b.t.send('a', appEnvelope(3, 'b', 'a')), true);
  await waitFor(() => a.received.length === 1, 'a to receive');
  assert.equal(a.received[0].env.msg.index, 3);
});

it('an announced address does not replace a configured one', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a' });
  const b = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', b.addr);
  b.t.setPeer('a', '127.0.0.1:1'); // deliberately wrong, as an operator configured it
  a.t.send('b', appEnvelope(1, 'a', 'b'));
  await waitFor(() => b.received.length === 1, 'b to receive');
  assert.equal(b.t.stats().peers.a.address, '127.0.0.1:1');
});

it('a wildcard listen address is advertised as 127.0.0.1 unless a host to advertise is given', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const wild = await cluster.start({ nodeId: 'w', listen: { host: '0.0.0.0', port: 0 } });
  assert.match(wild.t.advertisedAddr ?? '', /^127\.0\.0\.1:\d+$/);
  const named = await cluster.start({ nodeId: 'n', listen: { host: '0.0.0.0', port: 0 }, advertiseHost: '127.0.0.2' });
  assert.match(named.t.advertisedAddr ?? '', /^127\.0\.0\.2:\d+$/);
});
